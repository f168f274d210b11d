/**
 * vm guests over any backend, by composition: what a check asks of a `guest: vm` guest's
 * target (run a command, read a file, send a probe, read its network state) goes to the
 * guest's agent over its virtio-serial port; everything else, and every other target, to
 * the backend that built the lab. QEMU itself is an ordinary process of its node
 * (started, supervised and stopped by PID like every other).
 */
import { EnvironmentError } from '../errors.js';
import type { Plan, Protocol, VmPlan } from '../plan/types.js';
import type { Backend, ExecOptions, ExecResult, ProbeOutcome, ProcessRecord, VmNetState } from './backend.js';
import { execProbe } from './exec-probe.js';
import { GuestAgent } from './guest-agent.js';
import { GUEST_STATE_FILES, vmStateFromTexts } from './vm-state.js';
import { Slots } from '../wait.js';

/** How often the same reading is asked of a guest, at most (see VmGuests.read). */
const VM_POLL_MS = 100;

/**
 * Probes a guest sends at once, at most. A guest has one emulated CPU: fifteen pings
 * started in it at once (a reach round's sources come in order) left some waiting for
 * the CPU past their 2 s timeout with the answer already in (measured here: a 4x4 lab
 * under TCG, 4-14 first attempts in 240 failing, all from one or two sources, every
 * echo reply counted in the guest's own /proc/net/snmp). The round's other probes go on
 * from other guests meanwhile.
 */
const PROBES_PER_GUEST = 4;

/** The backends whose targets are this machine's namespaces, where QEMU can run in a node. */
const HOSTS_VMS = new Set(['netns']);

/** What a vm guest is asked through its agent, by the backend's method. */
class VmGuests {
  private readonly byTarget = new Map<string, { vm: VmPlan; agent: GuestAgent }>();
  /** the guests' QEMU processes, as the lab records them (an agent asks whether its QEMU still runs) */
  private readonly qemus = new Map<string, ProcessRecord>();
  /** one request at a time of each read (polls of a dozen guests ask the same every few ms) */
  private readonly inFlight = new Map<string, Promise<ExecResult>>();
  /** each guest's probes in flight (PROBES_PER_GUEST) */
  private readonly probing = new Map<string, Slots>();
  /** when each read was last sent */
  private readonly lastSent = new Map<string, number>();

  constructor(private readonly inner: Backend) {}

  learn(plan: Plan): void {
    const vms = plan.vms.filter((v) => v.machine);
    if (vms.length === 0) return;
    if (!HOSTS_VMS.has(this.inner.name)) {
      throw new EnvironmentError(`guest: vm runs on the netns backend only (${vms.map((v) => v.name).join(', ')} on ${this.inner.name})`, 'run it with --backend netns, or give these guests guest: namespace');
    }
    for (const vm of vms) {
      if (this.byTarget.has(vm.netns)) continue;
      const alive = async (): Promise<boolean> => {
        const q = this.qemus.get(vm.name);
        return q ? this.inner.isRunning(q) : true;
      };
      this.byTarget.set(vm.netns, { vm, agent: new GuestAgent(vm.name, vm.machine!.agentSocket, alive) });
    }
  }

  /** A probe sent from a guest, when one of its PROBES_PER_GUEST is free. */
  async probe<T>(target: string, send: () => Promise<T>): Promise<T> {
    let slots = this.probing.get(target);
    if (!slots) this.probing.set(target, (slots = new Slots(PROBES_PER_GUEST)));
    await slots.take();
    try {
      return await send();
    } finally {
      slots.give();
    }
  }

  /** The guest's agent when the target is a vm guest's. */
  agentOf(target: string): GuestAgent | null {
    return this.byTarget.get(target)?.agent ?? null;
  }

  noteProcess(p: ProcessRecord, owner: string | undefined): void {
    if (owner) this.qemus.set(owner, p);
  }

  /**
   * A read-only command, shared by callers asking the same at once, and sent at most
   * every VM_POLL_MS. The lab's polls are sized for this machine's files (a system call
   * each, every 10 ms); a guest answers each through its virtio port under emulation, and
   * asked that often its one CPU did little else (16 guests on 2 cores: 4.2 CPU-s each to
   * boot and lease, against 2.5 alone; leases late enough for udhcpc to give up). The
   * spacing only delays when the next reading is taken, never what it says.
   */
  read(agent: GuestAgent, argv: string[]): Promise<ExecResult> {
    const key = `${agent.name}\0${argv.join('\0')}`;
    let p = this.inFlight.get(key);
    if (!p) {
      const wait = (this.lastSent.get(key) ?? -Infinity) + VM_POLL_MS - performance.now();
      const send = (): Promise<ExecResult> => {
        this.lastSent.set(key, performance.now());
        return agent.exec(argv);
      };
      p = (wait > 0 ? new Promise((r) => setTimeout(r, wait)).then(send) : send()).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, p);
    }
    return p;
  }

  async readFile(agent: GuestAgent, path: string): Promise<string | null> {
    const r = await this.read(agent, ['cat', path]);
    return r.exitCode === 0 ? r.stdout : null;
  }

  /** Each file its own request: the agent reads files itself, with no process to start. */
  async state(agent: GuestAgent, vm: VmPlan): Promise<VmNetState> {
    return vmStateFromTexts(vm, await Promise.all(GUEST_STATE_FILES(vm.nic).map((f) => this.readFile(agent, f))));
  }

  close(): void {
    for (const { agent } of this.byTarget.values()) agent.close();
    this.byTarget.clear();
  }
}

