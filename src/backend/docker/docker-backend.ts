/**
 * The Docker backend: every compute node is a container (its own filesystem, process
 * table and /etc, like a host); every VM is a network namespace inside its node's
 * container, as a guest lives on its host; the fabric, the external host and an
 * operator's DHCP server stay network namespaces of the machine, and flatlab links the
 * containers to the fabric with veths it creates itself (as containerlab does), not with
 * Docker networks: an --internal Docker network drops packets whose addresses lie
 * outside its own subnet, so VM traffic across it fails while ARP works.
 *
 * The topology is built by the one realiser (backend/realise.ts) from the plan's own
 * wiring: each container's network namespace is given the node's namespace name on this
 * machine (`ip netns attach`, a name in /run/netns, nothing in the root namespace), so
 * the fabric's `... netns <node>` lines reach the container unchanged. Only where a target
 * lives differs; what is wired is the plan's. Everything that lives on the machine (the
 * fabric, the external host, an operator's DHCP server, and the nodes' namespaces for
 * sysctls) is handled by a NetnsBackend this one holds: composition, not inheritance.
 *
 * Containers and their commands are containers.ts's; this file routes each target to
 * where it lives.
 *
 * Local and remote engines (decided per engine at preflight, preflight.ts): on an engine
 * whose containers are processes of this machine, the run's runtime directory and
 * flatlab's assets are bind-mounted into the nodes at the same paths, a guest starts
 * through flatlab-nsd into its VM's namespace, and processes are watched by their PID
 * here. On a remote engine nothing of this machine is shared: the assets are baked into
 * its image (assets-image.ts), files are read and written through exec, processes are
 * started inside their node's container (so removing it reaps them) and watched through
 * the run's agent there (agent.ts), which also holds that machine's share of the wiring.
 * Nodes are placed by the plan (plan/span.ts) and the fabric's shares joined by VXLAN
 * (span-fabric.ts).
 */
import { stat } from 'node:fs/promises';
import type { Plan, Protocol, VmPlan } from '../../plan/types.js';
import type { Agent } from './agent.js';
import { Where, type Placement } from './where.js';
import { preflightEngines } from './preflight.js';
import { RemoteFiles, RemoteVmState } from './remote-files.js';
import { RemoteStarts } from './remote-starts.js';
import { BATCHED_INPUT_MAX, RemoteExecs } from './remote-execs.js';
import { dockerTopology } from './topology.js';
import { ExitedAtOnce, type Backend, type BackendOptions, type ExecOptions, type ExecResult, type ProbeOutcome, type ProcessRecord, type StartOptions, type VmNetState } from '../backend.js';
import { execProbe } from '../exec-probe.js';
import { NetnsBackend } from '../netns/netns-backend.js';
import { isSameProcess, portBound, startTicks } from '../procfs.js';
import { realiseTopology } from '../realise.js';
import { parseVmState, vmStateBatch, vmStateFromProc } from '../vm-state.js';
import { Nsd, nsdProbe } from '../netns/nsd.js';
import { DEFAULT_ENGINE, defaultEngineUrl, type EngineSpec } from './engine.js';
import { Containers, guestNamespaces } from './containers.js';
import { inTarget, netnsInode, processesIn } from '../namespaces.js';

export { RUN_LABEL } from './containers.js';

export class DockerBackend implements Backend {
  readonly name = 'docker';
  // The VMs' namespaces live inside the node containers, where flatlab-nsd does not
  // run: without it, guests start through docker exec and probes are ping/socat inside
  // the VM; the machine's own namespaces are handled the same way, one process per task.
  private readonly machine = new NetnsBackend({ helper: false });
  /**
   * flatlab-nsd on this machine, entering a VM's namespace through /proc/PID/ns/net of a
   * process living in it (the guest's resident): probes without a docker exec each.
   */
  private readonly helper: Nsd | null = Nsd.available() ? new Nsd() : null;

