/**
 * The client side of flatlab-nsd (native/flatlab-nsd.c): one long-lived helper that
 * starts guests and sends probes inside any namespace, so a 1000-VM lab costs one
 * process per guest's own program instead of a process per start, per probe and per
 * reading. Requests are TAB-separated lines; answers come back by id, in any order.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Protocol } from '../../plan/types.js';
import type { NeighbourEntry, ProbeOutcome } from '../backend.js';
import { PROBE_TOKEN } from '../exec-probe.js';

/** Where the build puts the helper (scripts/build-native.mjs). */
export const NSD_PATH = fileURLToPath(new URL('../../native/flatlab-nsd', import.meta.url));

export type ProbeVerdict = 'reachable' | 'refused' | 'unreachable' | 'error';

export interface NsdProbe {
  result: ProbeVerdict;
  /** from sending to the answer, in microseconds */
  micros: number;
  /** what answered, or `timeout` */
  detail: string;
}

interface Refable {
  ref(): void;
  unref(): void;
}

interface Waiter {
  resolve(fields: string[]): void;
  reject(e: Error): void;
}

/** A field must not carry the protocol's separators. */
function field(s: string): string {
  if (/[\t\n]/.test(s)) throw new Error(`flatlab-nsd: a tab or newline in ${JSON.stringify(s)}`);
  return s;
}

export class Nsd {
  private child: ChildProcess | null = null;
  private nextId = 1;
  private readonly waiting = new Map<string, Waiter>();
  private readonly exitWaiters = new Map<number, () => void>();
  /** exits reported before anyone asked (a child that died at once) */
  private readonly exited = new Set<number>();

  /** True when the helper has been built on this machine. */
  static available(): boolean {
    return existsSync(NSD_PATH);
  }

  private start(): ChildProcess {
    if (this.child) return this.child;
    // stderr is a pipe of ours, not flatlab's own: the helper outlives a `flatlab up`
    // (it reaps the lab's guests), and must not hold the terminal's or a caller's pipe.
    // detached: its own process group, so a Ctrl-C in the terminal reaches flatlab only,
    // which tears the lab down through the helper
    const child = spawn(NSD_PATH, [], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.child = child;
    let lastError = '';
    createInterface({ input: child.stdout! }).on('line', (line) => this.onLine(line));
    createInterface({ input: child.stderr! }).on('line', (line) => (lastError = line));
    child.once('exit', (code, sig) => {
      if (this.child === child) this.child = null;
      const why = new Error(`flatlab-nsd ended (${sig ?? `exit ${code}`})${lastError ? `: ${lastError}` : ''}`);
      for (const w of this.waiting.values()) w.reject(why);
      this.waiting.clear();
      // nothing will be reaped by this helper any more
      for (const w of [...this.exitWaiters.values()]) w();
    });
    child.once('error', (e) => {
      for (const w of this.waiting.values()) w.reject(e);
      this.waiting.clear();
    });
    // the helper keeps flatlab alive only while an answer is awaited (refresh)
    child.unref();
    (child.stdin as unknown as Refable).unref();
    (child.stdout as unknown as Refable).unref();
    (child.stderr as unknown as Refable).unref();
    return child;
  }

  /** Holds the event loop open exactly while requests are in flight. */
  private refresh(): void {
    const out = this.child?.stdout as unknown as Refable | undefined;
    if (this.waiting.size > 0 || this.exitWaiters.size > 0) out?.ref();
    else out?.unref();
  }

  private onLine(line: string): void {
    const f = line.split('\t');
    if (f[0] === '!') {
      if (f[1] === 'exit') {
        const pid = Number(f[2]);
        const w = this.exitWaiters.get(pid);
        if (w) w();
        else this.exited.add(pid);
      }
      return;
    }
    const w = this.waiting.get(f[0]!);
    if (!w) return;
    this.waiting.delete(f[0]!);
    this.refresh();
    w.resolve(f.slice(1));
  }

  private request(kind: string, fields: string[]): Promise<string[]> {
    const child = this.start();
    const id = String(this.nextId++);
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.refresh();
      child.stdin!.write([kind, id, ...fields.map(field)].join('\t') + '\n');
    });
  }

  /** Starts argv inside the namespace at nsPath (its own session, output to logFile); resolves once it has exec'd. */
  async spawn(nsPath: string, logFile: string, env: Record<string, string>, argv: string[]): Promise<number> {
    const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    const [status, value] = await this.request('S', [nsPath, logFile, String(vars.length), ...vars, ...argv]);
    if (status !== 'ok') throw new Error(value ?? 'flatlab-nsd: spawn failed');
    return Number(value);
  }

  /**
   * Resolves true once a child the helper started has ended (been reaped), false after
   * withinMs. While it waits, the helper's answers keep flatlab's event loop alive.
   */
  exit(pid: number, withinMs: number): Promise<boolean> {
    if (this.exited.delete(pid)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(false), withinMs);
      const done = (ended: boolean): void => {
        clearTimeout(timer);
        this.exitWaiters.delete(pid);
        this.refresh();
        resolve(ended);
      };
      this.exitWaiters.set(pid, () => done(true));
      this.refresh();
    });
  }

  /** One probe sent from inside the namespace at nsPath. */
  async probe(nsPath: string, proto: 'icmp' | 'tcp' | 'udp', dst: string, port: number, timeoutMs: number, payload: string): Promise<NsdProbe> {
    const [result, micros, detail] = await this.request('P', [nsPath, proto, dst, String(port), String(Math.round(timeoutMs)), payload]);
    return { result: (result === 'err' ? 'error' : result) as ProbeVerdict, micros: Number(micros), detail: detail ?? '' };
  }

  /** The MAC of an interface, as the namespace's kernel has it. */
  async mac(nsPath: string, iface: string): Promise<string | null> {
    const [status, value] = await this.request('M', [nsPath, iface]);
    return status === 'ok' ? (value ?? null) : null;
  }

  /** Sets net.* sysctls inside the namespace at nsPath. */
  async sysctl(nsPath: string, values: Record<string, string>): Promise<void> {
    const [status, why] = await this.request('C', [nsPath, ...Object.entries(values).map(([k, v]) => `${k}=${v}`)]);
    if (status !== 'ok') throw new Error(why ?? 'flatlab-nsd: sysctl failed');
  }

  /** Deletes the IPv4 neighbour entries of the namespace at nsPath, returning what they were. */
  async releaseNeighbours(nsPath: string): Promise<NeighbourEntry[]> {
    const [status, ...fields] = await this.request('N', [nsPath]);
    if (status !== 'ok') throw new Error(fields[0] ?? 'flatlab-nsd: neighbour release failed');
    return fields.map((f) => {
      const [, ip, mac, state] = f.split(',');
      return { ip: ip!, mac: mac ? mac : null, state: state! };
    });
  }

  /** Ends the input; the helper exits once its children are gone. */
  close(): void {
    this.child?.stdin?.end();
    this.child = null;
  }
}

