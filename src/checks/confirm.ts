/**
 * Silence is not isolation until something says it was a drop. A probe that expected a
 * drop and got no answer within its short wait is confirmed only by evidence that the
 * packet was stopped: a dropping rule on its path counted it (the jump from the target's
 * instance chain into nova-compute-sg-fallback, another DROP in a node, an ebtables DROP
 * of the fabric), the source's ARP for the target went unanswered, or one end has no
 * address. Without any of them the silence may be a slow answer under load, and the
 * check says "unconfirmed" instead of passing. Pure: counters and neighbour tables in,
 * confirmations out.
 *
 * Counting: each of these probes sends exactly one packet per attempt (one echo request,
 * one SYN within 0.2 s, one datagram), and nothing else of the run is sent to a guest's
 * address while the matrix runs, so a rule's counter is a budget of packets; each silent
 * probe takes one packet from the first rule on its path that has one left. The rule
 * naming the target's own instance chain comes first.
 */
import { INSTANCE_CHAIN, instanceChain } from '../nova/iptables.js';
import type { Plan } from '../plan/types.js';
import { EXTERNAL_SOURCE, NODE_SOURCE } from '../scenario/schema.js';
import type { DropCount } from './counters.js';
import type { DropConfirmation, ReachResult } from './types.js';

export interface SilenceEvidence {
  /** dropping rules whose counters moved during the probes */
  drops: DropCount[];
  /** per source VM, the addresses it asked for by ARP without an answer */
  unresolved: Record<string, string[]>;
  /** VMs that hold no address */
  addressless: Set<string>;
  /**
   * VMs whose kernel counted no echo request (Icmp InEchos unchanged) while only expected
   * silences were probed again at them: the requests never arrived
   */
  neverArrived?: Set<string>;
}

/** A probe that expected a drop and heard nothing: the silences this module confirms. */
export function expectedSilence(r: Pick<ReachResult, 'expected' | 'observed'>): boolean {
  return r.expected === 'unreachable' && r.observed === 'unreachable';
}

const INSTANCE_JUMP = new RegExp(`^-A (${INSTANCE_CHAIN.source.slice(1, -1)}) `);

/** Whether a dropping rule lies on the path from `src` to `dst`, and how specific it is (lower first). */
function rank(plan: Plan, d: DropCount, srcName: string, dstName: string): number | null {
  // a node's own stack (`node:NAME`) stands where its node is
  const srcNode = NODE_SOURCE.exec(srcName)?.[1];
  // the external host stands on no node: its probe enters at the node holding the floating address
  const src = srcNode !== undefined ? { node: srcNode } : srcName === EXTERNAL_SOURCE ? { node: '' } : plan.vms.find((v) => v.name === srcName)!;
  const dst = plan.vms.find((v) => v.name === dstName)!;
  const chain = INSTANCE_JUMP.exec(d.rule)?.[1];
  // another instance's chain never sees this packet (nova-compute-local jumps by destination)
  if (chain && chain !== instanceChain(dst)) return null;
  if (d.where === dst.node) return chain ? 0 : 1;
  if (d.where === 'fabric') {
    if (src.node === dst.node) return null;
    // the question crosses the port to the target's node, the answer the port back
    const port = /-o (\S+)/.exec(d.rule)?.[1];
    const portOf = (node: string): string | undefined => plan.nodes.find((n) => n.name === node)?.fabricPort;
    return port === undefined || port === portOf(dst.node) ? 2 : port === portOf(src.node) ? 3 : null;
  }
  if (d.where === src.node) return 4;
  return null;
}

/** One confirmation per silent probe that expected a drop (keyed by its index in `results`). */
export function confirmSilences(plan: Plan, results: ReachResult[], ev: SilenceEvidence): { confirmed: Map<number, DropConfirmation | null>; unexplained: DropCount[] } {
  const budget = ev.drops.map((d) => ({ d, left: d.packets }));
  const confirmed = new Map<number, DropConfirmation | null>();
  results.forEach((r, i) => {
    if (!expectedSilence(r)) return;
    const ip = (name: string): string => plan.vms.find((v) => v.name === name)!.ip;
    const noAddr = [r.from, r.to].find((v) => ev.addressless.has(v));
    if (noAddr) {
      confirmed.set(i, { by: 'no-address', text: `${noAddr} has no address` });
      return;
    }
    // a node's OUTPUT dropped it: the send itself failed, the kernel said so
    if (NODE_SOURCE.test(r.from) && /Operation not permitted/.test(r.evidence)) {
      confirmed.set(i, { by: 'local', text: `refused on ${r.from.slice('node:'.length)} before it left: "Operation not permitted" (its OUTPUT chain dropped it)` });
      return;
    }
    if (r.proto === 'icmp' && ev.neverArrived?.has(r.to)) {
      confirmed.set(i, { by: 'not-received', text: `${r.to}'s kernel counted no echo request while it was probed again (Icmp InEchos unchanged): stopped before it arrived` });
      return;
    }
    if ((ev.unresolved[r.from] ?? []).includes(ip(r.to))) {
      confirmed.set(i, { by: 'arp', text: `${r.from}'s ARP for ${ip(r.to)} got no answer` });
      return;
    }
    const candidates = budget
      .map((b) => ({ b, rank: rank(plan, b.d, r.from, r.to) }))
      .filter((c): c is { b: (typeof budget)[number]; rank: number } => c.rank !== null && c.b.left > 0)
      .sort((x, y) => x.rank - y.rank);
    const pick = candidates[0];
    if (!pick) {
      confirmed.set(i, null);
      return;
    }
    pick.b.left--;
    const where = pick.b.d.where === 'fabric' ? 'the fabric (ebtables)' : pick.b.d.where;
    confirmed.set(i, { by: 'counter', text: `counted by ${pick.b.d.rule} on ${where}` });
  });
  // a rule that dropped packets where no expected drop was counted
  const used = new Set(budget.filter((b) => b.left < b.d.packets).map((b) => b.d.where));
  const unexplained = budget.filter((b) => b.left === b.d.packets && !used.has(b.d.where)).map((b) => b.d);
  return { confirmed, unexplained };
}