  /**
   * How many probes at once: the helper sends a local guest's from one process, and a
   * remote node's guests' probes asked together are one exec there (fewer at once would
   * split them into an exec per few probes, each a round trip through the engine's API).
   */
  get probeConcurrency(): number {
    return this.helper || this.agents.size > 0 ? 256 : 16;
  }
  /** the first process started in each VM: its /proc shows the VM's network */
  private readonly residents = new Map<string, ProcessRecord>();
  /** the engines, in the order given: the first is this machine's (it holds the plan's fabric) */
  private engines: EngineSpec[];
  /** files and guests' state of targets on remote engines, through exec (batched per node and turn) */
  private readonly files: RemoteFiles;
  private readonly vmStates: RemoteVmState;
  private readonly starts: RemoteStarts;
  private readonly execs: RemoteExecs;
  private readonly containers: Containers;
  private readonly where: Where;
  private readonly agents: Map<string, Agent>;

  constructor(private readonly options: BackendOptions = {}) {
    this.engines = options.engines?.length ? options.engines : [{ name: DEFAULT_ENGINE, url: defaultEngineUrl() }];
    this.containers = new Containers(this.engines);
    this.where = new Where(this.containers);
    this.agents = this.where.agents;
    this.containers.kill = (engine, pid) => (this.agents.has(engine) ? this.agents.get(engine)!.kill(pid) : this.machine.signal({ pid, startTicks: '', role: 'exec', target: '' }, 'SIGKILL'));
    this.containers.via = (c) => this.where.runnerFor(c);
    this.files = new RemoteFiles(this.containers);
    this.vmStates = new RemoteVmState(this.containers, vmStateBatch);
    this.execs = new RemoteExecs(this.containers);
    this.starts = new RemoteStarts(this.containers, (c) => this.agents.get(this.containers.engineOf.get(c)!)!);
  }

  reachOptions(): BackendOptions {
    return { ...this.options, engines: this.engines };
  }

  async preflight(): Promise<void> {
    await this.machine.preflight();
    this.engines = await preflightEngines(this.containers, this.engines, this.options.underlay);
    this.containers.engines = this.engines;
  }

  /** Learns where each of the plan's targets lives (also for a lab built earlier). */
  bind(plan: Plan): void {
    this.where.bind(plan, this.engines);
    this.bound.resolve();
    this.made.resolve();
  }

  /**
   * The lab's files are written while its topology is built (lab.ts): a file of a target
   * on a remote engine can only be written once its container exists there, so such a
   * write waits for the targets to be made (or fails with them). Local targets' files go
   * to this machine's runtime directory at once, as before.
   */
  private readonly bound = settled();
  private readonly made = settled();

  private agentOf(target: string): Agent | undefined {
    return this.where.agentOf(target);
  }

  /** Where the realiser's work goes (topology.ts). */
  private topology(): ReturnType<typeof dockerTopology> {
    return dockerTopology({ machine: this.machine, containers: this.containers, where: this.where, engines: this.engines, underlay: this.options.underlay });
  }

  async createTopology(plan: Plan): Promise<void> {
    this.where.bind(plan, this.engines);
    this.bound.resolve();
    const ops = this.topology();
    await realiseTopology(plan, {
      ...ops,
      createTargets: (p) =>
        ops.createTargets(p).then(this.made.resolve, (err: unknown) => {
          this.made.reject(err);
          throw err;
        }),
    });
  }


  /** The command line that runs argv where `target` lives (inside its VM namespace, if any). */
  private inTargetArgv(p: Placement, argv: string[]): string[] {
    return p.vmNetns ? ['ip', 'netns', 'exec', p.vmNetns, ...argv] : argv;
  }

  async exec(target: string, argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const p = this.where.of(target);
    if (!p) return this.machine.exec(target, argv, opts);
    // a remote node's guests: the turn's commands there in one exec (the probes of a round)
    if (p.vmNetns && !opts.env && (opts.input?.length ?? 0) < BATCHED_INPUT_MAX && this.agentOf(target)) return this.execs.run(p.container, this.inTargetArgv(p, argv), opts);
    // input on the exec's own stream; past the bound the command is killed where it runs
    return this.containers.exec(p.container, this.inTargetArgv(p, argv), opts);
  }

  /** `docker exec` into the node's container (and `ip netns exec` into a VM's namespace there). */
  interactiveArgv(target: string, argv: string[], tty: boolean): string[] {
    const p = this.where.of(target);
    if (!p) return this.machine.interactiveArgv(target, argv);
    const engine = this.engines.find((e) => e.name === this.containers.engineOf.get(p.container));
    const at = engine && engine.url !== defaultEngineUrl() ? ['-H', engine.url] : [];
    return ['docker', ...at, 'exec', '-i', ...(tty ? ['-t'] : []), p.container, ...this.inTargetArgv(p, argv)];
  }

