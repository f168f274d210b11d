/**
 * Reachability by real packets: each check sends from inside the source VM's namespace.
 * All checks run at once (bounded); an expected-unreachable check waits only a short
 * timeout, since on one machine a reply that comes at all comes within milliseconds.
 */
import type { Backend } from '../backend/backend.js';
import type { Plan, Protocol, Reachability, ReachExpectation } from '../plan/types.js';
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

export const DEFAULT_REACH: ReachOptions = { positiveTimeoutMs: 1000, positiveAttempts: 2, negativeTimeoutMs: 200, concurrency: 16 };

interface ProbeOutcome {
  observed: Reachability;
  evidence: string;
}

const TOKEN = 'flatlab-probe';

/** One real attempt from inside the source VM. */
export async function probe(backend: Backend, fromNs: string, dst: string, proto: Protocol, port: number | undefined, timeoutMs: number): Promise<ProbeOutcome> {
  const secs = (timeoutMs / 1000).toFixed(2);
  const opts = { timeoutMs: timeoutMs + 2000 };
  if (proto === 'icmp') {
    const r = await backend.exec(fromNs, ['ping', '-n', '-q', '-c', '1', '-W', secs, dst], opts);
    if (r.exitCode === 0) {
      const rtt = /= [\d.]+\/([\d.]+)\//.exec(r.stdout)?.[1];
      return { observed: 'reachable', evidence: `echo reply from ${dst}${rtt ? ` in ${rtt} ms` : ''}` };
    }
    const err = r.stderr.trim().split('\n').pop();
    return { observed: 'unreachable', evidence: err ? `ping: ${err.replace(/^ping: /, '')}` : `no echo reply from ${dst} within ${timeoutMs} ms` };
  }
  const target = `${dst}:${port}`;
  if (proto === 'tcp') {
    const r = await backend.exec(fromNs, ['socat', '-u', 'OPEN:/dev/null', `TCP4:${target},connect-timeout=${secs}`], opts);
    if (r.exitCode === 0) return { observed: 'reachable', evidence: `tcp connection to ${target} established` };
    if (/refused/i.test(r.stderr)) return { observed: 'refused', evidence: `tcp connection to ${target} refused (reset)` };
    return { observed: 'unreachable', evidence: `no answer to tcp SYN to ${target} within ${timeoutMs} ms (dropped)` };
  }
  // udp: the target echoes; silence means dropped, ICMP port unreachable means refused.
  // socat never sees an end of a UDP "connection": its inactivity timeout ends it, so
  // keep that short (an echo on one machine comes back within milliseconds).
  const idle = Math.min(timeoutMs, 250) / 1000;
  const r = await backend.exec(fromNs, ['socat', '-T', idle.toFixed(2), '-t', idle.toFixed(2), '-', `UDP4:${target}`], { ...opts, input: `${TOKEN}\n` });
  if (r.stdout.includes(TOKEN)) return { observed: 'reachable', evidence: `udp datagram to ${target} echoed` };
  if (/refused/i.test(r.stderr)) return { observed: 'refused', evidence: `udp to ${target}: ICMP port unreachable` };
  return { observed: 'unreachable', evidence: `no udp answer from ${target} within ${timeoutMs} ms (dropped)` };
}

export async function runReachChecks(backend: Backend, plan: Plan, opts: ReachOptions = DEFAULT_REACH): Promise<ReachResult[]> {
  const vms = new Map(plan.vms.map((v) => [v.name, v]));
  return mapLimit(plan.expected.reach, opts.concurrency, async (e: ReachExpectation) => {
    const from = vms.get(e.from)!;
    const to = vms.get(e.to)!;
    const t0 = performance.now();
    // An expected answer gets a second chance (the first may pay for ARP); an expected
    // silence gets one short attempt: on one machine an answer comes within milliseconds.
    const positive = e.expect !== 'unreachable';
    let outcome: ProbeOutcome = { observed: 'unreachable', evidence: '' };
    for (let i = 0; i < (positive ? opts.positiveAttempts : 1); i++) {
      outcome = await probe(backend, from.netns, to.ip, e.proto, e.port, positive ? opts.positiveTimeoutMs : opts.negativeTimeoutMs);
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
  });
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
