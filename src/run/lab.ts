/**
 * A lab's lifecycle: Plan -> RunningLab (built, DHCP served, guests booted) -> torn down.
 * Backend-neutral: it decides what runs where and in which order; the backend decides how.
 * Every process it starts is one the plan lists (plan/processes.ts).
 */
import { execa } from 'execa';
import { rm } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { Backend, ProcessRecord } from '../backend/backend.js';
import { INTERFACES_PATH } from '../plan/injection.js';
import { processesOf } from '../plan/processes.js';
import type { NodePlan, Plan, VmPlan } from '../plan/types.js';
import { pollUntil, Slots } from '../wait.js';
import { BootWindow, DhcpOverload } from './boot-window.js';
import { applyFaultList, applyFaults } from './faults.js';
import { applyEbtables, applyFirewall } from './kernel-tables.js';
import type { Progress } from './progress.js';
import { startReaper } from './reaper.js';
import { writeGuestCopies } from './guest-copies.js';
import { DEFAULT_TIMEOUTS, type LabTimeouts, type RunningLab } from './running-lab.js';
import { startPlanned, startServer } from './servers.js';
import { removeState, writeState, type RunState } from './state.js';

/**
 * Guests booting (between start and lease) at once, at most, in a lab larger than this
 * (FLATLAB_BOOT_WINDOW, read when a lab is brought up); fewer when they lease slowly.
 */
export function bootWindow(): number {
  return Number(process.env.FLATLAB_BOOT_WINDOW ?? 128);
}

/** Writes what the lab's processes read: dnsmasq files, guests' injected configs. */
async function writeFiles(plan: Plan, backend: Backend): Promise<void> {
  const writes: Promise<void>[] = [];
  for (const n of plan.nodes) {
    if (!n.dhcp) continue;
    writes.push(backend.writeFile(n.netns, n.dhcp.hostsFile, n.dhcp.hostsFileText), backend.writeFile(n.netns, n.dhcp.addnHostsFile, n.dhcp.addnHostsText));
    if (n.dhcp.optsFile) writes.push(backend.writeFile(n.netns, n.dhcp.optsFile, n.dhcp.optsText));
  }
  // a vm guest's files are in its copy of the image (guest-copies.ts)
  for (const v of plan.vms.filter((x) => !x.machine)) {
    writes.push(backend.writeFile(v.netns, `${v.dir}/dhcp.events`, ''));
    // nova's injection: the config goes into the guest's own files before it boots
    if (v.injectedConfig) writes.push(backend.writeFile(v.netns, join(v.dir, INTERFACES_PATH), v.injectedConfig));
  }
  if (plan.dhcpServer) writes.push(backend.writeFile(plan.dhcpServer.netns, plan.dhcpServer.hostsFile, plan.dhcpServer.hostsFileText));
  if (plan.external) writes.push(backend.writeFile(plan.external.netns, `${plan.external.dir}/.created`, ''));
  await Promise.all(writes);
}

export async function bringUp(
  plan: Plan,
  backend: Backend,
  state: RunState,
  progress: Progress,
  signal: AbortSignal,
  timeouts: LabTimeouts = DEFAULT_TIMEOUTS,
): Promise<RunningLab> {
  const lab: RunningLab = { plan, backend, state, clients: {} };
  startReaper(state);
  await writeState(state);
  await progress.phase('build', `namespaces, bridges and links (${plan.wiring.namespaces.length} namespaces)`, () =>
    Promise.all([writeFiles(plan, backend), writeGuestCopies(plan), backend.createTopology(plan)]),
  );
  signal.throwIfAborted();
  await progress.phase('dhcp', 'firewalls, DHCP servers and guests', async () => {
    const { nodeReady, dhcpReady } = setUpNodes(lab, signal, timeouts);
    const extra = [plan.dhcpServer, plan.external].flatMap((host) => {
      const server = host && plan.processes.find((p) => p.owner === host.name && !p.phase);
      return server ? [startServer(lab, server, signal, timeouts)] : [];
    });
    // the operator's DHCP server configures guests as a node's dnsmasq does
    if (plan.dhcpServer) dhcpReady.set('dhcp-server', extra[0]!);
    // Faults hit the healthy build: every node and server first, then the faults.
    const faulted = plan.faults.length === 0 ? undefined : Promise.all([...nodeReady.values(), ...dhcpReady.values()]).then(() => applyFaults(lab, dhcpReady));
    const { boots, window } = bootGuests(lab, { nodeReady, dhcpReady, faulted }, signal, timeouts);
    await Promise.all([...nodeReady.values(), ...dhcpReady.values(), ...extra, ...boots]);
    if (window) lab.boot = window.stats();
  });
  signal.throwIfAborted();
  return lab;
}

