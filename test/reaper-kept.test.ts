/**
 * The reaper reads only the first two lines of a run's state file (dash's `read` takes a
 * byte per system call, and the state holds the whole plan): the writer must put "kept"
 * there, and the reaper must end when `flatlab up` marks the lab kept. No root needed.
 */
import t from 'tap';
import { execa } from 'execa';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { statePath, writeState, type RunState } from '../src/run/state.js';
import { startTicks } from '../src/backend/procfs.js';

const REAPER = fileURLToPath(new URL('../assets/reaper', import.meta.url));

t.test('a kept state ends the reaper of a live owner, read from its second line', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flatlab-reaper-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  process.env.FLATLAB_RUNTIME_DIR = join(dir, 'runtime');
  process.env.FLATLAB_REGISTRY_DIR = join(dir, 'registry');
  t.teardown(() => {
    delete process.env.FLATLAB_RUNTIME_DIR;
    delete process.env.FLATLAB_REGISTRY_DIR;
  });
  const prefix = 'fl-reapt';
  const ticks = await startTicks(process.pid);
  // a state as large as a thousand VMs' makes: "kept" must not be behind it
  const state = {
    prefix, scenario: 's', variant: 'default', file: 'f', backend: 'netns', createdAt: new Date().toISOString(),
    owner: { pid: process.pid, startTicks: ticks }, targets: {}, processes: [], plan: { filler: 'x'.repeat(1 << 20) },
    kept: false,
  } as unknown as RunState;
  await writeState(state);
  const lines = (await readFile(statePath(prefix), 'utf8')).split('\n');
  t.match(lines[1], /^\s*"kept": false,$/, 'the second line says the lab is not kept');

  // a CLI that cannot run: had the reaper taken the owner for dead it would exit non-zero
  const reaper = execa('sh', [REAPER, String(process.pid), String(ticks), statePath(prefix), process.execPath, join(dir, 'no-cli.js'), prefix], { reject: false });
  t.teardown(() => reaper.kill('SIGKILL'));
  await writeState({ ...state, kept: true });
  const r = await reaper;
  t.equal(r.exitCode, 0, `the reaper left on its own once the lab was kept ${r.stderr}`);
});
