/**
 * The rules of the network and the external network: the block as nova-manage took it,
 * the options nova built nat rules and dnsmasq from, in the release's reading.
 */
import { cidrContains, isHostAddress, parseCidr, type Cidr } from '../net/ipv4.js';
import { behaviour, RELEASE_TAGS } from '../nova/releases.js';
import { networkCidrText, parseCidrAsNova } from './network.js';
import { novaOf, optionPath, sharesDhcpAddress } from './nova-of.js';
import type { FieldPath, Problem } from './problem.js';
import type { Scenario } from './schema.js';

/** Blocks the kernel never gives a host on an Ethernet segment (loopback, multicast, ...). */
const SPECIAL_RANGES: [string, string][] = [
  ['0.0.0.0/8', '"this network"'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', "link-local, nova's metadata address among them"],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved, and the broadcast address'],
];

function overlaps(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b.network) || cidrContains(b, a.network);
}

/**
 * The network (network.cidr, else the option) and the fixed_range option, each as nova
 * took it; returns the network's block when it is usable.
 */
export function checkNetwork(s: Scenario, problems: Problem[]): Cidr | undefined {
  const option = s.nova.fixed_range;
  const text = networkCidrText(s);
  let net: Cidr | undefined;
  if (text === undefined) {
    problems.push({
      path: option === '' ? ['nova', 'fixed_range'] : ['nova'],
      message:
        option === ''
          ? "is empty, so nova took each network's cidr: say which with network: {cidr: ...} (the --fixed_range_v4 of nova-manage network create)"
          : 'no network: set network.cidr (what nova-manage network create --fixed_range_v4 made) or nova.fixed_range',
    });
  } else {
    const path: FieldPath = s.network.cidr !== undefined ? ['network', 'cidr'] : ['nova', 'fixed_range'];
    const parsed = parseCidrAsNova(text);
    if (typeof parsed === 'string') problems.push({ path, message: parsed });
    else {
      net = parsed.cidr;
      if (parsed.hostBits) {
        problems.push({ path, warning: true, message: `${text} has host bits set: nova-manage's netaddr took the block that holds it, ${net.text}` });
      }
      if (net.prefixLength > 30) {
        problems.push({ path, message: `${net.text} is too small: a flat network needs at least a /30` });
        net = undefined;
      } else {
        const special = SPECIAL_RANGES.find(([r]) => overlaps(parseCidr(r) as Cidr, net!));
        if (special) {
          problems.push({ path, message: `${net.text} overlaps ${special[0]} (${special[1]}): no guest can hold such an address on a flat network` });
          net = undefined;
        }
      }
    }
  }
  if (option !== undefined && option !== '' && s.network.cidr !== undefined) {
    const parsed = parseCidrAsNova(option);
    if (typeof parsed === 'string') problems.push({ path: ['nova', 'fixed_range'], message: parsed });
    else if (parsed.hostBits) {
      problems.push({ path: ['nova', 'fixed_range'], warning: true, message: `${option} has host bits set: iptables took the block that holds it, ${parsed.cidr.text}` });
    }
    if (s.release === 'havana' && typeof parsed !== 'string' && parsed.cidr.text !== net?.text) {
      problems.push({ path: ['nova', 'fixed_range'], warning: true, message: "Havana removed this option (nova/network/manager.py at 2013.2): nova ignored it and built its nat rules from the network's cidr" });
    }
  }
  if (option === '' && behaviour('snatRange', s.release) === 'option') {
    problems.push({
      path: ['nova', 'fixed_range'],
      message: `an empty fixed_range is taken from 2013.1 on; ${s.release}'s init_host wrote "-s  -j SNAT" from it (nova/network/linux_net.py at ${RELEASE_TAGS[s.release]}), which iptables refused`,
    });
  }
  for (const opt of ['dmz_cidr', 'force_snat_range'] as const) {
    (s.nova[opt] ?? []).forEach((c, i) => {
      const parsed = parseCidrAsNova(c);
      if (typeof parsed === 'string') problems.push({ path: ['nova', opt, i], message: parsed });
    });
  }
  if (s.nova.force_snat_range.length > 0 && behaviour('forceSnatRange', s.release) !== 'snat-and-ebtables') {
    problems.push({
      path: ['nova', 'force_snat_range'],
      warning: true,
      message: `${s.release}'s add_snat_rule names no destination (force_snat_range changes the SNAT rule from 2013.2 on): flatlab builds the one rule ${s.release} built`,
    });
  }
  checkReleaseOptions(s, problems);
  if (net) {
    for (const f of ['gateway', 'dhcp_start'] as const) {
      const ip = s.network[f];
      if (ip !== undefined && !cidrContains(net, ip)) problems.push({ path: ['network', f], message: `${ip} is outside the network ${net.text}` });
    }
  }
  return net;
}

