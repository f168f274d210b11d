/**
 * The network-namespace backend: the fabric, every node and every VM is a named
 * network namespace (/run/netns/<prefix>-<name>); links are veth pairs created with
 * both ends inside their namespaces. Long-running processes are started, and probes
 * sent, by flatlab-nsd (one helper process that enters each namespace itself), or by
 * `ip netns exec` and one ping/socat per probe where the helper was not built.
 * Nothing is ever created in the machine's root namespace.
 */
import { notRoot } from '../../root.js';
import { spawn } from 'node:child_process';
import { access, mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { execa } from 'execa';
import { EnvironmentError } from '../../errors.js';
import { onPath } from '../../which.js';
import type { Plan, Protocol, VmPlan } from '../../plan/types.js';
import { ExitedAtOnce, type Backend, type NeighbourEntry, type ExecOptions, type ExecResult, type ProbeOutcome, type ProcessRecord, type StartOptions, type VmNetState } from '../backend.js';
import { execProbe } from '../exec-probe.js';
import { Nsd, nsdProbe } from './nsd.js';
import { realiseTopology, type TopologyOps } from '../realise.js';
import { ipBatch } from './ip.js';
import { parseVmState, vmStateBatch, vmStateFromProc } from '../vm-state.js';
import { childrenOf, isSameProcess, startTicks, portBound } from '../procfs.js';
import { nsPath, namespacesWithPrefix, inTarget, processesIn, inodesOf } from '../namespaces.js';

/** The programs a netns run needs, and the Debian package each comes from. */
const REQUIRED_TOOLS: [string, string][] = [
  ['ip', 'iproute2'],
  ['dnsmasq', 'dnsmasq-base'],
  ['busybox', 'busybox-static'],
  ['ping', 'iputils-ping'],
  ['sysctl', 'procps'],
  ['iptables-restore', 'iptables'],
  ['socat', 'socat'],
  ['tcpdump', 'tcpdump'],
  ['ebtables', 'ebtables'],
];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));



export class NetnsBackend implements Backend {
  readonly name = 'netns';
  /** exit of each process this backend object started with `ip netns exec`, so teardown can reap them */
  private readonly exits = new Map<number, Promise<void>>();
  /** processes this backend object started through the helper (which reaps them) */
  private readonly viaNsd = new Set<number>();
  /** the helper that works inside namespaces without a process per task; null where not built (or not wanted) */
  private readonly nsd: Nsd | null;

  /** helper: false runs every task as its own process (ip netns exec, nsenter, ping, socat) */
  constructor(opts: { helper?: boolean } = {}) {
    this.nsd = opts.helper !== false && Nsd.available() ? new Nsd() : null;
  }

  /** How many probes at once: the helper sends them all from one process. */
  get probeConcurrency(): number {
    return this.nsd ? 256 : 16;
  }


  async preflight(): Promise<void> {
    const why = notRoot();
    if (why) throw new EnvironmentError(`flatlab needs root to create network namespaces: ${why}`, 'run it as root (sudo -E npx flatlab run ...)');
    const missing: string[] = [];
    for (const [cmd, pkg] of REQUIRED_TOOLS) if (!onPath(cmd)) missing.push(pkg);
    if (missing.length > 0) {
      throw new EnvironmentError(
        `missing tools: ${missing.join(', ')}`,
        `install them: apt-get install -y --no-install-recommends ${missing.join(' ')} (or run ./setup.sh)`,
      );
    }
  }

  async createTopology(plan: Plan): Promise<void> {
    await realiseTopology(plan, this.topology);
  }

  /** Every target is a namespace of this machine, made in one `ip` process. */
  readonly topology: TopologyOps = {
    createTargets: (plan) => ipBatch(null, plan.wiring.namespaces.map((ns) => `netns add ${ns}`)),
    batch: (target, lines) => ipBatch(target, lines),
    setSysctls: async (entries) => {
      await Promise.all(entries.map(([target, values]) => this.setSysctls(target, values)));
    },
  };

  async setSysctls(target: string, values: Record<string, string>): Promise<void> {
    if (this.nsd) return this.nsd.sysctl(nsPath(target), values);
    const args = Object.entries(values).map(([k, v]) => `${k}=${v}`);
    const r = await this.exec(target, ['sysctl', '-q', '-w', ...args]);
    if (r.exitCode !== 0) throw new Error(`sysctl in ${target} failed: ${r.stderr.trim()}`);
  }

