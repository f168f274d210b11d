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
 * Where flatlab differs from a pure Docker setup: the run's runtime directory and
 * flatlab's assets are bind-mounted into the node containers at the same paths, so the
 * plan's file paths (dnsmasq hosts and lease files, the guests' records) hold in both
 * backends; a node's processes are started through the engine's exec API, a guest's
 * through flatlab-nsd into its VM's namespace, and all are watched by their host PID,
 * which this one machine allows. Every engine must therefore run on this machine (a
 * second one in its own network namespace, scripts/second-engine.sh); its nodes are
 * placed by the plan (plan/span.ts) and its share of the fabric joined by VXLAN
 * (span-fabric.ts).
 */
import { mkdir, stat } from 'node:fs/promises';
import { EnvironmentError } from '../../errors.js';
import type { Plan, Protocol, VmPlan } from '../../plan/types.js';
import { ASSETS_DIR, NATIVE_DIR } from '../../assets.js';
import { ExitedAtOnce, type Backend, type BackendOptions, type ExecOptions, type ExecResult, type ProbeOutcome, type ProcessRecord, type StartOptions, type VmNetState } from '../backend.js';
import { execProbe } from '../exec-probe.js';
import { NetnsBackend } from '../netns/netns-backend.js';
import { ipBatch } from '../netns/ip.js';
import { isSameProcess, portBound, startTicks } from '../procfs.js';
import { realiseTopology, type TopologyOps } from '../realise.js';
import { parseVmState, vmStateBatch, vmStateFromProc } from '../vm-state.js';
import { Nsd, nsdProbe } from '../netns/nsd.js';
import { DEFAULT_ENGINE, defaultEngineUrl, ensureEngine, ensureHere, type EngineSpec } from './engine.js';
import { Containers, guestNamespaces } from './containers.js';
import { copyNodeImage, NODE_IMAGE, nodeImageExists } from './image.js';
import { joinAcrossEngines } from './span-fabric.js';
import { SEGMENT_MTU } from '../../plan/span.js';
import { inTarget, netnsInode, processesIn } from '../namespaces.js';

export { RUN_LABEL } from './containers.js';