  async setSysctls(target: string, values: Record<string, string>): Promise<void> {
    await this.topology().setSysctls([[target, values]]);
  }

  async startProcess(target: string, argv: string[], opts: StartOptions): Promise<ProcessRecord> {
    const p = this.where.of(target);
    if (!p) return this.machine.startProcess(target, argv, opts);
    const agent = this.agentOf(target);
    if (agent) {
      // on a remote engine: inside the container (removing it reaps the process), its PID
      // and start time that machine's, asked of the agent there
      // machine's, found by the agent; a node's guests booting together are one exec there
      const started = await this.starts.start(p.container, opts.logFile, this.inTargetArgv(p, argv), opts.env);
      if (!started) throw new ExitedAtOnce(opts.role, target, opts.logFile);
      return { ...started, role: opts.role, target, engine: agent.engine };
    }
    const cpid = p.vmNetns ? await this.containers.pidOf(p.container) : undefined;
    // A guest's processes through the helper, into the VM's namespace as its node's
    // container holds it (/proc/PID/root/run/netns/VM): one request, not a docker exec
    // each. Deliberate difference: they live in the machine's mount and PID namespaces,
    // not the node container's; a guest is a machine of its own, and what it shares with
    // its node is the NIC's far end, which is the same. They are stopped by PID (and
    // found by their namespace when a run dies before it recorded them: destroy).
    // A node's processes (and a guest's in a lab built by another process) through the engine.
    const pid =
      p.vmNetns && this.helper && cpid
        ? await this.helper.spawn(`/proc/${cpid}/root/run/netns/${p.vmNetns}`, opts.logFile, opts.env ?? {}, argv)
        : await this.startInContainer(p, argv, opts);
    const ticks = pid ? await startTicks(pid) : null;
    if (!pid || ticks === null) throw new ExitedAtOnce(opts.role, target, opts.logFile);
    const record = { pid, startTicks: ticks, role: opts.role, target };
    if (p.vmNetns && !this.residents.has(target)) this.residents.set(target, record);
    return record;
  }

  /** Starts argv where `p` is through the engine's exec, detached; its PID on the engine's machine (0: it never ran). */
  private startInContainer(p: Placement, argv: string[], opts: StartOptions): Promise<number> {
    // sh redirects and execs; `ip netns exec` execs: the command keeps the exec's PID
    return this.containers.startDetached(p.container, ['sh', '-c', 'log=$0; exec "$@" >>"$log" 2>&1', opts.logFile, ...this.inTargetArgv(p, argv)], opts.env);
  }

  /**
   * In a container a process is ready once it is past `sh` and `ip netns exec` and in its
   * target: a node's namespace is named on this machine (attached), a VM's is named inside
   * its node's container (/proc/PID/root/run/netns/VM).
   */
  private async inTarget(proc: ProcessRecord): Promise<boolean> {
    const p = this.where.of(proc.target);
    if (!p) return inTarget(proc);
    if (!(await isSameProcess(proc.pid, proc.startTicks))) return false;
    const cpid = await this.containers.pidOf(p.container);
    const inode = p.vmNetns ? ((await stat(`/proc/${cpid}/root/run/netns/${p.vmNetns}`).catch(() => null))?.ino ?? null) : await netnsInode(p.container);
    return inTarget(proc, inode, ['ip', 'sh']);
  }

  async readVmState(vm: VmPlan, resident?: ProcessRecord): Promise<VmNetState> {
    const p = this.where.of(vm.netns);
    if (!p) return this.machine.readVmState(vm, resident);
    if (this.agentOf(vm.netns)) return parseVmState(await this.vmStates.read(p.container, vm.netns, vm.nic), vm.nic);
    // from the host's /proc of the guest's resident, when it lives in the VM: no docker exec
    const living = await this.residentIn(vm.netns, resident);
    // the NIC's MAC asked of the helper in the VM's namespace: a guest started by the
    // helper sees the machine's /sys, not its namespace's
    const helper = this.helper;
    if (living) return vmStateFromProc(vm, living.pid, helper ? () => helper.mac(`/proc/${living.pid}/ns/net`, vm.nic) : undefined);
    const r = await this.exec(vm.netns, ['ip', '-j', '-batch', '-'], { input: vmStateBatch(vm.nic) });
    return parseVmState(r.stdout, vm.nic);
  }

