/**
 * Reachability by real packets: each check sends from inside the source VM's namespace.
 * All checks run at once (bounded); an expected-unreachable check waits only a short
 * timeout, since on one machine a reply that comes at all comes within milliseconds.
 */
import type { Backend, ProbeOutcome } from '../backend/backend.js';
import type { Plan, ReachExpectation, VmPlan } from '../plan/types.js';
import { mapLimit } from '../run/wait.js';
import { NeighbourBudget, neighbourTableFulls } from './neigh-budget.js';
import type { ReachResult, Verdict } from './types.js';

export interface ReachOptions {
  /** how long a reachable-expected probe waits for a reply, per attempt */
  positiveTimeoutMs: number;
  /** attempts for a reachable-expected probe (the first may pay for ARP) */
  positiveAttempts: number;
  /** how long an unreachable-expected probe waits for a reply */
  negativeTimeoutMs: number;
  /** probes in flight at once; by default what the backend says it handles well */
  concurrency?: number;
}

export const DEFAULT_REACH: ReachOptions = { positiveTimeoutMs: 1000, positiveAttempts: 2, negativeTimeoutMs: 200 };

export async function runReachChecks(backend: Backend, plan: Plan, opts: ReachOptions = DEFAULT_REACH, budget = NeighbourBudget.forMachine()): Promise<ReachResult[]> {
  const vms = new Map(plan.vms.map((v) => [v.name, v]));
  const fullsBefore = neighbourTableFulls();
  const first = await mapLimit(plan.expected.reach, opts.concurrency ?? backend.probeConcurrency ?? 16, (e) => checkOne(backend, vms, e, opts, budget));
  // When the machine's neighbour table refused entries meanwhile, a probe may have been
  // dropped by this machine before it left: the probes that did not see what was
  // expected are sent again, fewer at once, and say so. A real drop is seen again.
  const fullsAfter = neighbourTableFulls();
  if (fullsBefore === null || fullsAfter === null || fullsAfter === fullsBefore) return first;
  const again = first.flatMap((r, i) => (r.observed !== r.expected ? [i] : []));
  if (again.length === 0) return first;
  await new Promise((r) => setTimeout(r, 2000));
  const second = await mapLimit(again, 16, (i) => checkOne(backend, vms, plan.expected.reach[i]!, opts, budget));
  again.forEach((i, k) => {
    const r = second[k]!;
    first[i] = { ...r, evidence: `${r.evidence} (sent again: the machine's neighbour table refused ${fullsAfter - fullsBefore} ARP entries during the first round)` };
  });
  return first;
}

/** One expectation, probed from inside the source VM. */
async function checkOne(backend: Backend, vms: Map<string, VmPlan>, e: ReachExpectation, opts: ReachOptions, budget: NeighbourBudget): Promise<ReachResult> {
  const from = vms.get(e.from)!;
  const to = vms.get(e.to)!;
  await budget.admit(from.netns, to.netns);
  const t0 = performance.now();
  // An expected answer gets a second chance (the first may pay for ARP); an expected
  // silence gets one short attempt: on one machine an answer comes within milliseconds.
  const positive = e.expect !== 'unreachable';
  let outcome: ProbeOutcome = { observed: 'unreachable', evidence: '' };
  for (let i = 0; i < (positive ? opts.positiveAttempts : 1); i++) {
    outcome = await backend.probe(from.netns, to.ip, e.proto, e.port, positive ? opts.positiveTimeoutMs : opts.negativeTimeoutMs);
    if (outcome.observed === e.expect) break;
  }
  return {
    from: e.from,
    to: e.to,
    proto: e.proto,
    ...(e.port !== undefined ? { port: e.port } : {}),
    expected: e.expect,
    observed: outcome.observed,
    evidence: outcome.evidence,
    durationMs: Math.round(performance.now() - t0),
    source: e.source,
    reason: e.reason,
  };
}

export function reachVerdicts(results: ReachResult[]): Verdict[] {
  return results.map((r) => ({
    kind: 'reach',
    subject: `${r.from} -> ${r.to} ${r.proto}${r.port !== undefined ? `/${r.port}` : ''}`,
    expected: r.expected,
    observed: r.observed,
    ok: r.expected === r.observed,
    ...(r.expected !== r.observed ? { detail: `${r.evidence}; expected because ${r.reason}` } : {}),
  }));
}