  async startProcess(target: string, argv: string[], opts: StartOptions): Promise<ProcessRecord> {
    if (this.nsd) {
      // The helper forks, enters the target's network namespace and execs; it answers
      // once the exec is done, so the PID is the command's and lives in the target.
      // Unlike `ip netns exec` it makes no mount namespace (copying the machine's mount
      // table, one nsfs mount per namespace, per start): nothing reads /sys through
      // these processes (a NIC's MAC is asked of the helper).
      const nsd = this.nsd;
      const pid = await nsd.spawn(nsPath(target), opts.logFile, opts.env ?? {}, argv);
      this.viaNsd.add(pid);
      const ticks = await startTicks(pid);
      if (ticks === null) throw new ExitedAtOnce(opts.role, target, opts.logFile);
      return { pid, startTicks: ticks, role: opts.role, target };
    }
    const log = await open(opts.logFile, 'a');
    try {
      // `ip netns exec` execs the command, so the child's PID is the command's PID.
      // detached: its own process group, so a Ctrl-C in the terminal reaches only
      // flatlab, which then stops it by PID during teardown.
      const child = spawn('ip', ['netns', 'exec', target, ...argv], {
        detached: true,
        stdio: ['ignore', log.fd, log.fd],
        env: { ...process.env, ...opts.env },
      });
      const pid = await new Promise<number>((resolve, reject) => {
        child.once('error', reject);
        child.once('spawn', () => resolve(child.pid!));
      });
      this.exits.set(pid, new Promise((resolve) => child.once('exit', () => resolve())));
      child.unref();
      // the exec into the command happens right after fork; read its start time
      const ticks = await startTicks(pid);
      if (ticks === null) throw new ExitedAtOnce(opts.role, target, opts.logFile);
      return { pid, startTicks: ticks, role: opts.role, target };
    } finally {
      await log.close();
    }
  }

  /**
   * With the helper: the probe's socket is opened inside the source VM's namespace (a
   * raw ICMP socket as ping uses, a TCP connect, a UDP datagram the target echoes) and
   * every probe in flight is answered from one poll loop. Without: ping or socat.
   */
  async probe(target: string, dst: string, proto: Protocol, port: number | undefined, timeoutMs: number): Promise<ProbeOutcome> {
    if (!this.nsd) return execProbe(this, target, dst, proto, port, timeoutMs);
    return nsdProbe(this.nsd, nsPath(target), target, dst, proto, port, timeoutMs);
  }

  async signal(proc: ProcessRecord, sig: NodeJS.Signals): Promise<void> {
    if (this.alive(proc)) sendSignal(proc.pid, sig);
  }

  async isRunning(proc: ProcessRecord): Promise<boolean> {
    return this.alive(proc);
  }

