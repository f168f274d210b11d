/**
 * A bound on one call to a Docker engine. An engine that stops answering (a dockerd stuck
 * on a container it cannot kill, a remote machine gone) would otherwise hold a run, its
 * teardown and every test waiting on it forever: a CI run once hung 80 minutes on a
 * second engine that never finished a container removal. The call is aborted (dockerode
 * passes the signal to its HTTP request, so no socket stays open) and the error names the
 * engine and what was asked.
 *
 * This timer is a bound on failure, not a wait for state: a healthy engine answers these
 * calls in well under a second, and in seconds on a saturated machine (measured: container
 * starts of a 16x64 lab 0.1-4 s), so no verdict depends on it.
 */
export const ENGINE_CALL_MS = 120_000;

export class EngineStuckError extends Error {}

export async function engineCall<T>(engine: string, what: string, call: (abortSignal: AbortSignal) => Promise<T>, ms = ENGINE_CALL_MS): Promise<T> {
  const signal = AbortSignal.timeout(ms);
  try {
    return await call(signal);
  } catch (err) {
    if (signal.aborted) throw new EngineStuckError(`engine ${engine} did not answer within ${ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${ms} ms`} (${what}): it may be stuck; a lab left on it goes with flatlab clean once it answers`, { cause: err });
    throw err;
  }
}
