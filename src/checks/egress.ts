/**
 * The way out, by real connections: each guest connects to the external host, which
 * answers with the source address it saw, and a capture on the external host records
 * the source of every SYN. Behind nova's SNAT both are the gateway node's my_ip, which
 * also tells which node routed the guest out. Each guest connects from its own source
 * port, so its SYN can be told in the capture.
 */
import type { Backend } from '../backend/backend.js';
import type { Plan } from '../plan/types.js';
import { mapLimit, pollUntil } from '../run/wait.js';
import type { EgressResult, Verdict } from './types.js';

/** The guests' source ports: one each, so the capture tells their SYNs apart. */
const FIRST_SOURCE_PORT = 41000;

/** `IP 203.0.113.11.41002 > 203.0.113.1.7: Flags [S], ...` -> port 41002 seen from 203.0.113.11 */
export function parseSynCapture(text: string, dstIp: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of text.split('\n')) {
    const m = /IP (\d+\.\d+\.\d+\.\d+)\.(\d+) > (\d+\.\d+\.\d+\.\d+)\.\d+: Flags \[S\]/.exec(line);
    if (m && m[3] === dstIp) out.set(Number(m[2]), m[1]!);
  }
  return out;
}

export async function runEgressChecks(backend: Backend, plan: Plan, timeoutMs = 1000, concurrency = 16): Promise<EgressResult[]> {
  const ext = plan.external;
  if (!ext || plan.expected.egress.length === 0) return [];
  const target = `${ext.ip}:${ext.echoPort}`;
  const captureFile = `${ext.dir}/capture-syn.txt`;
  const capture = await backend.startProcess(ext.netns, ['tcpdump', '-p', '-n', '-l', '-i', ext.nic, `tcp dst port ${ext.echoPort} and tcp[tcpflags] & tcp-syn != 0`], {
    logFile: captureFile,
    role: 'capture',
  });
  let results: (Omit<EgressResult, 'capturedSource'> & { port: number })[];
  try {
    await pollUntil(async () => ((await backend.readFile(ext.netns, captureFile)) ?? '').includes('listening on'), { timeoutMs: 2000 });
    results = await mapLimit(plan.expected.egress, concurrency, async (e, i) => {
      const vm = plan.vms.find((v) => v.name === e.vm)!;
      const port = FIRST_SOURCE_PORT + i;
      // no way out expected: one short attempt, as for any expected silence
      const secs = ((e.source === null ? Math.min(timeoutMs, 300) : timeoutMs) / 1000).toFixed(2);
      const r = await backend.exec(vm.netns, ['socat', '-T', secs, '-u', `TCP4:${target},connect-timeout=${secs},sourceport=${port},reuseaddr`, 'STDOUT'], {
        timeoutMs: timeoutMs + 2000,
      });
      const seen = r.stdout.trim().split('\n')[0] ?? '';
      const ok = r.exitCode === 0 && /^\d+\.\d+\.\d+\.\d+$/.test(seen);
      const err = r.stderr.trim().split('\n').pop()?.replace(/^.*socat\[\d+\] E /, '');
      return {
        vm: e.vm,
        via: e.via,
        port,
        expectedSource: e.source,
        observedSource: ok ? seen : null,
        evidence: ok ? `the external host ${ext.ip} answered that it saw the connection from ${seen}` : `no connection to ${target}: ${err || 'timed out'}`,
      };
    });
    await new Promise((r) => setTimeout(r, 50));
  } finally {
    await backend.stopProcesses([capture]);
  }
  const syns = parseSynCapture((await backend.readFile(ext.netns, captureFile)) ?? '', ext.ip);
  return results.map(({ port, ...r }) => {
    const captured = syns.get(port) ?? null;
    return { ...r, capturedSource: captured, evidence: `${r.evidence}; its capture shows the SYN from ${captured ?? 'nobody'}` };
  });
}

export function egressVerdicts(results: EgressResult[]): Verdict[] {
  return results.map((r) => {
    // the answer and the capture must agree with the expectation
    const ok = r.observedSource === r.expectedSource && r.capturedSource === r.expectedSource;
    return {
      kind: 'egress',
      subject: r.vm,
      expected: r.expectedSource === null ? `no way out (through ${r.via})` : `reaches the external host as ${r.expectedSource} (SNAT by ${r.via})`,
      observed: r.observedSource ? `seen as ${r.observedSource}${r.capturedSource !== r.observedSource ? ` (captured SYN from ${r.capturedSource ?? 'nobody'})` : ''}` : `no connection${r.capturedSource ? ` (captured SYN from ${r.capturedSource})` : ''}`,
      ok,
      ...(ok ? {} : { detail: r.evidence }),
    };
  });
}
