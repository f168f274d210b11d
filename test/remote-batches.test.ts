/**
 * What flatlab asks of one remote container in a turn goes as one exec
 * (backend/docker/per-turn.ts); the scripts those execs run (remote-starts.ts,
 * remote-execs.ts, the agent's search for a container's processes) run here in a plain
 * shell on this machine, without Docker or root: each item comes back as its own, in
 * order, whatever its words hold (no shell ever parses them), and a command past its
 * bound is killed.
 */
import t from 'tap';
import { execa } from 'execa';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerTurn } from '../src/backend/docker/per-turn.js';
import { startScript } from '../src/backend/docker/remote-starts.js';
import { execResults, execScript } from '../src/backend/docker/remote-execs.js';
import { Agent } from '../src/backend/docker/agent.js';
import { isSameProcess, startTicks } from '../src/backend/procfs.js';

const run = async (argv: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> => {
  const r = await execa(argv[0]!, argv.slice(1), { reject: false, stripFinalNewline: false });
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
};

t.test('one run per key for what is asked in one turn; a later turn is another run', async (t) => {
  const runs: [string, string[]][] = [];
  const batch = new PerTurn<string>(async (key, args) => {
    runs.push([key, args]);
    return args.map((a) => `${key}:${a}`);
  });
  t.same(await Promise.all([batch.ask('n1', 'a'), batch.ask('n2', 'b'), batch.ask('n1', 'c')]), ['n1:a', 'n2:b', 'n1:c'], 'each caller gets its own answer');
  t.same(runs, [['n1', ['a', 'c']], ['n2', ['b']]], 'one run per key, the arguments in the order asked');
  await batch.ask('n1', 'd');
  t.equal(runs.length, 3, 'asked after the first batch ended: a run of its own');
  const failing = new PerTurn<string>(async () => {
    throw new Error('engine gone');
  });
  const asked = [failing.ask('k', 'x'), failing.ask('k', 'y')];
  for (const p of asked) await t.rejects(p, /engine gone/, "every caller of a failed run hears why");
});

t.test('starts: every command in the background, its PID printed in order, its log appended', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flatlab-starts-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const odd = `it's "quoted" $HOME \`x\` ; & | \n two lines`;
  const items = [
    { log: join(dir, 'a', 'one.log'), argv: ['sh', '-c', 'echo "$1"; exec sleep 60', 'sh', odd] },
    { log: join(dir, 'b', 'two.log'), argv: ['env', 'FOO=bar baz', 'sh', '-c', 'echo "$FOO"'] },
  ];
  const r = await run(startScript(items));
  t.equal(r.exitCode, 0, r.stderr);
  const pids = r.stdout.trim().split('\n').map(Number);
  t.equal(pids.length, 2, 'a PID per command');
  t.teardown(() => void execa('kill', ['-KILL', String(pids[0])], { reject: false }));
  const ticks = await startTicks(pids[0]!);
  t.ok(ticks, 'the first PID is the long-running command itself (the shell forked once and exec-ed it)');
  t.match((await readFile(`/proc/${pids[0]}/cmdline`, 'utf8')).split('\0')[0], /^sleep$/);
  // the logs' folders were made; the words reached the commands untouched
  const waitFor = async (file: string, want: string): Promise<string> => {
    for (;;) {
      const text = await readFile(file, 'utf8').catch(() => '');
      if (text.includes(want)) return text;
      await new Promise((res) => setTimeout(res, 20)); // a poll of a file another process writes: no event to wait on
    }
  };
  t.equal(await waitFor(items[0]!.log, 'two lines'), `${odd}\n`);
  t.equal(await waitFor(items[1]!.log, 'bar'), 'FOO=bar baz'.slice(4) + '\n', 'env before argv sets the variable');
  t.ok(await isSameProcess(pids[0]!, ticks!), 'still running after the starting shell ended');
});

t.test('commands at once: stdout, stderr, status per command, input on its stdin, a bound kills', async (t) => {
  const mark = '--flatlab-test-mark--';
  const items = [
    { argv: ['sh', '-c', 'echo out; echo err >&2; exit 3'] },
    { argv: ['cat'], input: 'line one\n"$(x)" \'y\'' },
    { argv: ['sleep', '30'], timeoutMs: 200 },
    { argv: ['printf', '%s', `${mark} end`] },
  ];
  const t0 = performance.now();
  const r = await run(execScript(items, mark));
  t.equal(r.exitCode, 0, r.stderr);
  t.ok(performance.now() - t0 < 20_000, 'the bounded command did not hold the batch');
  const res = execResults(r.stdout, mark, items.length, 1);
  t.match(res[2]!.stderr, /^(Killed\n)?$/, "the killed command's stderr: at most the shell's word for its death");
  t.same(res.map((x) => [x.exitCode, x.stdout, x.stderr, x.timedOut]), [
    [3, 'out', 'err\n', false],
    [0, 'line one\n"$(x)" \'y\'', '', false],
    [137, '', res[2]!.stderr, true],
    [0, `${mark} end`, '', false],
  ]);
});

t.test("the agent finds a container's processes by their PID there: here, this machine's own namespace", async (t) => {
  const agent = new Agent(async (argv) => ({ ...(await run(argv)), durationMs: 0, timedOut: false }), 'here');
  // the namespace of this test's own process (the "container's init" here); in the
  // machine's PID namespace NSpid has one field: the PID there is the PID here
  const [self, gone] = await agent.inContainer(process.pid, [process.pid, 999_999_999]);
  t.same(self, { pid: process.pid, startTicks: await startTicks(process.pid) }, "this test's own process, with its start time");
  t.equal(gone, null, 'a PID nobody has: null');
});
