/**
 * A probe by the guest's own tools, one process per attempt: ping for icmp, socat for tcp
 * and udp, run inside the source VM. The way for a backend that has no helper of its own
 * inside the target (the Docker backend; the netns backend where flatlab-nsd was not built).
 */
import type { Protocol } from '../plan/types.js';
import type { Backend, ProbeOutcome } from './backend.js';

/** Said in every udp probe; the listener echoes it back. */
export const PROBE_TOKEN = 'flatlab-probe';

/**
 * `slackMs`: how long past the probe's own timeout the command may take before it is
 * killed as hung. The probe's verdict is its tool's (ping -W, socat's timeouts); the bound
 * only ends a command that never returns, so it must cover what starting the command
 * costs: a remote engine's exec, through its API under load, took over 2 s here, and a
 * local one on a machine kept busy by other labs' container churn did too (a probe killed
 * before its tool ran reads as "unreachable": a negative that proved nothing, a positive
 * that flipped). Generous, then: the tools' own timeouts end every probe that runs.
 */
export const EXEC_PROBE_SLACK_MS = 30_000;

/**
 * The ping command: iputils' (a node's, a container's), or busybox's in a vm guest, which
 * has no -n (it never resolves an address anyway) and takes -W in whole seconds.
 */
export function pingArgv(dst: string, timeoutMs: number, ping: 'iputils' | 'busybox'): string[] {
  if (ping === 'busybox') return ['ping', '-q', '-c', '1', '-W', String(Math.max(1, Math.ceil(timeoutMs / 1000))), dst];
  return ['ping', '-n', '-q', '-c', '1', '-W', (timeoutMs / 1000).toFixed(2), dst];
}

export async function execProbe(
  backend: Pick<Backend, 'exec'>,
  fromNs: string,
  dst: string,
  proto: Protocol,
  port: number | undefined,
  timeoutMs: number,
  slackMs = EXEC_PROBE_SLACK_MS,
  ping: 'iputils' | 'busybox' = 'iputils',
): Promise<ProbeOutcome> {
  const secs = (timeoutMs / 1000).toFixed(2);
  const opts = { timeoutMs: timeoutMs + slackMs };
  if (proto === 'icmp') {
    const r = await backend.exec(fromNs, pingArgv(dst, timeoutMs, ping), opts);
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
  // socat never sees an end of a UDP "connection": it waits the whole -t after its input
  // ends, so that wait is the probe's timeout (a loaded machine may echo late).
  const idle = timeoutMs / 1000;
  const r = await backend.exec(fromNs, ['socat', '-T', idle.toFixed(2), '-t', idle.toFixed(2), '-', `UDP4:${target}`], { ...opts, input: `${PROBE_TOKEN}\n` });
  if (r.stdout.includes(PROBE_TOKEN)) return { observed: 'reachable', evidence: `udp datagram to ${target} echoed` };
  if (/refused/i.test(r.stderr)) return { observed: 'refused', evidence: `udp to ${target}: ICMP port unreachable` };
  return { observed: 'unreachable', evidence: `no udp answer from ${target} within ${timeoutMs} ms (dropped)` };
}
