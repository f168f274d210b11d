/**
 * SIGINT/SIGTERM during a run: abort the run's work, let its `finally` tear everything
 * down, then exit 130/143. A second signal while tearing down is ignored (with a word),
 * since leaving half a lab behind is worse than waiting a second.
 */
import { InterruptedError } from '../errors.js';

export async function withSignals<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  let seen = 0;
  const handler = (sig: NodeJS.Signals): void => {
    seen++;
    if (seen === 1) {
      process.stderr.write(`\n  ${sig}: stopping and tearing down…\n`);
      ac.abort(new InterruptedError(sig));
    } else {
      process.stderr.write(`  still tearing down; flatlab exits when the lab is gone\n`);
    }
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  process.on('SIGHUP', handler);
  try {
    return await fn(ac.signal);
  } finally {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
    process.off('SIGHUP', handler);
  }
}
