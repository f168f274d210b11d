/**
 * A lab's lifecycle: Plan -> RunningLab (built, DHCP served, guests booted) -> torn down.
 * Backend-neutral: it decides what runs where and in which order; the backend decides how.
 */
import { spawn } from 'node:child_process';
import { execa } from 'execa';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend, ProcessRecord } from '../backend/backend.js';
import { INTERFACES_PATH } from '../plan/injection.js';
import type { Plan, VmPlan } from '../plan/types.js';
import type { Progress } from './progress.js';
import { removeState, statePath, writeState, type RunState } from './state.js';
import { mapLimit, pollUntil, Slots } from '../wait.js';
import { parseIptablesSave } from '../net/iptables-save.js';

/** Files shipped with flatlab that run inside the lab. */
const asset = (name: string): string => fileURLToPath(new URL(`../../assets/${name}`, import.meta.url));
export const ASSETS = {
  dhcpbridge: asset('nova-dhcpbridge'),
  udhcpcScript: asset('udhcpc.script'),
  guestInit: asset('guest-init'),
  peerEcho: asset('peer-echo'),
  reaper: asset('reaper'),
};

const CLI = fileURLToPath(new URL('../../bin/flatlab.js', import.meta.url));

/**
 * Starts the run's reaper: a small detached watcher that removes the lab if this process
 * dies without tearing it down. It leaves by itself when the state file goes or the lab
 * is kept. Started before the state file is written, so no lab exists unwatched.
 */
export function startReaper(state: RunState): void {
  const child = spawn(
    'sh',
    [ASSETS.reaper, String(state.owner.pid), state.owner.startTicks ?? '', statePath(state.prefix), process.execPath, CLI, state.prefix],
    { detached: true, stdio: 'ignore' },
  );
  child.on('error', () => undefined);
  child.unref();
}

/**
 * Bounds on waits for events. Each is reached only when the event never comes (a
 * failure), so they are generous: a loaded machine must not turn a slow success into
 * a failure.
 */
export interface LabTimeouts {
  /** a server bound to its port */
  serviceMs: number;
  /** every guest holds an address or its client gave up (see awaitLeases) */
  leasesMs: number;
  /** a lease the guest holds shows in the server's lease record */
  leaseLogMs: number;
}

/** guests booting (between start and lease) at once in a lab larger than this */
export const BOOT_WINDOW = Number(process.env.FLATLAB_BOOT_WINDOW ?? 128);

export const DEFAULT_TIMEOUTS: LabTimeouts = { serviceMs: 15000, leasesMs: 30000, leaseLogMs: 10000 };

export interface RunningLab {
  plan: Plan;
  backend: Backend;
  state: RunState;
  /** each guest's resident process (its DHCP client, or its init): it lives in the VM for the whole run */
  clients: Record<string, ProcessRecord>;
}

/** Records a started process in the run's state file before anything else happens. */
async function track(state: RunState, p: ProcessRecord): Promise<ProcessRecord> {
  state.processes.push(p);
  await writeState(state);
  return p;
}

/** A server the lab starts: where it logs, what it is, and the socket that says it is ready. */
interface ServerOptions {
  env?: Record<string, string>;
  logFile: string;
  role: string;
  proto: 'tcp' | 'udp';
  port: number;
  what: string;
}

/**
 * Starts a server and waits until it is bound to its port; fails with its log if it dies.
 * `expectExit`: a server the scenario's fault keeps from starting (dnsmasq without its
 * address), started as nova started it and watched until it exits (its own failure, in
 * its log); its exit is the event, since dnsmasq binds its DHCP socket (0.0.0.0:67)
 * before the DNS one on the missing address fails, so a port bound on the way proves
 * nothing. Still running at the bound, the fault did not take.
 */
