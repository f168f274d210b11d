/**
 * The way out, by real connections: each guest connects to the external host, which
 * answers with the source address it saw, and a capture on the external host records
 * the source of every SYN. Behind nova's SNAT both are the gateway node's my_ip, which
 * also tells which node routed the guest out. Each guest connects from its own source
 * port, so its SYN can be told in the capture.
 */
import type { Backend } from '../backend/backend.js';
import { EXEC_PROBE_SLACK_MS } from '../backend/exec-probe.js';
import type { Plan } from '../plan/types.js';
import { mapLimit } from '../wait.js';
import { synCaptureFilter } from '../plan/captures.js';
import { finishCaptures, startCapture } from './capture.js';
import type { EgressAttempt, EgressResult, Verdict } from './types.js';

/** The guests' source ports: one each, so the capture tells their SYNs apart. */
const FIRST_SOURCE_PORT = 41000;
/** attempt k of guest i connects from FIRST_SOURCE_PORT + k * PORTS_PER_ATTEMPT + i */
const PORTS_PER_ATTEMPT = 2000;

/** `IP 203.0.113.11.41002 > 203.0.113.1.7: Flags [S], ...` -> port 41002 seen from 203.0.113.11 */
export function parseSynCapture(text: string, dstIp: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of text.split('\n')) {
    const m = /IP (\d+\.\d+\.\d+\.\d+)\.(\d+) > (\d+\.\d+\.\d+\.\d+)\.\d+: Flags \[S\]/.exec(line);
    if (m && m[3] === dstIp) out.set(Number(m[2]), m[1]!);
  }
  return out;
}

/** One connection attempt from a guest to the external host, from its own source port. */
async function connectOut(backend: Backend, vmNetns: string, target: string, port: number, timeoutMs: number): Promise<{ seen: string | null; evidence: string }> {
  const secs = (timeoutMs / 1000).toFixed(2);
  // socat's own timeouts end it; the exec's bound only ends one that never returns, and
  // must not cut one still starting on a loaded machine: killed before its SYN left, an
  // unSNATed guest's connection showed no SYN in the capture (seen once, two checks of
  // snat-one-nic under heavy container churn)
  const r = await backend.exec(vmNetns, ['socat', '-T', secs, '-u', `TCP4:${target},connect-timeout=${secs},sourceport=${port},reuseaddr`, 'STDOUT'], {
    timeoutMs: timeoutMs + EXEC_PROBE_SLACK_MS,
  });
  const seen = r.stdout.trim().split('\n')[0] ?? '';
  const ok = r.exitCode === 0 && /^\d+\.\d+\.\d+\.\d+$/.test(seen);
  const err = r.stderr.trim().split('\n').pop()?.replace(/^.*socat\[\d+\] E /, '');
  const host = target.split(':')[0];
  return ok ? { seen, evidence: `the external host ${host} answered that it saw the connection from ${seen}` } : { seen: null, evidence: `no connection to ${target}: ${err || 'timed out'}` };
}

export interface EgressOptions {
  /** how long a connection expected to get out waits for its answer, per attempt */
  timeoutMs: number;
  /** attempts while what is seen differs from what is expected (a way out expected) */
  attempts: number;
  /** how long a connection expected to find no way out waits (one attempt only) */
  negativeTimeoutMs: number;
  concurrency: number;
}

export const DEFAULT_EGRESS: EgressOptions = { timeoutMs: 2000, attempts: 2, negativeTimeoutMs: 300, concurrency: 16 };

