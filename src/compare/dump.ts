/**
 * A folder written by assets/collect.sh (`flatlab collect-script`), read into plain data.
 * Pure apart from reading the folder: every file is optional (a tool the node lacked
 * leaves its file out, and errors.txt says so), and a file that is absent is `null`, not
 * an empty reading, so `compare` never mistakes "not collected" for "not there".
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseIptablesSave, type Tables } from '../net/iptables-save.js';

export interface LinkInfo {
  name: string;
  /** administratively up (`UP` among the flags) */
  up: boolean;
  /** the bridge it is a port of */
  master: string | null;
  mac: string | null;
  promiscuity: number;
  bridge: boolean;
}

export interface AddrInfo {
  dev: string;
  ip: string;
  prefix: number;
}

export interface RouteInfo {
  dst: string;
  dev: string | null;
  via: string | null;
}

export interface NeighInfo {
  ip: string;
  dev: string;
  mac: string | null;
}

export interface HostsEntry {
  mac: string;
  host: string;
  ip: string;
}

export interface DnsmasqInfo {
  pid: string;
  argv: string[];
  hosts: HostsEntry[] | null;
}

export interface NodeDump {
  dir: string;
  meta: Record<string, string>;
  links: LinkInfo[] | null;
  addrs: AddrInfo[] | null;
  routes: RouteInfo[] | null;
  neigh: NeighInfo[] | null;
  iptables: Tables | null;
  /** `ebtables -t T -L` output, by table */
  ebtables: Map<string, string[]> | null;
  sysctls: Record<string, string> | null;
  dnsmasq: DnsmasqInfo[];
  novaConf: string | null;
  errors: string[];
}

function read(dir: string, file: string): string | null {
  const p = join(dir, file);
  return existsSync(p) ? readFileSync(p, 'utf8') : null;
}

const lines = (text: string): string[] => text.split('\n').filter((l) => l.trim() !== '');

/** `ip -d -o link show`: `4: vnet0@if2: <...,UP,...> mtu 1500 ... master br100 state UP ...\    link/ether ...` */
export function parseLinks(text: string): LinkInfo[] {
  const out: LinkInfo[] = [];
  for (const line of lines(text)) {
    const m = /^\d+:\s+([^:@\s]+)(?:@\S+)?:\s+<([^>]*)>(.*)$/.exec(line);
    if (!m) continue;
    const segments = m[3]!.split('\\').map((s) => s.trim());
    const head = segments[0]!;
    const rest = segments.slice(1).join('\n');
    out.push({
      name: m[1]!,
      up: m[2]!.split(',').includes('UP'),
      master: /\bmaster (\S+)/.exec(head)?.[1] ?? null,
      mac: /link\/ether (\S+)/.exec(rest)?.[1]?.toLowerCase() ?? null,
      promiscuity: Number(/promiscuity (\d+)/.exec(rest)?.[1] ?? 0),
      bridge: segments.slice(1).some((s) => /^bridge( |$)/.test(s)),
    });
  }
  return out;
}

/** `ip -o addr show`: `3: br100    inet 10.0.0.1/24 brd ... scope global br100\ ...` (IPv4 only) */
export function parseAddrs(text: string): AddrInfo[] {
  const out: AddrInfo[] = [];
  for (const line of lines(text)) {
    const m = /^\d+:\s+(\S+)\s+inet\s+([\d.]+)\/(\d+)/.exec(line);
    if (m) out.push({ dev: m[1]!.replace(/@.*/, ''), ip: m[2]!, prefix: Number(m[3]) });
  }
  return out;
}

/** `ip route show`: `10.0.0.0/24 dev br100 proto kernel scope link src 10.0.0.1` */
export function parseRoutes(text: string): RouteInfo[] {
  return lines(text).map((l) => {
    const w = l.trim().split(/\s+/);
    const after = (k: string): string | null => {
      const i = w.indexOf(k);
      return i >= 0 ? (w[i + 1] ?? null) : null;
    };
    return { dst: w[0]!, dev: after('dev'), via: after('via') };
  });
}

/** `ip neigh show`: `10.0.0.2 dev br100 lladdr fa:16:3e:.. REACHABLE` */
export function parseNeigh(text: string): NeighInfo[] {
  const out: NeighInfo[] = [];
  for (const l of lines(text)) {
    const m = /^([\d.]+) dev (\S+)(?: lladdr (\S+))?/.exec(l.trim());
    if (m) out.push({ ip: m[1]!, dev: m[2]!, mac: m[3]?.toLowerCase() ?? null });
  }
  return out;
}

/** nova's hosts file: `MAC,hostname,IP` per line (linux_net.get_dhcp_hosts). */
export function parseHostsFile(text: string): HostsEntry[] {
  return lines(text).map((l) => {
    const [mac = '', host = '', ip = ''] = l.trim().split(',');
    return { mac: mac.toLowerCase(), host, ip };
  });
}

function parseSysctls(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of lines(text)) {
    const m = /^(\S+) = (.*)$/.exec(l.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

function parseEbtables(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let table = 'filter';
  for (const l of text.split('\n')) {
    const t = /^# table (\S+)/.exec(l);
    if (t) {
      table = t[1]!;
      out.set(table, []);
      continue;
    }
    const rule = l.trim();
    if (rule === '' || rule.startsWith('Bridge ')) continue;
    out.set(table, [...(out.get(table) ?? []), rule]);
  }
  return out;
}

export function readDump(dir: string): NodeDump {
  const meta: Record<string, string> = {};
  for (const l of lines(read(dir, 'meta.txt') ?? '')) {
    const sp = l.indexOf(' ');
    if (sp > 0) meta[l.slice(0, sp)] = l.slice(sp + 1);
  }
  const dnsmasq: DnsmasqInfo[] = readdirSync(dir)
    .filter((f) => f.startsWith('dnsmasq-'))
    .sort()
    .map((f) => {
      const argv = lines(read(join(dir, f), 'argv.txt') ?? '');
      const hosts = read(join(dir, f), 'dhcp-hostsfile');
      return { pid: f.slice('dnsmasq-'.length), argv, hosts: hosts === null ? null : parseHostsFile(hosts) };
    });
  const opt = <T>(file: string, parse: (t: string) => T): T | null => {
    const t = read(dir, file);
    return t === null ? null : parse(t);
  };
  return {
    dir,
    meta,
    links: opt('links.txt', parseLinks),
    addrs: opt('addrs.txt', parseAddrs),
    routes: opt('routes.txt', parseRoutes),
    neigh: opt('neigh.txt', parseNeigh),
    iptables: opt('iptables-save.txt', parseIptablesSave),
    ebtables: opt('ebtables.txt', parseEbtables),
    sysctls: opt('sysctl.txt', parseSysctls),
    dnsmasq,
    novaConf: read(dir, 'nova.conf'),
    errors: lines(read(dir, 'errors.txt') ?? ''),
  };
}
