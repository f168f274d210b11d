/** Starting the processes the plan lists, and waiting for the servers among them to be ready. */
import { ExitedAtOnce, type ProcessRecord } from '../backend/backend.js';
import type { ProcessPlan } from '../plan/types.js';
import { pollUntil } from '../wait.js';
import { track, type LabTimeouts, type RunningLab } from './running-lab.js';

/** Starts a planned process and records it in the run's state before anything else. */
export async function startPlanned(lab: Pick<RunningLab, 'backend' | 'state'>, p: ProcessPlan): Promise<ProcessRecord> {
  const started = await lab.backend.startProcess(p.target, p.argv, { ...(p.env ? { env: p.env } : {}), logFile: p.logFile, role: p.role, owner: p.owner });
  return track(lab.state, p.role === 'guest-vm' ? { ...started, owner: p.owner } : started);
}

/**
 * Starts a server and waits until it is bound to its port; fails with its log if it dies.
 * `expectExit`: a server the scenario's fault keeps from starting (dnsmasq without its
 * address), started as nova started it and watched until it exits (its own failure, in
 * its log); its exit is the event, since dnsmasq binds its DHCP socket (0.0.0.0:67)
 * before the DNS one on the missing address fails, so a port bound on the way proves
 * nothing. Still running at the bound, the fault did not take.
 */
export async function startServer(
  lab: Pick<RunningLab, 'backend' | 'state'>,
  server: ProcessPlan,
  signal: AbortSignal,
  timeouts: LabTimeouts,
  expectExit = false,
): Promise<ProcessRecord | null> {
  const { backend } = lab;
  let p: ProcessRecord;
  try {
    p = await startPlanned(lab, server);
  } catch (err) {
    // gone before its start could even be recorded: the failure a fault is about
    if (expectExit && err instanceof ExitedAtOnce) return null;
    throw err;
  }
  if (expectExit) {
    const exited = await pollUntil(async () => !(await backend.isRunning(p)), { timeoutMs: timeouts.serviceMs, signal });
    if (!exited) throw new Error(`${server.what} is still running although its fault should keep it from starting`);
    return null;
  }
  const listens = server.listens!;
  // both asked at once each round (a remote engine's answers are a round trip each)
  const up = await pollUntil(
    async () => {
      const [running, bound] = await Promise.all([backend.isRunning(p), backend.listening(p, listens.proto, listens.port)]);
      return !running || bound;
    },
    { timeoutMs: timeouts.serviceMs, signal },
  );
  if (!up || !(await backend.isRunning(p))) {
    const log = ((await backend.readFile(server.target, server.logFile)) ?? '').trim().split('\n').slice(-3).join(' / ');
    throw new Error(`${server.what} did not start${log ? `: ${log}` : ''}`);
  }
  return p;
}