export async function runEgressChecks(backend: Backend, plan: Plan, opts: EgressOptions = DEFAULT_EGRESS): Promise<EgressResult[]> {
  const ext = plan.external;
  if (!ext || plan.expected.egress.length === 0) return [];
  const target = `${ext.ip}:${ext.echoPort}`;
  const capture = await startCapture(backend, ext.netns, ext.nic, synCaptureFilter(ext.echoPort), `${ext.dir}/capture-syn.txt`);
  let results: (Omit<EgressResult, 'capturedSource'> & { port: number })[];
  let texts: string[];
  let complete: boolean;
  try {
    results = await mapLimit(plan.expected.egress, opts.concurrency, async (e, i) => {
      const vm = plan.vms.find((v) => v.name === e.vm)!;
      const attempts: EgressAttempt[] = [];
      // Tried again only while what is seen differs from what is expected and a way out
      // is expected; a connection that got out where none was expected is never retried.
      const tries = e.source === null ? 1 : opts.attempts;
      for (let k = 0; k < tries; k++) {
        const port = FIRST_SOURCE_PORT + k * PORTS_PER_ATTEMPT + i;
        const r = await connectOut(backend, vm.netns, target, port, e.source === null ? opts.negativeTimeoutMs : opts.timeoutMs);
        attempts.push({ observedSource: r.seen, evidence: r.evidence, port });
        if (r.seen === e.source) break;
      }
      const last = attempts[attempts.length - 1]!;
      return {
        vm: e.vm,
        via: e.via,
        port: last.port,
        expectedSource: e.source,
        ...(e.captured !== undefined ? { expectedCaptured: e.captured } : {}),
        observedSource: last.observedSource,
        evidence: last.evidence,
        attempts,
      };
    });
    // Every connection the external host answered sent its SYN past the capture: read the
    // capture until it holds each of those SYNs and every packet its filter let through.
    // (and the SYN of a connection whose capture is the point: one that gets out unanswered)
    const answered = results.flatMap((r) => r.attempts!.filter((a) => a.observedSource !== null || (r.expectedCaptured ?? null) !== null).map((a) => a.port));
    ({ texts, complete } = await finishCaptures(backend, [capture], {
      until: ([t]) => {
        const syns = parseSynCapture(t ?? '', ext.ip);
        return answered.every((p) => syns.has(p));
      },
    }));
  } catch (err) {
    await backend.stopProcesses([capture.proc]);
    throw err;
  }
  const syns = parseSynCapture(texts[0] ?? '', ext.ip);
  const note = complete ? '' : ' (the capture did not catch up with its filter: incomplete)';
  return results.map(({ port, ...r }) => {
    const captured = syns.get(port) ?? null;
    const attempts = r.attempts!.map((a) => ({ ...a, capturedSource: syns.get(a.port) ?? null }));
    return { ...r, attempts, capturedSource: captured, evidence: `${r.evidence}; its capture shows the SYN from ${captured ?? 'nobody'}${note}` };
  });
}

export function egressVerdicts(results: EgressResult[]): Verdict[] {
  return results.map((r) => {
    // the answer and the capture must agree with the expectation
    const wantCaptured = r.expectedCaptured !== undefined ? r.expectedCaptured : r.expectedSource;
    const ok = r.observedSource === r.expectedSource && r.capturedSource === wantCaptured;
    const tries = r.attempts ?? [];
    const flaky = ok && tries.some((a) => a.observedSource !== r.expectedSource);
    return {
      kind: 'egress',
      subject: r.vm,
      expected:
        r.expectedSource !== null
          ? `reaches the external host as ${r.expectedSource} (SNAT by ${r.via})`
          : wantCaptured
            ? `gets out unSNATed as ${wantCaptured} and no answer comes back (through ${r.via})`
            : `no way out (through ${r.via})`,
      observed: r.observedSource ? `seen as ${r.observedSource}${r.capturedSource !== r.observedSource ? ` (captured SYN from ${r.capturedSource ?? 'nobody'})` : ''}` : `no connection${r.capturedSource ? ` (captured SYN from ${r.capturedSource})` : ''}`,
      ok,
      ...(flaky ? { flaky: true } : {}),
      ...(tries.length > 1 ? { tries: tries.map((a) => `${a.observedSource ? `seen as ${a.observedSource}` : 'no connection'}: ${a.evidence}`) } : {}),
      ...(ok ? {} : { detail: r.evidence }),
    };
  });
}