  async listening(proc: ProcessRecord, proto: 'tcp' | 'udp', port: number): Promise<boolean> {
    // a remote process's sockets as its machine's /proc shows them; `ip netns exec` has
    // put it in its namespace before it runs, so a bound port is the target's
    if (proc.engine) return this.agents.get(proc.engine)?.portBound(proc, proto, port) ?? false;
    return (await this.inTarget(proc)) && portBound(proc.pid, proto, port);
  }

  /**
   * Probes from inside the VM: through the helper into the namespace of the VM's resident
   * (as the netns backend probes), else ping or socat run in the VM through its container.
   */
  async probe(target: string, dst: string, proto: Protocol, port: number | undefined, timeoutMs: number): Promise<ProbeOutcome> {
    const r = this.helper ? await this.residentIn(target) : null;
    if (r) return nsdProbe(this.helper!, `/proc/${r.pid}/ns/net`, target, dst, proto, port, timeoutMs);
    // a remote engine's exec has no fixed cost: a generous bound against a hung command only
    return execProbe(this, target, dst, proto, port, timeoutMs);
  }

  /** A process of the run that lives in the VM now, on this machine (the one given, or the first started there). */
  private async residentIn(target: string, given?: ProcessRecord): Promise<ProcessRecord | null> {
    for (const r of [given, this.residents.get(target)]) {
      if (r && !r.engine && r.target === target && (await this.inTarget(r))) return r;
    }
    return null;
  }

  // processes of a local engine are watched and stopped by their PID here (and files
  // shared with its containers at the same paths); a remote engine's through its agent
  async isRunning(proc: ProcessRecord): Promise<boolean> {
    if (!proc.engine) return this.machine.isRunning(proc);
    return (await this.agents.get(proc.engine)?.alive([proc]))?.[0] ?? false;
  }

  async signal(proc: ProcessRecord, sig: NodeJS.Signals): Promise<void> {
    if (!proc.engine) return this.machine.signal(proc, sig);
    await this.agents.get(proc.engine)?.signal([proc], sig);
  }

  async readFile(target: string, path: string): Promise<string | null> {
    const p = this.where.of(target);
    return p && this.agentOf(target) ? this.files.read(p.container, path) : this.machine.readFile(target, path);
  }

  async exists(target: string, path: string): Promise<boolean> {
    const p = this.where.of(target);
    return p && this.agentOf(target) ? (await this.files.read(p.container, path)) !== null : this.machine.exists(target, path);
  }

  async writeFile(target: string, path: string, text: string, mode?: number): Promise<void> {
    await this.bound.promise;
    const p = this.where.of(target);
    if (!p || !this.agentOf(target)) return this.machine.writeFile(target, path, text, mode);
    await this.made.promise;
    return this.files.write(p.container, path, text, mode);
  }

  async stopProcesses(procs: ProcessRecord[]): Promise<void> {
    await Promise.all([this.machine.stopProcesses(procs.filter((p) => !p.engine)), ...[...this.agents].map(([engine, agent]) => agent.stop(procs.filter((p) => p.engine === engine)))]);
  }

  /**
   * The containers of the run on every engine (the agents too), then every namespace
   * name it holds here (the attached ones too). A container that stays or an engine that
   * does not answer is told, after this machine's share is gone all the same: the lab is
   * left for `clean`.
   */
  async destroy(prefix: string): Promise<void> {
    // guests' processes of a local engine live outside their containers (startProcess):
    // any the run did not record (killed meanwhile) are found by the VM namespaces the
    // containers hold; a remote engine's live inside them and go with them
    const failed = await this.containers.removeRun(prefix, async (docker, ids, engine) => (engine.remote ? undefined : this.machine.stopProcesses(await processesIn(await guestNamespaces(docker, ids)))));
    await this.machine.destroy(prefix);
    if (failed.length > 0) throw new Error(`${failed.join('; ')}: what is left of ${prefix} goes with flatlab clean once the engine answers`);
  }

  close(): void {
    this.where.close();
    this.machine.close();
    this.helper?.close();
  }
}

/** A promise settled from outside (Node 20 has no Promise.withResolvers); its rejection is never unhandled. */
function settled(): { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void } {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}
