/**
 * The reaper reads only the first two lines of a run's state file (dash's `read` takes a
 * byte per system call, and the state holds the whole plan): the writer must put "kept"
 * there, and the reaper must end when `flatlab up` marks the lab kept. No root needed.
 */
import t, { type Test } from 'tap';
import { execa } from 'execa';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { statePath, writeState, type RunState } from '../src/run/state.js';
import { startTicks } from '../src/backend/procfs.js';

const REAPER = fileURLToPath(new URL('../assets/reaper', import.meta.url));

/** A temp folder of the test's own holding its runtime and registry folders (the environment points there until it ends). */
async function ownFolders(t: Test, name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), name));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  process.env.FLATLAB_RUNTIME_DIR = join(dir, 'runtime');
  process.env.FLATLAB_REGISTRY_DIR = join(dir, 'registry');
  t.teardown(() => {
    delete process.env.FLATLAB_RUNTIME_DIR;
    delete process.env.FLATLAB_REGISTRY_DIR;
  });
  return dir;
}

t.test('a kept state ends the reaper of a live owner, read from its second line', async (t) => {
  const dir = await ownFolders(t, 'flatlab-reaper-');
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

t.test('the state file reads back as the state, with its latest processes', async (t) => {
  const { serialise } = await import('../src/run/state.js');
  const plan = { nodes: [{ name: 'n0' }], vms: [] };
  const base = {
    prefix: 'fl-ser', scenario: 's', variant: 'default', file: 'f', backend: 'netns', createdAt: 'now',
    owner: { pid: 1, startTicks: '2' }, targets: { n0: 'fl-ser-n0' }, processes: [] as unknown[], plan, kept: false,
  } as unknown as RunState;
  const first = serialise(base);
  t.same(JSON.parse(first), base, 'the first write holds everything');
  // the same plan object: its text is reused, the processes are the new ones
  const later = { ...base, processes: [{ pid: 10, startTicks: '3', target: 'fl-ser-n0', argv: ['x'] }], kept: true } as unknown as RunState;
  const text = serialise(later);
  t.same(JSON.parse(text), later, 'a later write holds the process started since');
  t.match(text.split('\n')[1], /^\s*"kept": true,$/, 'kept on the second line');
});

t.test("processes started after the state's last write are read from its journal; an orphan journal is stale", async (t) => {
  const { appendProcess, readStates, removeState, removeStaleFiles, journalPath } = await import('../src/run/state.js');
  const { writeFile: write } = await import('node:fs/promises');
  await ownFolders(t, 'flatlab-journal-');
  const prefix = 'fl-journ';
  const first = { pid: 11, startTicks: '5', target: 'fl-journ-n0', argv: ['dnsmasq'] };
  const state = {
    prefix, scenario: 's', variant: 'default', file: 'f', backend: 'netns', createdAt: 'now',
    owner: { pid: process.pid, startTicks: '1' }, targets: {}, processes: [first], plan: { vms: [] }, kept: false,
  } as unknown as RunState;
  await writeState(state);
  const later = { pid: 12, startTicks: '6', target: 'fl-journ-v0', argv: ['busybox', 'udhcpc'] };
  state.processes.push(later as never);
  await appendProcess(state, later as never);
  // the first process journalled again (a full write raced the append): read once
  await appendProcess(state, first as never);
  const [read] = (await readStates()).filter((s) => s.prefix === prefix);
  t.same(read?.processes.map((p) => p.pid), [11, 12], 'the state file and the journal, each process once');
  await removeState(prefix);
  t.same((await readStates()).filter((s) => s.prefix === prefix), [], 'removed with its journal');
  await write(journalPath(statePath(prefix)), JSON.stringify(later) + '\n');
  const stale = await removeStaleFiles(() => true, prefix);
  t.same(stale, [journalPath(statePath(prefix))], 'a journal without its state file is removed by clean');
});