/** The backend with vm guests' targets answered by their agents. */
export function withVmGuests(inner: Backend): Backend {
  const g = new VmGuests(inner);
  const exec = (target: string, argv: string[], opts?: ExecOptions): Promise<ExecResult> => {
    const agent = g.agentOf(target);
    return agent ? agent.exec(argv, opts) : inner.exec(target, argv, opts);
  };
  const own: Partial<Backend> & { guestKernel(target: string): Promise<string | null> } = {
    bind(plan: Plan): void {
      g.learn(plan);
      inner.bind?.(plan);
    },
    async createTopology(plan: Plan): Promise<void> {
      g.learn(plan);
      await inner.createTopology(plan);
    },
    async startProcess(target, argv, opts): Promise<ProcessRecord> {
      if (g.agentOf(target)) throw new Error(`${target} is a vm guest: its processes are started by its own boot`);
      const p = await inner.startProcess(target, argv, opts);
      if (opts.role === 'guest-vm') g.noteProcess(p, opts.owner);
      return p;
    },
    exec,
    async probe(target: string, dst: string, proto: Protocol, port: number | undefined, timeoutMs: number): Promise<ProbeOutcome> {
      return g.agentOf(target) ? g.probe(target, () => execProbe({ exec }, target, dst, proto, port, timeoutMs, undefined, 'busybox')) : inner.probe(target, dst, proto, port, timeoutMs);
    },
    async readFile(target: string, path: string): Promise<string | null> {
      const agent = g.agentOf(target);
      return agent ? g.readFile(agent, path) : inner.readFile(target, path);
    },
    async exists(target: string, path: string): Promise<boolean> {
      const agent = g.agentOf(target);
      if (agent) return (await g.read(agent, ['test', '-e', path])).exitCode === 0;
      return inner.exists ? inner.exists(target, path) : (await inner.readFile(target, path)) !== null;
    },
    async writeFile(target: string, path: string, text: string, mode?: number): Promise<void> {
      const agent = g.agentOf(target);
      if (!agent) return inner.writeFile(target, path, text, mode);
      const r = await agent.exec(['sh', '-c', 'mkdir -p "$(dirname "$1")" && cat > "$1"', 'sh', path], { input: text });
      if (r.exitCode !== 0) throw new Error(`writing ${path} in ${agent.name}: ${r.stderr.trim()}`);
    },
    async setSysctls(target: string, values: Record<string, string>): Promise<void> {
      const agent = g.agentOf(target);
      if (!agent) return inner.setSysctls(target, values);
      const r = await agent.exec(['sysctl', '-w', ...Object.entries(values).map(([k, v]) => `${k}=${v}`)]);
      if (r.exitCode !== 0) throw new Error(`sysctl in ${agent.name}: ${r.stderr.trim()}`);
    },
    async readVmState(vm: VmPlan, resident?: ProcessRecord): Promise<VmNetState> {
      const agent = g.agentOf(vm.netns);
      return agent ? g.state(agent, vm) : inner.readVmState(vm, resident);
    },
    interactiveArgv(target: string, argv: string[], tty: boolean): string[] {
      if (g.agentOf(target)) throw new EnvironmentError(`${target} is a vm guest: flatlab exec enters namespaces, not VMs`, 'its console log is in its folder of the run (console.log); flatlab check runs its probes through its agent');
      return inner.interactiveArgv(target, argv, tty);
    },
    async guestKernel(target: string): Promise<string | null> {
      const agent = g.agentOf(target);
      return agent ? agent.ready() : null;
    },
    close(): void {
      g.close();
      inner.close?.();
    },
    async destroy(prefix: string): Promise<void> {
      g.close();
      await inner.destroy(prefix);
    },
  };
  if (inner.releaseNeighbours) {
    // a vm guest's neighbour table is its own kernel's, not this machine's shared one
    own.releaseNeighbours = (target) => (g.agentOf(target) ? Promise.resolve([]) : inner.releaseNeighbours!(target));
  }
  return new Proxy(inner, {
    get(t, key, receiver) {
      if (typeof key === 'string' && key in own) return own[key as keyof typeof own];
      const v = Reflect.get(t, key, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}
