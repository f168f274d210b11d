/**
 * The way out, by real connections: each guest connects to the external host, which
 * answers with the source address it saw. Behind nova's SNAT that is the gateway
 * node's my_ip, which also tells which node routed the guest out.
 */
import type { Backend } from '../backend/backend.js';
import type { Plan } from '../plan/types.js';
import { mapLimit } from '../run/wait.js';
import type { EgressResult, Verdict } from './types.js';

export async function runEgressChecks(backend: Backend, plan: Plan, timeoutMs = 1000, concurrency = 16): Promise<EgressResult[]> {
  const ext = plan.external;
  if (!ext) return [];
  const target = `${ext.ip}:${ext.echoPort}`;
  return mapLimit(plan.expected.egress, concurrency, async (e) => {
    const vm = plan.vms.find((v) => v.name === e.vm)!;
    // no way out expected: one short attempt, as for any expected silence
    const secs = ((e.source === null ? Math.min(timeoutMs, 300) : timeoutMs) / 1000).toFixed(2);
    const r = await backend.exec(vm.netns, ['socat', '-T', secs, '-u', `TCP4:${target},connect-timeout=${secs}`, 'STDOUT'], { timeoutMs: timeoutMs + 2000 });
    const seen = r.stdout.trim().split('\n')[0] ?? '';
    const ok = r.exitCode === 0 && /^\d+\.\d+\.\d+\.\d+$/.test(seen);
    const err = r.stderr.trim().split('\n').pop()?.replace(/^.*socat\[\d+\] E /, '');
    return {
      vm: e.vm,
      via: e.via,
      expectedSource: e.source,
      observedSource: ok ? seen : null,
      evidence: ok ? `the external host ${ext.ip} saw the connection from ${seen}` : `no connection to ${target}: ${err || 'timed out'}`,
    };
  });
}

export function egressVerdicts(results: EgressResult[]): Verdict[] {
  return results.map((r) => {
    const ok = r.observedSource === r.expectedSource;
    return {
      kind: 'egress',
      subject: r.vm,
      expected: r.expectedSource === null ? `no way out (through ${r.via})` : `reaches the external host as ${r.expectedSource} (SNAT by ${r.via})`,
      observed: r.observedSource ? `seen as ${r.observedSource}` : 'no connection',
      ok,
      ...(ok ? {} : { detail: r.evidence }),
    };
  });
}