async function startServer(
  lab: RunningLab,
  target: string,
  argv: string[],
  opts: ServerOptions & { expectExit?: boolean },
  signal: AbortSignal,
  timeouts: LabTimeouts,
): Promise<ProcessRecord | null> {
  const { backend, state } = lab;
  let started: ProcessRecord;
  try {
    started = await backend.startProcess(target, argv, { ...(opts.env ? { env: opts.env } : {}), logFile: opts.logFile, role: opts.role });
  } catch (err) {
    // gone before its start could even be recorded: the failure a fault is about
    if (opts.expectExit && err instanceof Error && /exited at once/.test(err.message)) return null;
    throw err;
  }
  const p = await track(state, started);
  if (opts.expectExit) {
    const exited = await pollUntil(async () => !backend.isRunning(p), { timeoutMs: timeouts.serviceMs, signal });
    if (!exited) throw new Error(`${opts.what} is still running although its fault should keep it from starting`);
    return null;
  }
  const up = await pollUntil(async () => !backend.isRunning(p) || (await backend.listening(p, opts.proto, opts.port)), {
    timeoutMs: timeouts.serviceMs,
    signal,
  });
  if (!up || !backend.isRunning(p)) {
    const log = ((await backend.readFile(target, opts.logFile)) ?? '').trim().split('\n').slice(-3).join(' / ');
    throw new Error(`${opts.what} did not start${log ? `: ${log}` : ''}`);
  }
  return p;
}

/** `table/chain` -> number of rules, from iptables-restore input or iptables-save output. */
export function rulesPerChain(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const [table, t] of parseIptablesSave(text)) {
    for (const r of t.rules) out.set(`${table}/${r.chain}`, (out.get(`${table}/${r.chain}`) ?? 0) + 1);
  }
  return out;
}

/**
 * Loads a node's tables and reads them back: the checks that follow rest on these rules,
 * so a rule the kernel did not take (an iptables that rewrote or refused part of the
 * input) is an error here, not a wrong verdict later.
 */
export async function applyFirewall(backend: Backend, target: string, rules: string): Promise<void> {
  const r = await backend.exec(target, ['iptables-restore'], { input: rules });
  if (r.exitCode !== 0) throw new Error(`iptables-restore in ${target} failed: ${r.stderr.trim()}`);
  const saved = await backend.exec(target, ['iptables-save']);
  const want = rulesPerChain(rules);
  const got = rulesPerChain(saved.stdout);
  const differ = [...want].filter(([chain, n]) => got.get(chain) !== n).map(([chain, n]) => `${chain}: ${got.get(chain) ?? 0} rules of ${n}`);
  if (saved.exitCode !== 0 || differ.length > 0) throw new Error(`the firewall of ${target} is not as loaded: ${saved.exitCode !== 0 ? saved.stderr.trim() : differ.join(', ')}`);
}