/**
 * Each node: forwarding and bridge netfilter on, nova's tables in place (before any guest
 * boots, as nova-compute set them up before spawning), the faults that must precede its
 * dnsmasq, then its dnsmasq. Started at once for every node; the promises say when each
 * is ready.
 */
function setUpNodes(lab: RunningLab, signal: AbortSignal, timeouts: LabTimeouts): { nodeReady: Map<string, Promise<void>>; dhcpReady: Map<string, Promise<unknown>> } {
  const { plan, backend } = lab;
  const nodeReady = new Map<string, Promise<void>>();
  const dhcpReady = new Map<string, Promise<unknown>>();
  for (const node of plan.nodes) {
    const early = plan.faults.filter((f) => f.phase === 'before-dhcp' && f.node === node.name);
    const ready = Promise.all([
      backend.setSysctls(node.netns, node.sysctls),
      applyFirewall(backend, node.netns, node.firewall),
      applyEbtables(backend, node.netns, [...node.novaEbtables, ...node.nwfilter]),
    ]).then(() => applyFaultList(lab, early, dhcpReady));
    nodeReady.set(node.name, ready);
    const dnsmasq = dnsmasqOf(plan, node);
    if (dnsmasq) {
      const failing = early.some((f) => f.type === 'dnsmasq-no-address');
      dhcpReady.set(node.name, ready.then(() => startServer(lab, dnsmasq, signal, timeouts, failing)));
    }
  }
  return { nodeReady, dhcpReady };
}

function dnsmasqOf(plan: Plan, node: NodePlan): Plan['processes'][number] | undefined {
  return processesOf(plan, node.name, 'dnsmasq')[0];
}

/**
 * Each guest boots once its node is set up and whoever configures it is listening.
 * A large lab boots its DHCP guests through a window that sizes itself to this machine
 * (boot-window.ts): every DHCP broadcast reaches every port of the flat segment, so a
 * thousand guests asking at once on two CPUs answer each other late, time out (udhcpc
 * waits 1 s per discover) and ask again, multiplying the broadcasts. A guest leaves the
 * window when its DHCP client's script has recorded the lease (or the lease wait runs out).
 */
function bootGuests(
  lab: RunningLab,
  ready: { nodeReady: Map<string, Promise<void>>; dhcpReady: Map<string, Promise<unknown>>; faulted: Promise<void> | undefined },
  signal: AbortSignal,
  timeouts: LabTimeouts,
): { boots: Promise<void>[]; window: BootWindow | null } {
  const { plan, backend } = lab;
  const width = bootWindow();
  const window = plan.vms.length > width ? new BootWindow({ max: width }) : null;
  const settle = window ? nodeSettler(lab) : null;
  // guests that should have leased and did not, in time: past a window's worth the lab is
  // more than this machine can serve, and the run ends (see DhcpOverload)
  let late = 0;
  let overload: DhcpOverload | null = null;
  // ends the other guests' waits at once when the lab is overloaded
  const machines = machineSlots(plan);
  const stop = new AbortController();
  const halted = AbortSignal.any([signal, stop.signal]);
  const boots = plan.vms.map(async (vm) => {
    const source = plan.expected.addressSources[vm.name]!;
    const provider = source.kind === 'dnsmasq' ? ready.dhcpReady.get(source.node) : source.kind === 'dhcp-server' ? ready.dhcpReady.get('dhcp-server') : undefined;
    await Promise.all([ready.nodeReady.get(vm.node), provider, ready.faulted]);
    signal.throwIfAborted();
    const paced = window !== null && vm.boot === 'dhcp';
    const admitted = paced ? await window.take() : 0;
    let leased = false;
    if (overload) {
      window?.give(admitted);
      throw overload;
    }
    // vm guests boot a few at a time (see machineSlots)
    if (vm.machine) await machines?.take();
    try {
      lab.clients[vm.name] = await bootGuest(lab, vm).finally(() => {
        if (!vm.machine) return;
        // its slot is free once its agent answers (or the guest failed): it has booted
        const booted = backend.guestKernel ? backend.guestKernel(vm.netns).catch(() => null) : Promise.resolve(null);
        void booted.then(() => machines?.give());
      });
      await Promise.all(processesOf(plan, vm.name, 'service').map((svc) => startServer(lab, svc, signal, timeouts)));
      // a poll of a file the guest's DHCP script writes: no event crosses into the guest's
      // namespace. A look for the file, not a read of it: one system call where files are
      // this machine's (reads of a window's files every 50 ms were a share of the CPU).
      const record = `${vm.dir}/dhcp.env`;
      const present = backend.exists ? () => backend.exists!(vm.netns, record) : async () => (await backend.readFile(vm.netns, record)) !== null;
      if (paced) leased = (await pollUntil(present, { timeoutMs: timeouts.leasesMs, intervalMs: 50, signal: halted })) === true;
    } finally {
      if (paced) window.give(admitted, leased);
      if (paced) await settle?.(vm);
    }
    if (paced && !leased && plan.expected.leases[vm.name] !== null && !signal.aborted && ++late >= window.minimum) {
      overload ??= new DhcpOverload(plan, late, window.stats(), timeouts.leasesMs);
      stop.abort(overload);
      throw overload;
    }
  });
  return { boots, window };
}

