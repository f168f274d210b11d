/**
 * Reading namespace state through /proc without spawning a process: /proc/PID/net/*
 * shows the network namespace of PID, and /proc/PID/root/sys is the sysfs that
 * `ip netns exec` mounted for it. One file read costs microseconds; one `ip -n NS`
 * process costs 13-30 ms (kernel-recipes.md).
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { readFile, readlink } from 'node:fs/promises';
import { intToIp } from '../net/ipv4.js';

async function readText(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return null;
  }
}

/**
 * The fields of /proc/PID/stat after comm (field 2, which may hold spaces and
 * parentheses, so the split is after its last ')'): [0] is the state (field 3),
 * [1] the parent PID (field 4), [19] the start time in clock ticks (field 22).
 */
async function statFields(pid: number | string): Promise<string[] | null> {
  return splitStat(await readText(`/proc/${pid}/stat`));
}

export function splitStat(text: string | null): string[] | null {
  return text ? text.slice(text.lastIndexOf(')') + 2).split(' ') : null;
}

/** Field 22 of /proc/PID/stat (start time in clock ticks), or null if PID is gone. */
export async function startTicks(pid: number): Promise<string | null> {
  return (await statFields(pid))?.[19] ?? null;
}

/** True when PID is alive and still the process that started at `ticks` (not a zombie). */
export async function isSameProcess(pid: number, ticks: string): Promise<boolean> {
  const f = await statFields(pid);
  return f !== null && f[19] === ticks && f[0] !== 'Z';
}


