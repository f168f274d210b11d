/**
 * Reachability by real packets: each check sends from inside the source VM's namespace.
 * All checks run at once (bounded).
 *
 * What a verdict rests on:
 * - A probe is sent again only while what it observed differs from what is expected, and
 *   every attempt is kept: a cell that passed after a differing attempt is "flaky".
 * - An answer where a drop is expected is a failure at once: it is never retried.
 * - An expected drop waits only a short time (on one machine an answer comes within
 *   milliseconds), so silence alone proves nothing under load: it must be confirmed by
 *   the counter of the rule that dropped it, an unanswered ARP, or a missing address
 *   (confirm.ts). Unconfirmed silences are probed again, a round at a time, each round
 *   between two counter readings; what stays unconfirmed fails as "unconfirmed".
 */
import type { Backend, NeighbourEntry, ProbeOutcome } from '../backend/backend.js';
import type { Plan, ReachExpectation, VmPlan } from '../plan/types.js';
import { mapLimit } from '../wait.js';
import { confirmSilences, expectedSilence } from './confirm.js';
import { dropsBetween, readCounters, type DropCount } from './counters.js';
import { NeighbourBudget, NeighbourLedger, neighbourTableFulls, type NeighbourPacer } from './neigh-budget.js';
import { SAMPLE_ABOVE } from '../plan/oracle.js';
import type { ReachAttempt, ReachResult, Verdict } from './types.js';
import { EXTERNAL_SOURCE, NODE_SOURCE } from '../scenario/schema.js';

export interface ReachOptions {
  /** how long a probe expected to be answered waits for its answer, per attempt */
  positiveTimeoutMs: number;
  /** attempts for a probe expected to be answered, while it observes something else */
  positiveAttempts: number;
  /** how long a probe expected to be dropped waits for an answer */
  negativeTimeoutMs: number;
  /** rounds in which unconfirmed silences are probed again */
  confirmRounds: number;
  /** probes in flight at once; by default what the backend says it handles well */
  concurrency?: number;
}

/**
 * An answer that comes at all comes within milliseconds on one machine, but a loaded one
 * may take longer: the positive wait costs nothing when the answer comes, so it is long.
 */
export const DEFAULT_REACH: ReachOptions = { positiveTimeoutMs: 2000, positiveAttempts: 2, negativeTimeoutMs: 200, confirmRounds: 2 };

export interface ReachRun {
  results: ReachResult[];
  /** dropping rules that counted packets where no expected drop was counted */
  unexpectedDrops: DropCount[];
  /** a large lab's guests' neighbour entries as they were when released after their probes (by VM) */
  released?: Record<string, NeighbourEntry[]>;
}

export interface ReachContext {
  /** VMs that hold no address (observed before the probes) */
  addressless: Set<string>;
  budget?: NeighbourPacer;
}

/** Whether a neighbour entry was resolved (an address that answered ARP). */
export const resolvedEntry = (e: NeighbourEntry): boolean => e.mac !== null && e.state !== 'FAILED' && e.state !== 'INCOMPLETE';

/**
 * Large labs (above SAMPLE_ABOVE VMs) on a backend that can release neighbour entries:
 * the nodes' entries (dnsmasq's, one per client it answered) released before the probes,
 * and each guest's once its last probe of the round is done, what they held kept as the
 * observation. The table then never holds more than the probes under way need, instead
 * of every entry of the run until the kernel's timers let them go.
 */
function releaser(backend: Backend, plan: Plan): { before(): Promise<void>; after(e: ReachExpectation): Promise<string[]>; released: Record<string, NeighbourEntry[]> } | null {
  const release = backend.releaseNeighbours?.bind(backend);
  if (!release || plan.vms.length <= SAMPLE_ABOVE) return null;
  const byName = new Map(plan.vms.map((v) => [v.name, v]));
  const remaining = new Map<string, number>();
  for (const e of plan.expected.reach) for (const v of new Set([e.from, e.to])) if (byName.has(v)) remaining.set(v, (remaining.get(v) ?? 0) + 1);
  const released: Record<string, NeighbourEntry[]> = {};
  return {
    released,
    before: async () => {
      await mapLimit(plan.nodes, 16, (n) => release(n.netns));
    },
    // the namespaces released after this probe
    after: async (e) => {
      const done: string[] = [];
      for (const v of new Set([e.from, e.to])) {
        const left = remaining.get(v);
        if (left === undefined) continue;
        remaining.set(v, left - 1);
        if (left - 1 !== 0) continue;
        const vm = byName.get(v)!;
        released[v] = [...(released[v] ?? []), ...(await release(vm.netns))];
        done.push(vm.netns);
      }
      return done;
    },
  };
}

