/**
 * IPv4 arithmetic for the planner. Parsing and validation are ipaddr.js's (a well-kept
 * library that rejects the odd forms a hand-written regex lets through, such as
 * `010.0.0.1` or `1.2.3`); walking a pool needs plain 32-bit integers, done here.
 */
import ipaddr from 'ipaddr.js';

export interface Cidr {
  /** network address, dotted quad */
  network: string;
  prefixLength: number;
  netmask: string;
  broadcast: string;
  /** number of addresses in the block, reserved ones included (dnsmasq's --dhcp-lease-max) */
  size: number;
  /** canonical `a.b.c.d/len` */
  text: string;
}

/** True when `text` is a dotted-quad IPv4 address in canonical four-part form. */
export function isIpv4(text: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(text);
}

export function ipToInt(ip: string): number {
  const bytes = ipaddr.IPv4.parse(ip).octets;
  return ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function maskInt(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

/**
 * Parses `a.b.c.d/len`. Returns a reason string instead of throwing, so the loader can
 * attach it to the field's position.
 */
export function parseCidr(text: string): Cidr | string {
  const slash = text.indexOf('/');
  if (slash < 0) return `"${text}" is not a CIDR (expected a.b.c.d/len)`;
  const addr = text.slice(0, slash);
  const lenText = text.slice(slash + 1);
  if (!isIpv4(addr)) return `"${addr}" is not an IPv4 address`;
  if (!/^\d{1,2}$/.test(lenText) || Number(lenText) > 32) return `"/${lenText}" is not a prefix length (0-32)`;
  const prefixLength = Number(lenText);
  const base = ipToInt(addr);
  const mask = maskInt(prefixLength);
  const network = (base & mask) >>> 0;
  if (network !== base) {
    return `${text} has host bits set; the network is ${intToIp(network)}/${prefixLength}`;
  }
  const size = 2 ** (32 - prefixLength);
  return {
    network: intToIp(network),
    prefixLength,
    netmask: intToIp(mask),
    broadcast: intToIp((network + size - 1) >>> 0),
    size,
    text: `${intToIp(network)}/${prefixLength}`,
  };
}

/** True when `ip` lies inside `cidr` (network and broadcast included). */
export function cidrContains(cidr: Cidr, ip: string): boolean {
  return ((ipToInt(ip) & maskInt(cidr.prefixLength)) >>> 0) === ipToInt(cidr.network);
}

/** Host addresses of the block: everything but the network and broadcast addresses. */
export function isHostAddress(cidr: Cidr, ip: string): boolean {
  return cidrContains(cidr, ip) && ip !== cidr.network && ip !== cidr.broadcast;
}

/** The n-th address of the block (0 = network address). */
export function nthAddress(cidr: Cidr, n: number): string {
  return intToIp((ipToInt(cidr.network) + n) >>> 0);
}

/** The network `ip/prefixLength` lies in, as `a.b.c.d/len` (host bits cleared). */
export function networkOf(ip: string, prefixLength: number): string {
  return `${intToIp((ipToInt(ip) & maskInt(prefixLength)) >>> 0)}/${prefixLength}`;
}

/** True when `ip` lies in `network/prefixLength`. */
export function inSubnet(ip: string, network: string, prefixLength: number): boolean {
  const mask = maskInt(prefixLength);
  return ((ipToInt(ip) & mask) >>> 0) === ((ipToInt(network) & mask) >>> 0);
}