/** PIDs of every process whose network namespace is one of `inodes`. */
export async function pidsInNamespaces(inodes: Set<number>): Promise<number[]> {
  if (inodes.size === 0) return [];
  return procPids().filter((pid) => {
    // throws when exited meanwhile, or for a kernel thread
    try {
      const ino = Number(/\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/net`))?.[1]);
      return inodes.has(ino);
    } catch {
      return false;
    }
  });
}

/**
 * Every PID of the machine. The scans below read /proc synchronously on purpose: a
 * /proc read takes microseconds, and with a thousand guests a scan of 2000 processes
 * through the thread pool (four threads, a callback each) took 0.3-0.5 s, in sync 30 ms.
 */
function procPids(): number[] {
  return readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number);
}

/**
 * Whether a socket in PID's namespace is bound to local UDP `port`, or listens on TCP
 * `port` (/proc/PID/net/udp, /proc/PID/net/tcp; state 0A is LISTEN).
 */
export async function portBound(pid: number, proto: 'tcp' | 'udp', port: number): Promise<boolean> {
  const text = await readText(`/proc/${pid}/net/${proto}`);
  return text ? portInTable(text, proto, port) : false;
}

/** Whether a /proc/net/udp or /proc/net/tcp table holds a socket bound to (UDP) or listening on (TCP) `port`. */
export function portInTable(text: string, proto: 'tcp' | 'udp', port: number): boolean {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return text
    .split('\n')
    .slice(1)
    .some((line) => {
      const f = line.trim().split(/\s+/);
      return f[1]?.endsWith(`:${hexPort}`) && (proto === 'udp' || f[3] === '0A');
    });
}

/** /proc/net/route stores addresses as little-endian hex. */
function hexLeToIp(hex: string): string {
  const n = parseInt(hex, 16);
  return intToIp((((n & 255) << 24) | (((n >>> 8) & 255) << 16) | (((n >>> 16) & 255) << 8) | ((n >>> 24) & 255)) >>> 0);
}

function maskToPrefix(mask: string): number {
  return mask.split('.').reduce((bits, octet) => bits + Number(octet).toString(2).replace(/0/g, '').length, 0);
}

export interface RouteEntry {
  iface: string;
  destination: string;
  gateway: string;
  prefixLength: number;
}

export async function readRoutes(pid: number): Promise<RouteEntry[] | null> {
  const text = await readText(`/proc/${pid}/net/route`);
  return text === null ? null : parseRoutes(text);
}

/** /proc/net/route's text read into routes. */
export function parseRoutes(text: string): RouteEntry[] {
  return text
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 8)
    .map((f) => ({ iface: f[0]!, destination: hexLeToIp(f[1]!), gateway: hexLeToIp(f[2]!), prefixLength: maskToPrefix(hexLeToIp(f[7]!)) }));
}

/** Local IPv4 addresses of PID's namespace, from the LOCAL leaves of /proc/PID/net/fib_trie. */
export async function readLocalAddresses(pid: number): Promise<string[] | null> {
  const text = await readText(`/proc/${pid}/net/fib_trie`);
  return text === null ? null : parseLocalAddresses(text);
}

/** The local IPv4 addresses (but loopback's) in /proc/net/fib_trie's text. */
export function parseLocalAddresses(text: string): string[] {
  const out = new Set<string>();
  let leaf: string | null = null;
  for (const line of text.split('\n')) {
    const m = /\|--\s+(\d+\.\d+\.\d+\.\d+)/.exec(line);
    if (m) {
      leaf = m[1]!;
      continue;
    }
    if (leaf && /\/32 host LOCAL/.test(line) && !leaf.startsWith('127.')) out.add(leaf);
  }
  return [...out];
}

/** The MAC of an interface as seen in PID's sysfs, or null. */
export async function readMac(pid: number, iface: string): Promise<string | null> {
  const text = await readText(`/proc/${pid}/root/sys/class/net/${iface}/address`);
  return text ? text.trim() : null;
}

/**
 * A live flatlab process (not `self`) among the ancestors of any of `pids`: the owner of
 * processes found in a lab's namespaces. A lab whose helper was orphaned (kept, or its
 * owner died) has none.
 */
export function flatlabAncestor(pids: number[], self: number): number | null {
  for (const pid of pids) {
    let p = pid;
    for (let depth = 0; depth < 64 && p > 1; depth++) {
      let parent: number;
      try {
        parent = Number(splitStat(readFileSync(`/proc/${p}/stat`, 'utf8'))![1]);
      } catch {
        break;
      }
      if (parent <= 1) break;
      if (parent !== self) {
        const cmd = (() => {
          try {
            return readFileSync(`/proc/${parent}/cmdline`, 'utf8');
          } catch {
            return '';
          }
        })();
        // the flatlab CLI: `node .../bin/flatlab.js ...`, or an installed `flatlab`
        if (cmd.split('\0').slice(0, 3).some((arg) => /(^|\/)flatlab(\.js)?$/.test(arg))) return parent;
      }
      p = parent;
    }
  }
  return null;
}

/** PIDs whose parent is one of `parents` (from /proc/PID/stat field 4). */
export async function childrenOf(parents: Set<number>): Promise<number[]> {
  if (parents.size === 0) return [];
  return procPids().filter((pid) => {
    try {
      return parents.has(Number(splitStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))![1]));
    } catch {
      return false;
    }
  });
}

/** The ARP table of PID's namespace: address -> MAC, for complete entries only. */
export async function readArp(pid: number): Promise<{ arp: Record<string, string>; unresolved: string[] } | null> {
  const text = await readText(`/proc/${pid}/net/arp`);
  return text === null ? null : parseArp(text);
}

/** /proc/net/arp's text: resolved entries, and the addresses asked for in vain. */
export function parseArp(text: string): { arp: Record<string, string>; unresolved: string[] } {
  const arp: Record<string, string> = {};
  const unresolved: string[] = [];
  for (const line of text.split('\n').slice(1)) {
    const [ip, , flags, mac] = line.trim().split(/\s+/);
    if (!ip || !flags) continue;
    // ATF_COM (0x2): the entry is resolved; without it the kernel asked and got no answer (yet)
    if ((parseInt(flags, 16) & 0x2) !== 0 && mac) arp[ip] = mac;
    else unresolved.push(ip);
  }
  return { arp, unresolved };
}

/** The inode of PID's network namespace, or null. */
export async function pidNetnsInode(pid: number): Promise<number | null> {
  try {
    const link = await readlink(`/proc/${pid}/ns/net`);
    return Number(/\[(\d+)\]/.exec(link)?.[1]);
  } catch {
    return null;
  }
}

/** The machine's neighbour table limit (net.ipv4.neigh.default.gc_thresh3); 1024 (the kernel default) when unreadable. */
export function neighbourTableLimit(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/neigh/default/gc_thresh3', 'utf8').trim()) || 1024;
  } catch {
    return 1024;
  }
}

/**
 * How many times the kernel refused a new neighbour entry since boot (table_fulls of
 * /proc/net/stat/arp_cache, machine-wide), or null where unreadable.
 */
export function neighbourTableFulls(): number | null {
  try {
    const [head, values] = readFileSync('/proc/net/stat/arp_cache', 'utf8').trim().split('\n');
    const i = head!.trim().split(/\s+/).indexOf('table_fulls');
    const v = values?.trim().split(/\s+/)[i];
    return i >= 0 && v !== undefined ? parseInt(v, 16) : null;
  } catch {
    return null;
  }
}