/** Writes what the lab's processes read: dnsmasq files, guests' injected configs. */
async function writeFiles(plan: Plan, backend: Backend): Promise<void> {
  const writes: Promise<void>[] = [];
  for (const n of plan.nodes) {
    if (!n.dhcp) continue;
    writes.push(backend.writeFile(n.netns, n.dhcp.hostsFile, n.dhcp.hostsFileText), backend.writeFile(n.netns, n.dhcp.addnHostsFile, n.dhcp.addnHostsText));
    if (n.dhcp.optsFile) writes.push(backend.writeFile(n.netns, n.dhcp.optsFile, n.dhcp.optsText));
  }
  for (const v of plan.vms) {
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
    Promise.all([writeFiles(plan, backend), backend.createTopology(plan)]),
  );
  signal.throwIfAborted();

  await progress.phase('dhcp', 'firewalls, DHCP servers and guests', async () => {
    // Each node: forwarding and bridge netfilter on, nova's tables in place (before any
    // guest boots, as nova-compute set them up before spawning), then its dnsmasq.
    const nodeReady = new Map<string, Promise<void>>();
    const dhcpReady = new Map<string, Promise<unknown>>();
    for (const node of plan.nodes) {
      // faults that must be in place before the node's dnsmasq starts
      const early = plan.faults.filter((f) => f.phase === 'before-dhcp' && f.node === node.name);
      const ready = Promise.all([
        backend.setSysctls(node.netns, node.sysctls),
        applyFirewall(backend, node.netns, node.firewall),
        applyEbtables(backend, node.netns, [...(node.novaEbtables ?? []), ...(node.nwfilter ?? [])]),
      ]).then(() => applyFaultList(lab, early, dhcpReady));
      nodeReady.set(node.name, ready);
      const d = node.dhcp;
      if (d) {
        const argv = ['dnsmasq', ...d.argv];
        const opts = { env: d.env, logFile: `${d.dir}/dnsmasq.stderr`, role: 'dnsmasq', proto: 'udp' as const, port: 67, what: `dnsmasq on ${node.name}` };
        const failing = early.some((f) => f.type === 'dnsmasq-no-address');
        dhcpReady.set(node.name, ready.then(() => startServer(lab, node.netns, argv, { ...opts, expectExit: failing }, signal, timeouts)));
      }
    }
    const extra: Promise<unknown>[] = [];
    const ds = plan.dhcpServer;
    if (ds) {
      dhcpReady.set(
        'dhcp-server',
        startServer(lab, ds.netns, ['dnsmasq', ...ds.argv], { logFile: `${ds.dir}/dnsmasq.stderr`, role: 'dhcp-server', proto: 'udp', port: 67, what: 'the external DHCP server' }, signal, timeouts),
      );
    }
    const ext = plan.external;
    if (ext) {
      extra.push(
        startServer(lab, ext.netns, ['socat', `TCP4-LISTEN:${ext.echoPort},fork,reuseaddr`, `EXEC:${ASSETS.peerEcho}`], { logFile: `${ext.dir}/peer-echo.log`, role: 'external-echo', proto: 'tcp', port: ext.echoPort, what: 'the external host' }, signal, timeouts),
      );
    }
    // Faults hit the healthy build: every node and server first, then the faults.
    const faulted =
      plan.faults.length === 0
        ? undefined
        : Promise.all([...nodeReady.values(), ...dhcpReady.values()]).then(() => applyFaults(lab, dhcpReady));
    // Each guest boots once its node is set up and whoever configures it is listening.
    // A large lab boots its DHCP guests through a sliding window: every DHCP broadcast
    // reaches every port of the flat segment, so a thousand guests asking at once on two
    // CPUs answer each other late, time out (udhcpc waits 1 s per discover) and ask
    // again, multiplying the broadcasts. A guest leaves the window when its DHCP
    // client's script has recorded the lease (or the lease wait runs out).
    const window = plan.vms.length > BOOT_WINDOW ? new Slots(BOOT_WINDOW) : null;
    const boots = plan.vms.map(async (vm) => {
      const source = plan.expected.addressSources[vm.name]!;
      const provider = source.kind === 'dnsmasq' ? dhcpReady.get(source.node) : source.kind === 'dhcp-server' ? dhcpReady.get('dhcp-server') : undefined;
      await Promise.all([nodeReady.get(vm.node), provider, faulted]);
      signal.throwIfAborted();
      const paced = window !== null && vm.boot === 'dhcp';
      if (paced) await window.take();
      try {
        lab.clients[vm.name] = await track(state, await bootGuest(backend, vm));
        await startServices(lab, vm, signal, timeouts);
        if (paced) await pollUntil(async () => (await backend.readFile(vm.netns, `${vm.dir}/dhcp.env`)) !== null, { timeoutMs: timeouts.leasesMs, intervalMs: 50, signal });
      } finally {
        if (paced) window.give();
      }
    });
    await Promise.all([...nodeReady.values(), ...dhcpReady.values(), ...extra, ...boots]);
  });
  signal.throwIfAborted();
  return lab;
}

/** Applies the plan's faults that come after the healthy build, in order; each is a real change inside the lab. */
async function applyFaults(lab: RunningLab, dhcpReady: Map<string, Promise<unknown>>): Promise<void> {
  await applyFaultList(lab, lab.plan.faults.filter((f) => f.phase === undefined), dhcpReady);
}

/** Faults that hit a guest once it holds its address (a hand-set foreign address), before any probe. */
export async function applyAfterBootFaults(lab: Pick<RunningLab, 'plan' | 'backend'>): Promise<void> {
  await applyFaultList(lab, lab.plan.faults.filter((f) => f.phase === 'after-boot'), new Map());
}