/** Options whose meaning (or existence) depends on the release: share_dhcp_address, the DNS options. */
function checkReleaseOptions(s: Scenario, problems: Problem[]): void {
  if (s.nova.share_dhcp_address && !sharesDhcpAddress(s)) {
    problems.push({
      path: ['nova', 'share_dhcp_address'],
      warning: true,
      message: behaviour('shareDhcpAddress', s.release)
        ? 'has no effect without multi_host: the one network host holds the gateway anyway (NetworkManager._get_dhcp_ip)'
        : `${s.release} does not read it (it appears in nova/network/manager.py at 2013.1): each node takes an address of its own, as ${s.release} did`,
    });
  }
  if (sharesDhcpAddress(s)) {
    for (const [name, node] of Object.entries(s.nodes)) {
      if (node.bridge_ip) problems.push({ path: ['nodes', name, 'bridge_ip'], message: "with share_dhcp_address every node holds the network's gateway: a node's own bridge_ip does not apply" });
    }
  }
  if (s.release === 'essex' || s.release === 'folsom') {
    if (s.nova.use_network_dns_servers) {
      problems.push({ path: ['nova', 'use_network_dns_servers'], warning: true, message: `${s.release}'s restart_dhcp does not read it (it appears in linux_net.restart_dhcp at 2013.1): flatlab builds dnsmasq without it, as ${s.release} did` });
    }
    if (s.nova.dns_server.length > 1) {
      problems.push({ path: ['nova', 'dns_server'], message: `${s.release}'s dns_server is one address (a StrOpt until 2013.1, linux_net.py): give one` });
    }
  }
}

export function checkExternal(s: Scenario, net: Cidr | undefined, problems: Problem[]): void {
  const ext = s.external;
  const myIps = Object.entries(s.nodes).filter(([, n]) => n.my_ip);
  if (!ext) {
    for (const [name] of myIps) problems.push({ path: ['nodes', name, 'my_ip'], message: 'my_ip needs an external: network to live on' });
    for (const vm of Object.keys(s.floating_ips ?? {})) problems.push({ path: ['floating_ips', vm], message: 'a floating address needs an external: network to live on (nova\'s floating pool is on public_interface)' });
    return;
  }
  const cidr = parseCidr(ext.cidr);
  if (typeof cidr === 'string') {
    problems.push({ path: ['external', 'cidr'], message: cidr });
    return;
  }
  if (net && (cidrContains(cidr, net.network) || cidrContains(net, cidr.network))) {
    problems.push({ path: ['external', 'cidr'], message: `${cidr.text} overlaps the network ${net.text}` });
  }
  const taken = new Map<string, string>();
  const claim = (ip: string, path: FieldPath): void => {
    if (!isHostAddress(cidr, ip)) problems.push({ path, message: `${ip} is not a host address of external ${cidr.text}` });
    else if (taken.has(ip)) problems.push({ path, message: `${ip} is already taken by ${taken.get(ip)}` });
    else taken.set(ip, path.slice(0, 2).join('.'));
  };
  if (ext.host) claim(ext.host, ['external', 'host']);
  for (const [name, n] of myIps) claim(n.my_ip!, ['nodes', name, 'my_ip']);
  for (const [vm, ip] of Object.entries(s.floating_ips ?? {})) {
    if (!(vm in s.vms)) problems.push({ path: ['floating_ips', vm], atKey: true, message: `no VM "${vm}" (VMs: ${Object.keys(s.vms).join(', ')})` });
    claim(ip, ['floating_ips', vm]);
  }
  const hosts = cidr.size - 2;
  if (Object.keys(s.nodes).length + 1 + Object.keys(s.floating_ips ?? {}).length > hosts) problems.push({ path: ['external', 'cidr'], message: `${cidr.text} is too small for the external host and ${Object.keys(s.nodes).length} nodes` });
  const warned = new Set<string>();
  for (const node of Object.keys(s.nodes)) {
    const { public_interface: pub, flat_interface: flat, flat_network_bridge: br } = novaOf(s, node);
    const path = optionPath(s, node, 'public_interface');
    if (pub !== flat || s.release === 'essex' || warned.has(path.join('.'))) continue;
    warned.add(path.join('.'));
    problems.push({
      path,
      warning: true,
      message: `${pub} is flat_interface, enslaved to ${br}: routed traffic leaves through ${br}, so nova's SNAT rule (-o ${pub}) never matches; guests reach the outside with their fixed addresses and no answer comes back. One NIC per node: public_interface: ${br}`,
    });
  }
}
