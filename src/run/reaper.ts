/**
 * A run's reaper: a small detached watcher (assets/reaper) that removes the lab if this
 * process dies without tearing it down.
 */
import { spawn } from 'node:child_process';
import { CLI, REAPER } from '../assets.js';
import { statePath, type RunState } from './state.js';

/**
 * Starts the run's reaper. It leaves by itself when the state file goes or the lab is
 * kept. Started before the state file is written, so no lab exists unwatched.
 */
export function startReaper(state: RunState): void {
  const child = spawn('sh', [REAPER, String(state.owner.pid), state.owner.startTicks ?? '', statePath(state.prefix), process.execPath, CLI, state.prefix], {
    detached: true,
    stdio: 'ignore',
  });
  // a reaper that cannot start leaves the lab to `flatlab clean`, as a killed one would
  child.on('error', () => undefined);
  child.unref();
}