/**
 * How many vm guests boot at once: as many as the machine has cores (at least 2). A
 * guest's boot is CPU work under emulation (2.6 CPU-s here, TCG); sixteen at once on two
 * cores cost 4.2 CPU-s each (sixteen translation caches and guest memories in turn) and
 * starved guests answered DHCP offers after udhcpc's 1 s, so asked again and some gave up.
 */
function machineSlots(plan: Plan): Slots | null {
  const n = plan.vms.filter((v) => v.machine).length;
  const width = Math.max(2, cpus().length);
  return n > width ? new Slots(width) : null;
}

/**
 * A node's neighbour entries released once every guest it serves by DHCP is through its
 * exchange. dnsmasq answers a client that has no address yet by unicast, adding the
 * client's entry to the node's table first (Linux: its ARP ioctl), and the kernel keeps
 * one neighbour table for every namespace of the machine (gc_thresh3, 1024 by default):
 * a thousand guests' entries in their nodes filled it while the last guests still waited
 * for their offers, and the kernel refused those entries, so offers were dropped by this
 * machine, not by the modelled network (16x64: 156 refused, each a 1 s retry). Released
 * only when the node has no exchange left in flight: an entry deleted between dnsmasq's
 * insert and its send would drop that offer. A released entry is a cache entry: the next
 * packet to that guest asks by ARP again. Guests boot in plan order, a node's after the
 * other, so at most a few nodes' entries are held at once.
 */
export function nodeSettler(lab: Pick<RunningLab, 'plan' | 'backend'>): ((vm: VmPlan) => Promise<void>) | null {
  const { plan, backend } = lab;
  if (!backend.releaseNeighbours) return null;
  const left = new Map<string, number>();
  for (const vm of plan.vms) {
    const source = plan.expected.addressSources[vm.name]!;
    if (vm.boot === 'dhcp' && source.kind === 'dnsmasq') left.set(source.node, (left.get(source.node) ?? 0) + 1);
  }
  return async (vm) => {
    const source = plan.expected.addressSources[vm.name]!;
    if (vm.boot !== 'dhcp' || source.kind !== 'dnsmasq') return;
    const n = left.get(source.node)! - 1;
    left.set(source.node, n);
    const node = plan.nodes.find((x) => x.name === source.node);
    // best effort: a node whose entries cannot be released now is only paced by the kernel
    if (n === 0 && node) await backend.releaseNeighbours!(node.netns).catch(() => undefined);
  };
}

/** A guest's first process as planned: its DHCP client, the init that applies what nova injected, or its QEMU. */
function bootGuest(lab: RunningLab, vm: VmPlan): Promise<ProcessRecord> {
  const first = lab.plan.processes.find((p) => p.owner === vm.name && (p.role === 'dhcp-client' || p.role === 'guest-init' || p.role === 'guest-vm'))!;
  return startPlanned(lab, first);
}

/**
 * Removes everything of the run: its processes by PID, then every namespace carrying its
 * prefix, then its runtime files and state file. `collect` runs after the processes
 * stopped (logs complete) and before files go. Safe to call on a half-built run.
 */
export async function tearDown(
  backend: Backend,
  prefix: string,
  runtimeDir: string,
  processes: ProcessRecord[],
  collect?: () => Promise<void>,
  stateFile?: string,
): Promise<void> {
  await backend.stopProcesses(processes);
  try {
    if (collect) await collect();
  } finally {
    await backend.destroy(prefix);
    backend.close?.();
    // one `rm -rf` (the directory is the run's own, named by its prefix): Node's recursive
    // rm walks a thousand guests' directories through the thread pool ten times slower
    const r = await execa('rm', ['-rf', '--', runtimeDir], { reject: false });
    if (r.exitCode !== 0) await rm(runtimeDir, { recursive: true, force: true });
    await removeState(prefix, stateFile);
  }
}