interface Placement {
  container: string;
  /** the VM namespace inside the container, when the target is a VM */
  vmNetns?: string;
}

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
  /** the first process started in each VM: its /proc shows the VM's network */
  private readonly residents = new Map<string, ProcessRecord>();
  /** the engines, in the order given: the first is this machine's (it holds the plan's fabric) */
  private readonly engines: EngineSpec[];
  private readonly containers: Containers;
  /** plan target (namespace name) -> where it lives; host namespaces are absent */
  private placements = new Map<string, Placement>();

  constructor(private readonly options: BackendOptions = {}) {
    this.engines = options.engines?.length ? options.engines : [{ name: DEFAULT_ENGINE, url: defaultEngineUrl() }];
    this.containers = new Containers(this.engines);
  }

  reachOptions(): BackendOptions {
    return { ...this.options, engines: this.engines };
  }

  async preflight(): Promise<void> {
    await this.machine.preflight();
    await Promise.all(this.engines.map((e) => ensureEngine(this.containers.client(e.name), e.url, this.engines.length > 1 ? e.name : undefined)));
    await Promise.all(this.engines.map((e) => ensureHere(this.containers.client(e.name), e.url, e.name)));
    const [home, ...others] = this.engines;
    if (!(await nodeImageExists(this.containers.client(home!.name)))) {
      throw new EnvironmentError(`the compute-node image ${NODE_IMAGE} is missing${others.length ? ` on engine ${home!.name}` : ''}`, 'build it: flatlab image build');
    }
    if (others.length > 0 && !this.options.underlay) {
      throw new EnvironmentError(
        'several engines need an underlay: the network namespace of this machine where the fabric meets the other engines',
        '--underlay NETNS (scripts/second-engine.sh start makes flatlab-underlay-a); never the root namespace',
      );
    }
    // engines share no registry: the others get the image from the first, once
    for (const e of others) {
      if (await nodeImageExists(this.containers.client(e.name))) continue;
      process.stderr.write(`flatlab: engine ${e.name} has no ${NODE_IMAGE}: copying it from engine ${home!.name}…\n`);
      await copyNodeImage(this.containers.client(home!.name), this.containers.client(e.name));
    }
  }

  /** Learns where each of the plan's targets lives (also for a lab built earlier). */
  bind(plan: Plan): void {
    this.placements = new Map();
    const home = this.engines[0]!.name;
    for (const n of plan.nodes) {
      this.placements.set(n.netns, { container: n.netns });
      this.containers.engineOf.set(n.netns, plan.span?.placement[n.name] ?? home);
    }
    for (const v of plan.vms) this.placements.set(v.netns, { container: plan.nodes.find((n) => n.name === v.node)!.netns, vmNetns: v.netns });
    // a share of the fabric is a container holding a namespace, reached by its attached name
    for (const site of plan.span?.sites ?? []) this.containers.engineOf.set(site.netns, site.engine);
  }

  async createTopology(plan: Plan): Promise<void> {
    this.bind(plan);
    await realiseTopology(plan, this.topology);
  }

  /**
   * Where the realiser's work goes: the machine's namespaces and the nodes' (attached
   * under their plan names) through the machine backend; a node's own batch inside its
   * container, where its guests' namespaces are; a guest's sysctls inside its container,
   * one shell per container walking its guests.
   */
  private readonly topology: TopologyOps = {
    createTargets: async (plan) => {
      await mkdir(plan.runtimeDir, { recursive: true, mode: 0o755 });
      const hostNs = [plan.fabric.netns, ...[plan.external, plan.dhcpServer].flatMap((h) => (h ? [h.netns] : []))];
      const sites = plan.span?.sites ?? [];
      const [, nodePids, sitePids] = await Promise.all([
        ipBatch(null, hostNs.map((ns) => `netns add ${ns}`)),
        Promise.all(plan.nodes.map((n) => this.startNode(plan, n.netns, n.name))),
        // each engine's share of the fabric: a container holding a network namespace
        Promise.all(sites.map((site) => this.containers.start(site.engine, plan, site.netns, `fabric-${site.engine}`, {}))),
      ]);
      // the containers' namespaces under the plan's names: the plan's wiring names them so
      await ipBatch(null, [...plan.nodes.map((n, i) => `netns attach ${n.netns} ${nodePids[i]}`), ...sites.map((site, i) => `netns attach ${site.netns} ${sitePids[i]}`)]);
      await Promise.all(plan.nodes.map((n) => this.containers.batch(n.netns, plan.vms.filter((v) => v.node === n.name).map((v) => `netns add ${v.netns}`))));
    },
    batch: (target, lines) => (this.placements.has(target) ? this.containers.batch(this.placements.get(target)!.container, lines) : ipBatch(target, lines)),
    setSysctls: async (entries) => {
      const inContainers = new Map<string, [string, Record<string, string>][]>();
      const onMachine: [string, Record<string, string>][] = [];
      for (const e of entries) {
        const p = this.placements.get(e[0]);
        if (p?.vmNetns) inContainers.set(p.container, [...(inContainers.get(p.container) ?? []), e]);
        else onMachine.push(e);
      }
      await Promise.all([
        ...onMachine.map(([target, values]) => this.machine.setSysctls(target, values)),
        ...[...inContainers].map(async ([container, list]) => {
          const args = list.filter(([, v]) => Object.keys(v).length > 0).flatMap(([ns, v]) => [ns, Object.entries(v).map(([k, x]) => `${k}=${x}`).join(' ')]);
          if (args.length === 0) return;
          const r = await this.containers.exec(container, ['sh', '-c', 'while [ $# -gt 1 ]; do ip netns exec "$1" sysctl -q -w $2 || exit 1; shift 2; done', 'sh', ...args]);
          if (r.exitCode !== 0) throw new Error(`sysctls of the guests in ${container} failed: ${r.stderr.trim()}`);
        }),
      ]);
    },
    joinFabric: async (plan) => {
      const [name, address] = this.options.underlay!.split('@') as [string, string | undefined];
      const vteps = new Map<string, string>();
      try {
        // one helper per other engine, in its host network: where that machine's underlay is
        await Promise.all(
          plan.span!.sites.map(async (site) => {
            const helper = `${plan.prefix}-vtep-${site.engine}`;
            // in the host's network it has the host's hostname: the hostname check does not apply
            await this.containers.start(site.engine, plan, helper, `vtep-${site.engine}`, { NetworkMode: 'host', PidMode: 'host', CapAdd: ['NET_ADMIN', 'SYS_ADMIN'], SecurityOpt: ['apparmor=unconfined'] }, false);
            vteps.set(site.engine, helper);
          }),
        );
        const mtu = await joinAcrossEngines(plan, {
          underlay: { netns: name, ...(address ? { address } : {}) },
          vtepExec: (engine, argv) => this.containers.exec(vteps.get(engine)!, argv),
          pidOf: (netns) => this.containers.pids.get(netns)!,
        });
        if (mtu < SEGMENT_MTU) process.stderr.write(`flatlab: the underlay between engines leaves the fabric ${mtu} bytes (not ${SEGMENT_MTU}): larger frames are lost between engines; give the underlay ${SEGMENT_MTU + 50}\n`);
      } finally {
        await Promise.all([...vteps.values()].map((h) => this.containers.remove(h)));
      }
    },
  };

  /** Creates and starts a node's container on its engine; returns its host PID. */
  private async startNode(plan: Plan, name: string, node: string): Promise<number> {
    const pid = await this.containers.start(this.containers.engineOf.get(name) ?? this.engines[0]!.name, plan, name, node, {
      // ip netns, bridges, iptables and tcpdump inside the node; mount for ip netns exec
      CapAdd: ['NET_ADMIN', 'NET_RAW', 'SYS_ADMIN'],
      SecurityOpt: ['apparmor=unconfined'],
      Binds: [`${ASSETS_DIR}:${ASSETS_DIR}:ro`, `${NATIVE_DIR}:${NATIVE_DIR}:ro`, `${plan.runtimeDir}:${plan.runtimeDir}`],
    });
    // sysctls (ip_forward, bridge-nf-call-iptables) are the node's own: make /proc/sys writable in it
    const r = await this.containers.exec(name, ['mount', '-o', 'remount,rw', '/proc/sys']);
    if (r.exitCode !== 0) throw new Error(`cannot make /proc/sys writable in ${name}: ${r.stderr.trim()}`);
    return pid;
  }

  /** The command line that runs argv where `target` lives (inside its VM namespace, if any). */
  private inTargetArgv(p: Placement, argv: string[]): string[] {
    return p.vmNetns ? ['ip', 'netns', 'exec', p.vmNetns, ...argv] : argv;
  }

  async exec(target: string, argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const p = this.placements.get(target);
    if (!p) return this.machine.exec(target, argv, opts);
    // input on the exec's own stream; past the bound the command is killed where it runs
    return this.containers.exec(p.container, this.inTargetArgv(p, argv), opts);
  }

  /** `docker exec` into the node's container (and `ip netns exec` into a VM's namespace there). */
  interactiveArgv(target: string, argv: string[], tty: boolean): string[] {
    const p = this.placements.get(target);
    if (!p) return this.machine.interactiveArgv(target, argv);
    const engine = this.engines.find((e) => e.name === this.containers.engineOf.get(p.container));
    const at = engine && engine.url !== defaultEngineUrl() ? ['-H', engine.url] : [];
    return ['docker', ...at, 'exec', '-i', ...(tty ? ['-t'] : []), p.container, ...this.inTargetArgv(p, argv)];
  }

  async setSysctls(target: string, values: Record<string, string>): Promise<void> {
    await this.topology.setSysctls([[target, values]]);
  }

  async startProcess(target: string, argv: string[], opts: StartOptions): Promise<ProcessRecord> {
    const p = this.placements.get(target);
    if (!p) return this.machine.startProcess(target, argv, opts);
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

  /** Starts argv where `p` is through the engine's exec, detached; its host PID (0: it never ran). */
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
    const p = this.placements.get(proc.target);
    if (!p) return inTarget(proc);
    if (!(await isSameProcess(proc.pid, proc.startTicks))) return false;
    const cpid = await this.containers.pidOf(p.container);
    const inode = p.vmNetns ? ((await stat(`/proc/${cpid}/root/run/netns/${p.vmNetns}`).catch(() => null))?.ino ?? null) : await netnsInode(p.container);
    return inTarget(proc, inode, ['ip', 'sh']);
  }

  async readVmState(vm: VmPlan, resident?: ProcessRecord): Promise<VmNetState> {
    if (!this.placements.has(vm.netns)) return this.machine.readVmState(vm, resident);
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
    return (await this.inTarget(proc)) && portBound(proc.pid, proto, port);
  }

  /**
   * Probes from inside the VM: through the helper into the namespace of the VM's resident
   * (as the netns backend probes), else ping or socat run in the VM through its container.
   */
  async probe(target: string, dst: string, proto: Protocol, port: number | undefined, timeoutMs: number): Promise<ProbeOutcome> {
    const r = this.helper ? await this.residentIn(target) : null;
    if (r) return nsdProbe(this.helper!, `/proc/${r.pid}/ns/net`, target, dst, proto, port, timeoutMs);
    return execProbe(this, target, dst, proto, port, timeoutMs);
  }

  /** A process of the run that lives in the VM now (the one given, or the first started there). */
  private async residentIn(target: string, given?: ProcessRecord): Promise<ProcessRecord | null> {
    for (const r of [given, this.residents.get(target)]) {
      if (r && r.target === target && (await this.inTarget(r))) return r;
    }
    return null;
  }

  // processes are watched and stopped by their host PID, files are shared with the
  // containers at the same paths: the machine's way serves both
  isRunning(proc: ProcessRecord): boolean {
    return this.machine.isRunning(proc);
  }

  signal(proc: ProcessRecord, sig: NodeJS.Signals): void {
    this.machine.signal(proc, sig);
  }

  readFile(target: string, path: string): Promise<string | null> {
    return this.machine.readFile(target, path);
  }

  writeFile(target: string, path: string, text: string, mode?: number): Promise<void> {
    return this.machine.writeFile(target, path, text, mode);
  }

  stopProcesses(procs: ProcessRecord[]): Promise<void> {
    return this.machine.stopProcesses(procs);
  }

  /**
   * The containers of the run on every engine, then every namespace name it holds (the
   * attached ones too). A container that stays or an engine that does not answer is
   * told, after this machine's share is gone all the same: the lab is left for `clean`.
   */
  async destroy(prefix: string): Promise<void> {
    // guests' processes live outside their containers (startProcess): any the run did not
    // record (killed meanwhile) are found by the VM namespaces the containers hold
    const failed = await this.containers.removeRun(prefix, async (docker, ids) => this.machine.stopProcesses(await processesIn(await guestNamespaces(docker, ids))));
    await this.machine.destroy(prefix);
    if (failed.length > 0) throw new Error(`${failed.join('; ')}: what is left of ${prefix} goes with flatlab clean once the engine answers`);
  }

  close(): void {
    this.machine.close();
    this.helper?.close();
  }
}
