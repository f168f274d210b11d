/**
 * Reachability by real packets: each check sends from inside the source VM's namespace.
 * All checks run at once (bounded); an expected-unreachable check waits only a short
 * timeout, since on one machine a reply that comes at all comes within milliseconds.
 */
import type { Backend } from '../backend/backend.js';
import type { Plan, ReachExpectation } from '../plan/types.js';
import { mapLimit } from '../run/wait.js';
import type { ReachResult, Verdict } from './types.js';

export interface ReachOptions {
  /** how long a reachable-expected probe waits for a reply, per attempt */
  positiveTimeoutMs: number;
  /** attempts for a reachable-expected probe (the first may pay for ARP) */
  positiveAttempts: number;
  /** how long an unreachable-expected probe waits for a reply */
  negativeTimeoutMs: number;
  concurrency: number;
}

export const DEFAULT_REACH: ReachOptions = { positiveTimeoutMs: 1000, positiveAttempts: 2, negativeTimeoutMs: 300, concurrency: 16 };

async function probeIcmp(backend: Backend, fromNs: string, dst: string, timeoutMs: number): Promise<{ ok: boolean; evidence: string }> {
  const r = await backend.exec(fromNs, ['ping', '-n', '-q', '-c', '1', '-W', (timeoutMs / 1000).toFixed(2), dst], {
    timeoutMs: timeoutMs + 2000,
  });
  if (r.exitCode === 0) {
    const rtt = /= [\d.]+\/([\d.]+)\//.exec(r.stdout)?.[1];
    return { ok: true, evidence: `echo reply from ${dst}${rtt ? ` in ${rtt} ms` : ''}` };
  }
  const err = r.stderr.trim().split('\n').pop();
  return { ok: false, evidence: err ? `ping: ${err.replace(/^ping: /, '')}` : `no echo reply from ${dst} within ${timeoutMs} ms` };
}

export async function runReachChecks(backend: Backend, plan: Plan, opts: ReachOptions = DEFAULT_REACH): Promise<ReachResult[]> {
  const vms = new Map(plan.vms.map((v) => [v.name, v]));
  return mapLimit(plan.expected.reach, opts.concurrency, async (e: ReachExpectation) => {
    const from = vms.get(e.from)!;
    const to = vms.get(e.to)!;
    const t0 = performance.now();
    const positive = e.expect === 'reachable';
    let result = { ok: false, evidence: '' };
    for (let i = 0; i < (positive ? opts.positiveAttempts : 1); i++) {
      result = await probeIcmp(backend, from.netns, to.ip, positive ? opts.positiveTimeoutMs : opts.negativeTimeoutMs);
      if (result.ok) break;
    }
    return {
      from: e.from,
      to: e.to,
      proto: e.proto,
      expected: e.expect,
      observed: result.ok ? 'reachable' : 'unreachable',
      evidence: result.evidence,
      durationMs: Math.round(performance.now() - t0),
      source: e.source,
    };
  });
}

export function reachVerdicts(results: ReachResult[]): Verdict[] {
  return results.map((r) => ({
    kind: 'reach',
    subject: `${r.from} -> ${r.to} ${r.proto}`,
    expected: r.expected,
    observed: r.observed,
    ok: r.expected === r.observed,
    ...(r.expected !== r.observed ? { detail: r.evidence } : {}),
  }));
}