  private alive(proc: ProcessRecord): boolean {
    try {
      process.kill(proc.pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  /** Through the helper (netlink in the namespace, no process); else `ip neigh` twice. */
  async releaseNeighbours(target: string): Promise<NeighbourEntry[]> {
    if (this.nsd) return this.nsd.releaseNeighbours(nsPath(target));
    const shown = await this.exec(target, ['ip', '-j', '-4', 'neigh', 'show']);
    const entries = (JSON.parse(shown.stdout || '[]') as { dst: string; lladdr?: string; state?: string[] }[])
      .filter((e) => !(e.state ?? []).includes('NOARP'))
      .map((e) => ({ ip: e.dst, mac: e.lladdr ?? null, state: (e.state ?? ['NONE'])[0]! }));
    await this.exec(target, ['ip', '-4', 'neigh', 'flush', 'all']);
    return entries;
  }

  async listening(proc: ProcessRecord, proto: 'tcp' | 'udp', port: number): Promise<boolean> {
    return (await inTarget(proc)) && portBound(proc.pid, proto, port);
  }

  /**
   * A command run to completion joins only the target's network namespace (nsenter
   * --net): `ip netns exec` also makes a mount namespace and remounts /sys, which copies
   * the machine's mount table, one mount per namespace, on every call (about 10 ms with a
   * thousand namespaces here, against 3 ms). Long-running processes keep `ip netns exec`
   * (startProcess): their /sys is the namespace's own, which the observations read.
   */
  async exec(target: string, argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const t0 = performance.now();
    const r = await execa('nsenter', [`--net=${nsPath(target)}`, '--', ...argv], {
      reject: false,
      timeout: opts.timeoutMs,
      input: opts.input,
      env: opts.env,
    });
    return {
      exitCode: r.exitCode ?? -1,
      stdout: r.stdout,
      stderr: r.stderr,
      durationMs: performance.now() - t0,
      timedOut: r.timedOut,
    };
  }

  /** `ip netns exec`: the namespace's own /sys too, as an operator's shell on the node would see it. */
  interactiveArgv(target: string, argv: string[], _tty = false): string[] {
    return ['ip', 'netns', 'exec', target, ...argv];
  }

  // Namespaces share the machine's filesystem: a target's files are plain files.
  async readFile(_target: string, path: string): Promise<string | null> {
    try {
      return await readFile(path, 'utf8');
    } catch {
      return null;
    }
  }

  async exists(_target: string, path: string): Promise<boolean> {
    return access(path).then(
      () => true,
      () => false,
    );
  }

  async writeFile(_target: string, path: string, text: string, mode = 0o644): Promise<void> {
    // dnsmasq drops to nobody and re-reads its hosts files on SIGHUP: keep them
    // world-readable (nova chmods them 644) and their directories traversable.
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    await writeFile(path, text, { mode });
  }

  async readVmState(vm: VmPlan, resident?: ProcessRecord): Promise<VmNetState> {
    if (!resident || !(await isSameProcess(resident.pid, resident.startTicks)) || !(await inTarget(resident))) return this.readVmStateWithIp(vm);
    const nsd = this.nsd;
    return vmStateFromProc(vm, resident.pid, nsd ? () => nsd.mac(nsPath(vm.netns), vm.nic) : undefined);
  }

  /** The same reading through `ip -j`, when no process of ours lives in the VM. */
  private async readVmStateWithIp(vm: VmPlan): Promise<VmNetState> {
    const r = await execa('ip', ['-n', vm.netns, '-j', '-batch', '-'], { input: vmStateBatch(vm.nic), reject: false });
    return parseVmState(r.stdout, vm.nic);
  }

  async stopProcesses(procs: ProcessRecord[]): Promise<void> {
    const alive = await Promise.all(procs.map((p) => isSameProcess(p.pid, p.startTicks)));
    const live = procs.filter((_, i) => alive[i]);
    // Children first: dnsmasq's lease-script helper ignores SIGTERM and, orphaned, would
    // be left to init (and not every init reaps). Killed while its parent lives, it is
    // reaped by dnsmasq at once.
    const children = await childrenOf(new Set(live.map((p) => p.pid)));
    for (const pid of children) sendSignal(pid, 'SIGKILL');
    const kidsDeadline = Date.now() + 300;
    while (children.length > 0 && Date.now() < kidsDeadline && (await childrenOf(new Set(live.map((p) => p.pid)))).length > 0) await sleep(5);
    for (const p of live) sendSignal(p.pid, 'SIGTERM');
    // The helper reports the exit of each process it started: wait on those events, and
    // poll /proc only for the others.
    const nsd = this.nsd;
    const byHelper = (p: ProcessRecord): boolean => nsd !== null && this.viaNsd.has(p.pid);
    const viaHelper = live.filter(byHelper);
    const polled = live.filter((p) => !byHelper(p));
    const waitHelper = async (): Promise<void> => {
      const ended = await Promise.all(viaHelper.map((p) => nsd!.exit(p.pid, 1000)));
      const stuck = viaHelper.filter((_, i) => !ended[i]);
      for (const p of stuck) sendSignal(p.pid, 'SIGKILL');
      await Promise.all(stuck.map((p) => nsd!.exit(p.pid, 500)));
    };
    const waitPolled = async (): Promise<void> => {
      const deadline = Date.now() + 1000;
      let left = polled;
      while (left.length > 0 && Date.now() < deadline) {
        await sleep(10);
        const still = await Promise.all(left.map((p) => isSameProcess(p.pid, p.startTicks)));
        left = left.filter((_, i) => still[i]);
      }
      for (const p of left) sendSignal(p.pid, 'SIGKILL');
    };
    await Promise.all([waitHelper(), waitPolled()]);
    for (const p of procs) this.viaNsd.delete(p.pid);
    // Reap our own children before going on: a process that exits before it reaps them
    // leaves zombies to init. (An unref'd timer: a pending bound must not keep flatlab
    // from exiting.)
    await Promise.race([
      Promise.all(procs.map((p) => this.exits.get(p.pid))),
      new Promise<void>((r) => setTimeout(r, 500).unref()),
    ]);
  }

  async destroy(prefix: string): Promise<void> {
    const names = await namespacesWithPrefix(prefix);
    if (names.length === 0) return;
    // Any process still inside one of the run's namespaces (dnsmasq's script helper, a
    // guest's client, something started with `flatlab exec`) would keep the namespace
    // alive: stop them by PID, found by namespace identity, never by name.
    await this.stopProcesses(await processesIn(await inodesOf(names)));
    await ipBatch(null, names.map((n) => `netns del ${n}`));
  }

  close(): void {
    this.nsd?.close();
  }
}

function sendSignal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}