/**
 * One probe through the helper, from inside the namespace at nsPath (a named namespace,
 * or /proc/PID/ns/net of a process living in it): a raw ICMP socket as ping uses, a TCP
 * connect, a UDP datagram the target echoes; the outcome in the words every backend uses.
 */
export async function nsdProbe(nsd: Nsd, nsPath: string, target: string, dst: string, proto: Protocol, port: number | undefined, timeoutMs: number): Promise<ProbeOutcome> {
  const r = await nsd.probe(nsPath, proto, dst, port ?? 0, timeoutMs, PROBE_TOKEN);
  const ms = (r.micros / 1000).toFixed(3);
  const to = proto === 'icmp' ? dst : `${dst}:${port}`;
  if (r.result === 'error') throw new Error(`probe from ${target} to ${to}: ${r.detail}`);
  if (r.result === 'reachable') {
    const what = proto === 'icmp' ? `echo reply from ${dst}` : proto === 'tcp' ? `tcp connection to ${to} established` : `udp datagram to ${to} echoed`;
    return { observed: 'reachable', evidence: `${what} in ${ms} ms` };
  }
  if (r.result === 'refused') {
    return { observed: 'refused', evidence: proto === 'tcp' ? `tcp connection to ${to} refused (reset)` : `udp to ${to}: ICMP port unreachable` };
  }
  if (r.detail !== 'timeout') return { observed: 'unreachable', evidence: `${proto} to ${to}: ${r.detail}` };
  const silence = proto === 'icmp' ? `no echo reply from ${dst}` : proto === 'tcp' ? `no answer to tcp SYN to ${to}` : `no udp answer from ${to}`;
  return { observed: 'unreachable', evidence: `${silence} within ${timeoutMs} ms${proto === 'icmp' ? '' : ' (dropped)'}` };
}
