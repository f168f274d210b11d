/**
 * One removal at a time per engine across processes (backend/docker/removal-lock.ts):
 * three processes of this test file each take the lock four times and write when they
 * enter and leave; no two are ever inside at once. A lock left by a dead process is taken
 * over; one held by a live process is waited for.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTicks } from '../src/backend/procfs.js';
import { lockPath, withRemovalLock } from '../src/backend/docker/removal-lock.js';

const URL_A = 'unix:///run/flatlab-test-engine.sock';

if (process.env.FLATLAB_LOCK_CHILD) {
  // a child: enters four times, writing its PID on the way in and out
  const { dir, log } = JSON.parse(process.env.FLATLAB_LOCK_CHILD) as { dir: string; log: string };
  // all three start their turns together, once the test has seen each ready
  await appendFile(log, `ready ${process.pid}\n`);
  while (!(await readFile(join(dir, 'go'), 'utf8').catch(() => null))) await new Promise((r) => setTimeout(r, 2));
  for (let k = 0; k < 4; k++) {
    await withRemovalLock(
      URL_A,
      async () => {
        await appendFile(log, `in ${process.pid}\n`);
        // inside long enough for the others, polling, to come in if the lock let them
        await new Promise((r) => setTimeout(r, 10));
        await appendFile(log, `out ${process.pid}\n`);
      },
      dir,
    );
  }
  process.exit(0);
}

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'flatlab-lock-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('three processes, twelve turns: never two inside at once', async (t) => {
  const dir = await tempDir(t);
  const log = join(dir, 'log');
  await writeFile(log, '');
  const self = fileURLToPath(import.meta.url);
  const children = [1, 2, 3].map(
    () =>
      new Promise<number | null>((resolve) => {
        const c = spawn(process.execPath, [...process.execArgv, self], { env: { ...process.env, FLATLAB_LOCK_CHILD: JSON.stringify({ dir, log }) }, stdio: 'ignore' });
        t.teardown(() => void c.kill('SIGKILL'));
        c.on('exit', resolve);
      }),
  );
  while ((await readFile(log, 'utf8')).split('\n').filter((l) => l.startsWith('ready')).length < 3) await new Promise((r) => setTimeout(r, 5));
  await writeFile(join(dir, 'go'), 'go');
  t.same(await Promise.all(children), [0, 0, 0], 'each child took its four turns');
  const lines = (await readFile(log, 'utf8')).trim().split('\n').filter((l) => !l.startsWith('ready'));
  t.equal(lines.length, 24);
  let inside: string | null = null;
  let overlaps = 0;
  for (const l of lines) {
    const [what, pid] = l.split(' ');
    if (what === 'in') {
      if (inside !== null) overlaps++;
      inside = pid!;
    } else {
      if (inside !== pid) overlaps++;
      inside = null;
    }
  }
  t.equal(overlaps, 0, 'every "in" is followed by the same process\'s "out"');
  t.same((await readdir(dir)).sort(), ['go', 'log'], 'no lock file or temporary file left');
});

t.test("a dead holder's lock is taken over; a live holder's is waited for", async (t) => {
  const dir = await tempDir(t);
  const path = lockPath(URL_A, dir);
  // this process's PID with a start time it does not have: a process gone since
  await writeFile(path, `${process.pid} 1\n`);
  t.equal(await withRemovalLock(URL_A, async () => 'ran', dir), 'ran', 'the dead holder (wrong start time) was taken over');
  // a live holder: this process itself, as another process would hold it
  await writeFile(path, `${process.pid} ${await startTicks(process.pid)}\n`);
  let released = false;
  const waiting = withRemovalLock(URL_A, async () => released, dir);
  // let the waiter look at the lock a few times before the holder lets go
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 5));
  released = true;
  await rm(path);
  t.equal(await waiting, true, 'it ran only once the live holder had let go');
});

t.test('within one process the turns queue in order, and a failure does not keep the lock', async (t) => {
  const dir = await tempDir(t);
  const order: number[] = [];
  const runs = [0, 1, 2, 3].map((i) =>
    withRemovalLock(
      URL_A,
      async () => {
        order.push(i);
        if (i === 1) throw new Error('engine said no');
      },
      dir,
    ).catch((e: Error) => e.message),
  );
  t.same(await Promise.all(runs), [undefined, 'engine said no', undefined, undefined]);
  t.same(order, [0, 1, 2, 3]);
  t.same(await readdir(dir), [], 'released after the failure too');
});