/** nova-network's ebtables rules and libvirt's nwfilter on a node's taps, one ebtables command each, in order (before any guest boots). */
async function applyEbtables(backend: Backend, target: string, rules: string[][]): Promise<void> {
  for (const argv of rules) {
    const r = await backend.exec(target, argv);
    if (r.exitCode !== 0) throw new Error(`${argv.join(' ')} in ${target} failed: ${r.stderr.trim()}`);
  }
}

async function applyFaultList(lab: Pick<RunningLab, 'plan' | 'backend'>, faults: Plan['faults'], dhcpReady: Map<string, Promise<unknown>>): Promise<void> {
  const { plan, backend } = lab;
  for (const f of faults) {
    for (const a of f.actions) {
      if (a.kind === 'exec') {
        const r = await backend.exec(a.target, a.argv, a.input !== undefined ? { input: a.input } : {});
        if (r.exitCode !== 0) throw new Error(`fault ${f.type}: ${a.argv.join(' ')} in ${a.target} failed: ${r.stderr.trim()}`);
      } else {
        const node = plan.nodes.find((n) => n.name === a.node)!;
        await backend.writeFile(node.netns, node.dhcp!.hostsFile, a.text);
        // nova's restart_dhcp: a running dnsmasq re-reads its hosts file on SIGHUP
        const dnsmasq = (await dhcpReady.get(a.node)) as ProcessRecord | null;
        if (dnsmasq) backend.signal(dnsmasq, 'SIGHUP');
      }
    }
  }
}

/**
 * A guest's first process: busybox udhcpc, as a CirrOS guest runs it (in the foreground,
 * -f, to renew; 3 discovers 1 s apart, then 2 s before trying again), or, when nova
 * injected its configuration, an init that applies /etc/network/interfaces.
 */
function bootGuest(backend: Backend, vm: VmPlan): Promise<ProcessRecord> {
  const env = { FLATLAB_VM_DIR: vm.dir };
  if (vm.boot === 'injected') {
    return backend.startProcess(vm.netns, [ASSETS.guestInit, vm.nic], { env, logFile: `${vm.dir}/init.log`, role: 'guest-init' });
  }
  const argv = ['busybox', 'udhcpc', '-f', '-i', vm.nic, '-t', '3', '-T', '1', '-A', '2', '-s', ASSETS.udhcpcScript, '-x', `hostname:${vm.hostname}`];
  return backend.startProcess(vm.netns, argv, { env, logFile: `${vm.dir}/udhcpc.log`, role: 'dhcp-client' });
}

/**
 * The sockets tcp/udp probes aim at: one socat per port, echoing what it receives
 * (PIPE), so a probe tells an answer from a refusal and from silence.
 */
async function startServices(lab: RunningLab, vm: VmPlan, signal: AbortSignal, timeouts: LabTimeouts): Promise<void> {
  await Promise.all(
    vm.services.map((svc) => {
      const argv =
        svc.proto === 'tcp'
          ? ['socat', `TCP4-LISTEN:${svc.port},fork,reuseaddr`, 'PIPE']
          : ['socat', '-T', '1', `UDP4-RECVFROM:${svc.port},fork`, 'PIPE'];
      const logFile = `${vm.dir}/${svc.proto}-${svc.port}.log`;
      return startServer(lab, vm.netns, argv, { logFile, role: 'service', proto: svc.proto, port: svc.port, what: `${svc.proto}/${svc.port} listener in ${vm.name}` }, signal, timeouts);
    }),
  );
}

/** Where a VM's lease is recorded, and how to tell that it is there. */
function leaseRecord(plan: Plan, vm: VmPlan): { target: string; file: string } | null {
  const source = plan.expected.addressSources[vm.name]!;
  if (source.kind === 'dnsmasq') {
    const node = plan.nodes.find((n) => n.name === source.node)!;
    return node.dhcp ? { target: node.netns, file: node.dhcp.leaseLog } : null;
  }
  if (source.kind === 'dhcp-server' && plan.dhcpServer) return { target: plan.dhcpServer.netns, file: plan.dhcpServer.leaseFile };
  return null;
}

