/**
 * DHCP over time: every guest nova's dnsmasq serves renews its lease (RFC 2131: at T1,
 * half the lease, the client asks its server again by unicast; at T2, 7/8, it broadcasts).
 * A renewal is seen twice: dnsmasq calls its --dhcp-script with "old" for the MAC (the
 * node's lease log, what nova-dhcpbridge turned into an RPC), and the guest's client
 * script records event=renew. The lease is what dnsmasq really gives: nova passed
 * dhcp_lease_time, and dnsmasq raises anything under 120 s to 120 s (its option.c:
 * "Leases of a minute or less confuse some clients").
 */
import type { Backend } from '../backend/backend.js';
import type { Plan } from '../plan/types.js';
import { pollUntil } from '../wait.js';
import { DNSMASQ_MIN_LEASE } from '../plan/dnsmasq.js';
import { readLeaseEvents } from './observe.js';
import type { LeaseEvent, Verdict } from './types.js';

/** How a caller shows a long step (the run's progress): a label, then the work. */
export type Phase = <T>(label: string, work: () => Promise<T>) => Promise<T>;

export interface Renewal {
  vm: string;
  node: string;
  /** unix seconds of the lease and of its first renewal in the node's lease log */
  leasedAt: number | null;
  renewedAt: number | null;
  /** the guest's client script recorded a renew */
  guestRenewed: boolean;
}

/** What the lease logs and the guests' records say of each guest's renewal. Pure. */
export function renewalsOf(plan: Plan, events: LeaseEvent[], guestEvents: Record<string, string[]>): Renewal[] {
  const r = plan.expected.renewals;
  if (!r) return [];
  return r.vms.map((name) => {
    const vm = plan.vms.find((v) => v.name === name)!;
    const src = plan.expected.addressSources[name];
    const node = src?.kind === 'dnsmasq' ? src.node : vm.node;
    const mine = events.filter((e) => e.node === node && e.mac === vm.mac);
    const leased = mine.find((e) => e.event === 'add');
    const renewed = leased ? mine.find((e) => e.event === 'old' && e.time >= leased.time) : undefined;
    return { vm: name, node, leasedAt: leased?.time ?? null, renewedAt: renewed?.time ?? null, guestRenewed: (guestEvents[name] ?? []).includes('renew') };
  });
}

export function renewalVerdicts(plan: Plan, renewals: Renewal[]): Verdict[] {
  const lease = plan.expected.renewals?.leaseSeconds ?? DNSMASQ_MIN_LEASE;
  return renewals.map((x) => {
    const seen = x.renewedAt !== null && x.guestRenewed;
    const after = x.renewedAt !== null && x.leasedAt !== null ? `${x.renewedAt - x.leasedAt} s after its lease` : '';
    const observed = seen
      ? `renewed ${after} (${x.node}'s dnsmasq: old; the guest's client: renew)`
      : x.leasedAt === null
        ? `never leased by ${x.node}'s dnsmasq`
        : x.renewedAt === null
          ? `no renewal in ${x.node}'s lease log${x.guestRenewed ? ' (the guest says it renewed)' : ''}`
          : `${x.node}'s dnsmasq renewed it ${after}, but the guest's client recorded no renew`;
    return {
      kind: 'renewal' as const,
      subject: x.vm,
      expected: `renewed by T2 (${Math.floor((lease * 7) / 8)} s of a ${lease} s lease)`,
      observed,
      ok: seen,
      ...(seen ? {} : { detail: `a guest's client renews at T1 (${lease / 2} s) and rebinds at T2; ${observed}` }),
    };
  });
}

/** The records of the guests' DHCP client scripts: the event of each record, in order. */
async function guestEvents(backend: Backend, plan: Plan, vms: string[]): Promise<Record<string, string[]>> {
  const read = await Promise.all(
    vms.map(async (name) => {
      const vm = plan.vms.find((x) => x.name === name)!;
      const text = (await backend.readFile(vm.netns, `${vm.dir}/dhcp.env`)) ?? '';
      return [name, text.split('\n').filter((l) => l.startsWith('event=')).map((l) => l.slice('event='.length))] as const;
    }),
  );
  return Object.fromEntries(read);
}

/**
 * Waits until every guest has renewed, as events: the lease logs and the guests' records
 * are read every second until each shows its renewal. The bound is the protocol's own:
 * T2 (7/8 of the lease) after the latest lease, by which a client that failed to renew
 * rebinds by broadcast (a renewal too), plus 30 s for a loaded machine's timers. It is
 * reached only when a renewal never comes, so no race hides behind it; a renewal that
 * comes within it passes however late.
 */
export async function awaitRenewals(backend: Backend, plan: Plan, phase: Phase, signal?: AbortSignal): Promise<Verdict[]> {
  const r = plan.expected.renewals;
  if (!r || r.vms.length === 0) return [];
  const read = async (): Promise<Renewal[]> => renewalsOf(plan, await readLeaseEvents(backend, plan), await guestEvents(backend, plan, r.vms));
  const first = await read();
  const latest = Math.max(...first.map((x) => x.leasedAt ?? Date.now() / 1000));
  const boundMs = Math.max(0, (latest + (r.leaseSeconds * 7) / 8 + 30) * 1000 - Date.now());
  const label = `renewals of ${r.vms.length} guests (a ${r.leaseSeconds} s lease: T1 at ${r.leaseSeconds / 2} s; waiting up to ${Math.round(boundMs / 1000)} s)`;
  const final = await phase(label, async () => {
    const done = await pollUntil(async () => {
      const now = await read();
      return now.every((x) => x.renewedAt !== null && x.guestRenewed) ? now : undefined;
    }, { timeoutMs: boundMs, intervalMs: 1000, ...(signal ? { signal } : {}) });
    return done ?? (await read());
  });
  return renewalVerdicts(plan, final);
}
