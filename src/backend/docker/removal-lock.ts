/**
 * One container removal at a time per engine, across every flatlab process of this
 * machine.
 *
 * Why: Debian 12's docker.io is 20.10.24, whose libnetwork can deadlock when two
 * containers of one network go away together: one container's leave
 * (`endpoint.sbLeave` -> `network.getSvcRecords`: the network's lock, then the
 * controller's) races another's endpoint delete, handled in the controller's watch loop
 * (`controller.processEndpointDelete`: the controller's lock, then `n.ID()`, the
 * network's). Every node container of flatlab is on the engine's one `none` network, and
 * a lab's containers, and parallel labs' containers, were removed together. Once the
 * watch loop is stuck, every later start and removal on that engine hangs: that is how a
 * CI run here ended, its second engine holding 4 labs' removals and 3 labs' starts for an
 * hour (the containers were found `Dead` and `Created`). The fix (libnetwork
 * 9a98d9c, "Fix deadlock between getSvcRecords and processEndpointDelete") reached the
 * 20.10 branch in October 2023 (libnetwork PR 2679), after 20.10.24.
 *
 * A removal is a leave and an endpoint delete in that order, done by the time the engine
 * answers; the watch loop takes the delete at once. Removals one at a time per engine
 * therefore never overlap a leave with another container's delete. Only this machine's
 * processes can be ordered this way: another client of a remote engine is not.
 *
 * How: a lock file per engine in /run/lock/flatlab (made by link(2), which fails when the
 * name exists, and holding its owner's PID and start time from the start). A lock whose owner is gone (a process killed while
 * removing) is taken over. Waiters look again every few milliseconds: a removal holds it
 * for a fraction of a second; a stuck engine for its call's bound (engine-call.ts) at most.
 */
import { createHash } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isSameProcess, startTicks } from '../procfs.js';

export const LOCK_DIR = '/run/lock/flatlab';

/** How long a waiter waits for a holder that is alive before going ahead anyway (a holder stuck past every bound). */
const WAIT_BOUND_MS = 300_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function lockPath(engineUrl: string, dir = LOCK_DIR): string {
  return join(dir, `engine-${createHash('sha256').update(engineUrl).digest('hex').slice(0, 16)}.lock`);
}

/** Within this process: one holder per lock file, the others queued in order. */
const local = new Map<string, Promise<unknown>>();

/** Runs `fn` holding the engine's removal lock (in this process and against every other). */
export async function withRemovalLock<T>(engineUrl: string, fn: () => Promise<T>, dir = LOCK_DIR): Promise<T> {
  const path = lockPath(engineUrl, dir);
  const before = local.get(path) ?? Promise.resolve();
  const mine = before.then(async () => {
    const held = await acquire(path);
    try {
      return await fn();
    } finally {
      if (held) await unlink(path).catch(() => undefined);
    }
  });
  local.set(
    path,
    mine.catch(() => undefined),
  );
  return mine;
}

/** True once the lock file is ours; false when a live holder outlasted the wait bound. */
async function acquire(path: string): Promise<boolean> {
  await mkdir(join(path, '..'), { recursive: true });
  const me = `${process.pid} ${await startTicks(process.pid)}\n`;
  const t0 = performance.now();
  for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
    // the lock appears with its owner already in it: written to a file of this process's
    // own, then linked to the lock's name (link fails if the name exists: O_EXCL's rule)
    const tmp = `${path}.${process.pid}`;
    await writeFile(tmp, me);
    try {
      await link(tmp, path);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
    const owner = await readFile(path, 'utf8').catch(() => null);
    if (owner !== null) {
      const [pid, ticks] = owner.trim().split(' ');
      const dead = !(pid && ticks && (await isSameProcess(Number(pid), ticks)));
      // taken over only if the file still names that dead owner (a live one may have replaced it meanwhile)
      if (dead && (await readFile(path, 'utf8').catch(() => null)) === owner) await unlink(path).catch(() => undefined);
    }
    if (performance.now() - t0 > WAIT_BOUND_MS) return false;
    await sleep(wait);
  }
}
