/** Waiting for the guests' addresses and for their leases to show in the servers' records. */
import type { Plan, VmPlan } from '../plan/types.js';
import { mapLimit } from '../wait.js';
import type { Progress } from './progress.js';
import { DEFAULT_TIMEOUTS, type LabTimeouts, type RunningLab } from './running-lab.js';

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

/** A guest still waited for: for its address, then for its lease in the server's record. */
interface Pending {
  vm: VmPlan;
  stage: 'address' | 'record';
  deadline: number;
  /** how many unanswered DHCP cycles (udhcpc's leasefail) end the wait */
  failsAllowed: number;
}

/** One round's view of the lab: each lease record read once, however many guests ask. */
interface Round {
  now: number;
  readRecord(target: string, file: string): Promise<string>;
}

/** Whether a guest's own process says it is configured (or gave up); `gaveUp`: its DHCP client asked in vain often enough. */
async function addressStage(lab: RunningLab, p: Pending): Promise<{ done: boolean; gaveUp: boolean }> {
  const { backend } = lab;
  const client = lab.clients[p.vm.name]!;
  if (!(await backend.isRunning(client))) return { done: true, gaveUp: false };
  // the guest's init writes boot.log once it has applied its file (or found none): its
  // own word that it is done, not the first address it set
  if (p.vm.boot === 'injected') return { done: (await backend.readFile(p.vm.netns, `${p.vm.dir}/boot.log`)) !== null, gaveUp: false };
  const st = await backend.readVmState(p.vm, client);
  if (st.addresses.length > 0 && (st.defaultGateway !== null || p.vm.gateway === null)) return { done: true, gaveUp: false };
  if (p.vm.boot !== 'dhcp') return { done: false, gaveUp: false };
  const events = (await backend.readFile(p.vm.netns, `${p.vm.dir}/dhcp.events`)) ?? '';
  return { done: false, gaveUp: (events.match(/^leasefail /gm) ?? []).length >= p.failsAllowed };
}

/** Moves one guest on by what this round sees; true when it is no longer waited for. */
async function stepGuest(lab: RunningLab, p: Pending, round: Round, addressed: Set<string>, timeouts: LabTimeouts): Promise<boolean> {
  const { plan, backend } = lab;
  if (p.stage === 'address') {
    const { done, gaveUp } = await addressStage(lab, p);
    if (!done) return gaveUp || round.now >= p.deadline;
    if ((await backend.isRunning(lab.clients[p.vm.name]!)) || p.vm.boot === 'injected') addressed.add(p.vm.name);
    if (!leaseRecord(plan, p.vm)) return true;
    // dnsmasq records a lease (runs its --dhcp-script) after it acks: wait for that
    Object.assign(p, { stage: 'record', deadline: round.now + timeouts.leaseLogMs });
  }
  const record = leaseRecord(plan, p.vm)!;
  return (await round.readRecord(record.target, record.file)).includes(p.vm.mac) || round.now >= p.deadline;
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
  const wait = async (): Promise<{ held: number; want: number }> => {
    const t0 = performance.now();
    const pending = new Map<string, Pending>();
    for (const vm of plan.vms) {
      // nothing should configure this guest: done once its client has asked in vain
      const bare = plan.expected.addressSources[vm.name]!.kind === 'none' || plan.expected.leases[vm.name] === null;
      const p: Pending = { vm, stage: 'address', deadline: t0 + timeouts.leasesMs, failsAllowed: bare ? 1 : 2 };
      pending.set(vm.name, p);
      // a vm guest's bound counts from its boot's end (its agent's word), not from now: a
      // few boot at a time, seconds each under emulation, longer on a busy machine
      if (vm.machine && backend.guestKernel) {
        p.deadline = Infinity;
        void backend.guestKernel(vm.netns).then(
          () => (p.deadline = performance.now() + timeouts.leasesMs),
          () => (p.deadline = performance.now()),
        );
      }
    }
    // the polling interval grows with the lab: each round reads every pending guest
    const interval = Math.min(100, Math.max(10, Math.ceil(plan.vms.length / 8)));
    const addressed = new Set<string>();
    while (pending.size > 0) {
      signal.throwIfAborted();
      const records = new Map<string, Promise<string>>();
      const round: Round = {
        now: performance.now(),
        readRecord: (target, file) => {
          const key = `${target}\0${file}`;
          if (!records.has(key)) records.set(key, backend.readFile(target, file).then((t) => t ?? ''));
          return records.get(key)!;
        },
      };
      await mapLimit([...pending.values()], 64, async (p) => {
        if (await stepGuest(lab, p, round, addressed, timeouts)) pending.delete(p.vm.name);
      });
      // a poll of files the guests' clients write: no event to wait on across namespaces
      if (pending.size > 0) await new Promise((r) => setTimeout(r, interval));
    }
    // what the phase achieved: the guests that came up addressed, against those that should
    return { held: addressed.size, want: plan.vms.filter((vm) => plan.expected.leases[vm.name] !== null).length };
  };
  await progress.phase('leases', `addresses of ${plan.vms.length} guest${plan.vms.length === 1 ? '' : 's'}`, wait, ({ held, want }) => ({
    ok: held >= want,
    detail: `${held} hold one${want !== plan.vms.length || held < want ? `, ${want} should` : ''}`,
  }));
}