export async function runReachChecks(backend: Backend, plan: Plan, opts: ReachOptions = DEFAULT_REACH, ctx: ReachContext = { addressless: new Set() }): Promise<ReachRun> {
  // every source a check may name: a VM, or `node:NAME` (the node's own namespace)
  // or `external` (the external host, to floating addresses)
  const vms = new Map<string, Pick<VmPlan, 'netns' | 'ip'>>([
    ...plan.vms.map((v) => [v.name, v] as const),
    ...plan.nodes.map((n) => [`node:${n.name}`, { netns: n.netns, ip: n.bridgeIp ?? '' }] as const),
    ...(plan.external ? [[EXTERNAL_SOURCE, { netns: plan.external.netns, ip: plan.external.ip }] as const] : []),
  ]);
  const releasing = releaser(backend, plan);
  const budget: NeighbourPacer = ctx.budget ?? (releasing ? NeighbourLedger.forMachine() : NeighbourBudget.forMachine());
  if (releasing) await releasing.before();
  const concurrency = opts.concurrency ?? backend.probeConcurrency ?? 16;
  const expectsDrops = plan.expected.reach.some((e) => e.expect === 'unreachable');
  const fullsBefore = neighbourTableFulls();
  let before = expectsDrops ? await readCounters(backend, plan) : null;
  const results = await mapLimit(plan.expected.reach, concurrency, async (e) => {
    const r = await checkOne(backend, vms, e, opts, budget);
    if (releasing) for (const ns of await releasing.after(e)) budget.released?.(ns);
    return r;
  });
  // When the machine's neighbour table refused entries meanwhile, a probe may have been
  // dropped by this machine before it left: the probes that did not see what was
  // expected are sent again, fewer at once, and say so. A real drop is seen again.
  const fullsAfter = neighbourTableFulls();
  if (fullsBefore !== null && fullsAfter !== null && fullsAfter !== fullsBefore) {
    const again = results.flatMap((r, i) => (r.observed !== r.expected ? [i] : []));
    if (again.length > 0) {
      // the kernel cannot reclaim an entry younger than 5 s: let the refused ones age out
      // (a bound on the table, not on the network: the probes are sent again after it)
      await new Promise((r) => setTimeout(r, 2000));
      const second = await mapLimit(again, 16, (i) => checkOne(backend, vms, plan.expected.reach[i]!, opts, budget));
      again.forEach((i, k) => {
        const r = second[k]!;
        results[i] = { ...retried(results[i]!, r), evidence: `${r.evidence} (sent again: the machine's neighbour table refused ${fullsAfter - fullsBefore} ARP entries during the first round)` };
      });
    }
  }
  const released = releasing ? { released: releasing.released } : {};
  if (!before) return { results, unexpectedDrops: [], ...released };

  // Confirm every silence that was expected to be a drop; probe the unconfirmed again.
  let unexpectedDrops: DropCount[] = [];
  // targets whose kernel counted no echo request during the last round of probes again
  let neverArrived = new Set<string>();
  for (let round = 0; ; round++) {
    const after = await readCounters(backend, plan);
    // the guests' neighbour tables (a node's own stack is judged by its kernel's refusal or the counters)
    const silentSources = [...new Set(results.filter(expectedSilence).map((r) => r.from))].filter((v) => !NODE_SOURCE.test(v) && v !== EXTERNAL_SOURCE);
    const states = await Promise.all(silentSources.map((v) => backend.readVmState(plan.vms.find((x) => x.name === v)!)));
    const { confirmed, unexplained } = confirmSilences(plan, results, {
      drops: dropsBetween(plan, before, after),
      // what the guest's table holds now, and what it held when its entries were released
      unresolved: Object.fromEntries(silentSources.map((v, i) => [v, [...new Set([...(states[i]!.unresolved ?? []), ...(releasing?.released[v] ?? []).filter((x) => !resolvedEntry(x)).map((x) => x.ip)])]])),
      addressless: ctx.addressless,
      neverArrived,
    });
    if (round === 0) unexpectedDrops = unexplained;
    // earlier rounds' confirmations stand; this round judges only what it probed again
    for (const [i, c] of confirmed) if (results[i]!.confirmedBy == null) results[i]!.confirmedBy = c;
    const open = results.flatMap((r, i) => (expectedSilence(r) && r.confirmedBy == null ? [i] : []));
    if (open.length === 0 || round >= opts.confirmRounds) break;
    before = after;
    // Only expected silences are probed again now: a target's own count of echo requests
    // (/proc/net/snmp Icmp InEchos, in its namespace) that does not move while they are
    // sent proves they never arrived, where no rule counts the drop (a bridge that will
    // not send a frame back out of its ingress port). A slow answer would move it.
    const icmpTargets = [...new Set(open.map((i) => plan.expected.reach[i]!).filter((e) => e.proto === 'icmp').map((e) => e.to))].filter((to) => plan.vms.some((v) => v.name === to));
    const echoesBefore = await inEchos(backend, plan, icmpTargets);
    const again = await mapLimit(open, concurrency, (i) => checkOne(backend, vms, plan.expected.reach[i]!, opts, budget));
    const echoesAfter = await inEchos(backend, plan, icmpTargets);
    neverArrived = new Set(icmpTargets.filter((vm) => echoesBefore[vm] !== undefined && echoesBefore[vm] === echoesAfter[vm]));
    open.forEach((i, k) => {
      const r = again[k]!;
      // the fresh attempt decides; an answer now is a failure (a slow answer, not a drop)
      results[i] = { ...retried(results[i]!, r), durationMs: results[i]!.durationMs + r.durationMs };
    });
  }
  return { results, unexpectedDrops, ...released };
}