/**
 * Waits until every guest holds its address (and its lease is on record), or its DHCP
 * client says it got none. One polling loop for all guests, each round reading every
 * lease record once: a thousand guests polled one by one every 10 ms would cost more
 * than their DHCP.
 *
 * No fixed time decides "no lease": the guest's client records `leasefail` after a
 * whole cycle of discovers went unanswered (udhcpc -t 3 -T 1). A guest expected to stay
 * bare is done at its first such event; a guest expected to lease gets a second cycle
 * (a loaded machine may answer late), and the deadline is only a bound on a stuck run.
 */
export async function awaitLeases(lab: RunningLab, progress: Progress, signal: AbortSignal, timeouts: LabTimeouts = DEFAULT_TIMEOUTS): Promise<void> {
  const { plan, backend } = lab;
  await progress.phase(
    'leases',
    `addresses of ${plan.vms.length} guest${plan.vms.length === 1 ? '' : 's'}`,
    async () => {
    const t0 = performance.now();
    // address: waiting for the guest's address; record: for its lease in the server's record
    const pending = new Map<string, { vm: VmPlan; stage: 'address' | 'record'; deadline: number; failsAllowed: number }>();
    for (const vm of plan.vms) {
      // nothing should configure this guest: done once its client has asked in vain
      const bare = plan.expected.addressSources[vm.name]!.kind === 'none' || plan.expected.leases[vm.name] === null;
      pending.set(vm.name, { vm, stage: 'address', deadline: t0 + timeouts.leasesMs, failsAllowed: bare ? 1 : 2 });
    }
    const interval = Math.min(100, Math.max(10, Math.ceil(plan.vms.length / 8)));
    const addressed = new Set<string>();
    while (pending.size > 0) {
      signal.throwIfAborted();
      const now = performance.now();
      const records = new Map<string, Promise<string>>();
      const readRecord = (target: string, file: string): Promise<string> => {
        const key = `${target}\0${file}`;
        if (!records.has(key)) records.set(key, backend.readFile(target, file).then((t) => t ?? ''));
        return records.get(key)!;
      };
      await mapLimit([...pending.values()], 64, async (p) => {
        if (p.stage === 'address') {
          const client = lab.clients[p.vm.name]!;
          let done = !backend.isRunning(client);
          let gaveUp = false;
          if (!done && p.vm.boot === 'injected') {
            // the guest's init writes boot.log once it has applied its file (or found none):
            // its own word that it is done, not the first address it set
            done = (await backend.readFile(p.vm.netns, `${p.vm.dir}/boot.log`)) !== null;
          } else if (!done) {
            const st = await backend.readVmState(p.vm, client);
            done = st.addresses.length > 0 && (st.defaultGateway !== null || p.vm.gateway === null);
            if (!done && p.vm.boot === 'dhcp') {
              const events = (await backend.readFile(p.vm.netns, `${p.vm.dir}/dhcp.events`)) ?? '';
              gaveUp = (events.match(/^leasefail /gm) ?? []).length >= p.failsAllowed;
            }
          }
          if (done) {
            if (backend.isRunning(client) || p.vm.boot === 'injected') addressed.add(p.vm.name);
            const record = leaseRecord(plan, p.vm);
            if (!record) pending.delete(p.vm.name);
            // dnsmasq records a lease (runs its --dhcp-script) after it acks: wait for that
            else Object.assign(p, { stage: 'record', deadline: now + timeouts.leaseLogMs });
          } else if (gaveUp || now >= p.deadline) pending.delete(p.vm.name);
        }
        if (p.stage === 'record') {
          const record = leaseRecord(plan, p.vm)!;
          if ((await readRecord(record.target, record.file)).includes(p.vm.mac) || now >= p.deadline) pending.delete(p.vm.name);
        }
      });
      if (pending.size > 0) await new Promise((r) => setTimeout(r, interval));
    }
    // what the phase achieved: the guests that came up addressed, against those that should
    return { held: addressed.size, want: plan.vms.filter((vm) => plan.expected.leases[vm.name] !== null).length };
  },
    ({ held, want }) => ({ ok: held >= want, detail: `${held} hold one${want !== plan.vms.length || held < want ? `, ${want} should` : ''}` }),
  );
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