/** Each VM's count of echo requests its kernel received (Icmp InEchos); absent when unreadable. */
async function inEchos(backend: Backend, plan: Plan, vms: string[]): Promise<Record<string, number>> {
  const read = await Promise.all(
    vms.map(async (name) => {
      const r = await backend.exec(plan.vms.find((v) => v.name === name)!.netns, ['cat', '/proc/net/snmp']);
      return [name, r.exitCode === 0 ? snmpInEchos(r.stdout) : null] as const;
    }),
  );
  return Object.fromEntries(read.filter((x): x is readonly [string, number] => x[1] !== null));
}

/** Icmp InEchos from /proc/net/snmp (a header line of names, then a line of values). */
export function snmpInEchos(text: string): number | null {
  const lines = text.split('\n').filter((l) => l.startsWith('Icmp:'));
  if (lines.length < 2) return null;
  const names = lines[0]!.split(/\s+/);
  const values = lines[1]!.split(/\s+/);
  const at = names.indexOf('InEchos');
  return at > 0 && values[at] !== undefined ? Number(values[at]) : null;
}

/** A check probed again: the fresh result decides, every attempt of both is kept. */
function retried(first: ReachResult, again: ReachResult): ReachResult {
  return { ...again, attempts: [...(first.attempts ?? []), ...(again.attempts ?? [])] };
}

/** One expectation, probed from inside the source VM. */
async function checkOne(backend: Backend, vms: Map<string, Pick<VmPlan, 'netns' | 'ip'>>, e: ReachExpectation, opts: ReachOptions, budget: NeighbourPacer): Promise<ReachResult> {
  const from = vms.get(e.from)!;
  const to = vms.get(e.to)!;
  await budget.admit(from.netns, to.netns);
  try {
    return await probeOne(backend, from, to, e, opts);
  } finally {
    budget.done?.(from.netns, to.netns);
  }
}

async function probeOne(backend: Backend, from: Pick<VmPlan, 'netns' | 'ip'>, to: Pick<VmPlan, 'netns' | 'ip'>, e: ReachExpectation, opts: ReachOptions): Promise<ReachResult> {
  const t0 = performance.now();
  // An expected answer is asked for again while something else is observed; an expected
  // silence gets one short attempt: an answer there is a failure, never retried.
  const positive = e.expect !== 'unreachable';
  const attempts: ReachAttempt[] = [];
  let outcome: ProbeOutcome = { observed: 'unreachable', evidence: '' };
  for (let i = 0; i < (positive ? opts.positiveAttempts : 1); i++) {
    const timeoutMs = positive ? opts.positiveTimeoutMs : opts.negativeTimeoutMs;
    outcome = await backend.probe(from.netns, e.toIp ?? to.ip, e.proto, e.port, timeoutMs);
    attempts.push({ observed: outcome.observed, evidence: outcome.evidence, timeoutMs });
    if (outcome.observed === e.expect) break;
  }
  return {
    from: e.from,
    to: e.to,
    proto: e.proto,
    ...(e.port !== undefined ? { port: e.port } : {}),
    ...(e.toIp !== undefined ? { toIp: e.toIp } : {}),
    expected: e.expect,
    observed: outcome.observed,
    evidence: outcome.evidence,
    durationMs: Math.round(performance.now() - t0),
    source: e.source,
    reason: e.reason,
    attempts,
  };
}

/** pass, flaky (passed after a differing attempt), or fail; unconfirmed silences fail. */
export function reachVerdicts(results: ReachResult[]): Verdict[] {
  return results.map((r) => {
    const unconfirmed = expectedSilence(r) && r.confirmedBy === null;
    const ok = r.expected === r.observed && !unconfirmed;
    const tries = r.attempts ?? [];
    const flaky = ok && tries.some((a) => a.observed !== r.expected);
    const observed = unconfirmed ? 'unreachable (unconfirmed)' : r.observed;
    return {
      kind: 'reach',
      subject: `${r.from} -> ${r.to} ${r.proto}${r.port !== undefined ? `/${r.port}` : ''}`,
      expected: r.expected,
      observed,
      ok,
      ...(r.confirmedBy ? { confirmedBy: r.confirmedBy.text } : {}),
      ...(flaky ? { flaky: true } : {}),
      ...(tries.length > 1 ? { tries: tries.map((a) => `${a.observed}: ${a.evidence}`) } : {}),
      ...(ok
        ? {}
        : {
            detail: unconfirmed
              ? `${r.evidence}, but no dropping rule on its path counted it and its ARP was answered: a slow answer cannot pass as a drop; expected because ${r.reason}`
              : `${r.evidence}; expected because ${r.reason}`,
          }),
    };
  });
}
