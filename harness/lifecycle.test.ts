/**
 * A lab's life outside the happy path: kept with `up` and entered with `exec`,
 * interrupted with Ctrl-C mid-build, killed outright and swept by `clean`.
 */
import t from 'tap';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { runtimeRoot } from '../src/run/state.js';
import { CLI, flatlab, namespacesOf, ownRunId, prefixesFor, ROOT, rootSnapshot, skipUnlessRoot, sleep, tempDir, upOwned, writeScenario } from './lib.js';

const REFERENCE = join(ROOT, 'scenarios', 'flatdhcp-multihost.yaml');

/** A bigger cluster, so that a signal can land in the middle of the build. */
async function bigScenario(dir: string): Promise<string> {
  const vms = Array.from({ length: 24 }, (_, i) => `  vm${i}: {host: node${i % 4}}`).join('\n');
  const text = `name: big\nnova:\n  multi_host: true\n  fixed_range: 10.20.0.0/24\nnodes:\n  node0: {}\n  node1: {}\n  node2: {}\n  node3: {}\nvms:\n${vms}\n`;
  return writeScenario(dir, 'big', text);
}

async function waitForNamespaces(prefixes: string[], min = 1, timeoutMs = 10000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ns = await namespacesOf(prefixes);
    if (ns.length >= min || Date.now() > deadline) return ns;
    await sleep(2);
  }
}

t.test('up, exec, check, down', { skip: skipUnlessRoot }, async (t) => {
  const results = await tempDir(t);
  const before = await rootSnapshot();
  const up = await upOwned(t, ['flatdhcp-multihost', '--results', results]);
  t.equal(up.exitCode, 0, 'exit 0', { output: up.stdout + up.stderr });
  t.match(up.stdout, /lab fl-[0-9a-f]{6} \(variant same-net-allowed\) is up/);
  const p = up.prefix!;
  const run = ['--run', p];
  t.equal((await namespacesOf([p])).length, 7, 'the lab stays');

  const ls = await flatlab(['ls']);
  t.match(ls.stdout, new RegExp(`${p}\\s+kept\\s+flatdhcp-multihost\\/same-net-allowed\\s+netns\\s+7`));

  const addr = await flatlab(['exec', ...run, 'vm_1', '--', 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
  t.equal(addr.exitCode, 0);
  t.match(addr.stdout, /inet 10\.0\.0\.2\/24/);
  const fwd = await flatlab(['exec', ...run, 'compute2', '--', 'cat', '/proc/sys/net/ipv4/ip_forward']);
  t.equal(fwd.stdout.trim(), '1');
  const code = await flatlab(['exec', ...run, 'vm_1', '--', 'sh', '-c', 'exit 7']);
  t.equal(code.exitCode, 7, 'exec passes the exit code on');
  const unknown = await flatlab(['exec', ...run, 'vm_9', '--', 'true']);
  t.equal(unknown.exitCode, 2);
  t.match(unknown.stderr, /has no node or VM "vm_9"/);

  const healthy = await flatlab(['check', ...run]);
  t.equal(healthy.exitCode, 0, 'healthy lab: check exits 0', { output: healthy.stdout });
  const checked = JSON.parse((await flatlab(['check', ...run, '--json'])).stdout);
  t.equal(checked.ok, true, 'check --json');
  const inspect = JSON.parse((await flatlab(['inspect', ...run, '--json'])).stdout);
  t.same(inspect.nodes.map((n: any) => `${n.name} ${n.bridgeIp} ${n.uplink}`), ['compute1 10.0.0.1 eth0', 'compute2 10.0.0.4 eth0']);
  t.same(inspect.vms.map((v: any) => `${v.name} ${v.address} ${v.gateway}`), ['vm_1 10.0.0.2 10.0.0.1', 'vm_2 10.0.0.3 10.0.0.1', 'vm_3 10.0.0.5 10.0.0.4', 'vm_4 10.0.0.6 10.0.0.4'], 'inspect reads the live guests');
  t.equal(inspect.backend, 'netns');
  t.match((await flatlab(['inspect', ...run])).stdout, /vm_3\s+compute2\s+vnet\d+\s+fa:16:3e:\S+\s+10\.0\.0\.5\s+10\.0\.0\.4/);
  const missing = await flatlab(['exec', ...run, 'vm_1', '--', 'nosuchcmd']);
  t.equal(missing.exitCode, 127, 'a command that does not exist: 127, as a shell says');

  // Take compute2's uplink out of its bridge: compute2's VMs lose the other node.
  const cut = await flatlab(['exec', ...run, 'compute2', '--', 'ip', 'link', 'set', 'eth0', 'nomaster']);
  t.equal(cut.exitCode, 0);
  const broken = await flatlab(['check', ...run]);
  t.equal(broken.exitCode, 1, 'the checks observe the change');
  t.match(broken.stdout, /FAIL reach vm_1 -> vm_3 icmp: expected reachable, observed unreachable/);
  t.notMatch(broken.stdout, /FAIL reach vm_1 -> vm_2/, 'same-node traffic still flows');
  t.match(broken.stdout, /8 of 20 checks failed/, 'exactly the 8 cross-node pairs');

  const down = await flatlab(['down', p]);
  t.equal(down.exitCode, 0);
  t.match(down.stdout, new RegExp(`removed ${p} \\(7 namespaces\\)`));
  t.same(await namespacesOf([p]), []);
  t.equal(await rootSnapshot(), before, 'root namespace unchanged');
  t.equal((await flatlab(['down', '--run', p])).exitCode, 2, 'down of a lab that is gone is a user mistake');
});

t.test('Ctrl-C mid-build tears everything down', { skip: skipUnlessRoot }, async (t) => {
  const dir = await tempDir(t);
  const file = await bigScenario(dir);
  const before = await rootSnapshot();
  for (const delay of [0, 40, 150]) {
    // A terminal's Ctrl-C reaches the whole foreground process group: run flatlab in a
    // group of its own and signal the group.
    const id = ownRunId();
    const mine = prefixesFor(id);
    const child = execa('node', [CLI, 'run', file, '--results', dir], { reject: false, detached: true, env: { NO_COLOR: '1', FLATLAB_RUN_ID: id } });
    const seen = await waitForNamespaces(mine);
    t.ok(seen.length > 0, `namespaces appeared (delay ${delay} ms)`);
    await sleep(delay);
    process.kill(-child.pid!, 'SIGINT');
    const r = await child;
    t.equal(r.exitCode, 130, `exit 130 after SIGINT (delay ${delay} ms)`);
    t.same(await namespacesOf(mine), [], 'no namespace left');
    t.equal(await rootSnapshot(), before, 'root namespace unchanged');
  }
  const id = ownRunId();
  const term = execa('node', [CLI, 'run', file, '--results', dir], { reject: false, env: { NO_COLOR: '1', FLATLAB_RUN_ID: id } });
  await waitForNamespaces(prefixesFor(id), 10);
  term.kill('SIGTERM');
  t.equal((await term).exitCode, 143, 'SIGTERM: exit 143');
  t.same(await namespacesOf(prefixesFor(id)), []);
});

/** Waits until no namespace or state file of these runs remains (the reaper's work). */
async function waitForNothingLeft(prefixes: string[], timeoutMs = 8000): Promise<{ ns: string[]; states: string[] }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ns = await namespacesOf(prefixes);
    const states = (await readdir(join(runtimeRoot(), 'runs')).catch(() => [] as string[])).filter((f) => prefixes.some((p) => f.startsWith(`${p}.json`)));
    if ((ns.length === 0 && states.length === 0) || Date.now() > deadline) return { ns, states };
    await sleep(50);
  }
}

/** A small seeded generator (mulberry32): the same seed, the same delays. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

t.test('runs and ups killed with SIGKILL at random moments leave nothing once reaped and cleaned', { skip: skipUnlessRoot }, async (t) => {
  const dir = await tempDir(t);
  const before = await rootSnapshot();
  // the kill delays come from a seed, printed, so a failing sequence can be replayed (FLATLAB_KILL_SEED)
  const seed = Number(process.env.FLATLAB_KILL_SEED ?? Math.floor(Math.random() * 2 ** 31));
  t.comment(`kill delays from seed ${seed} (FLATLAB_KILL_SEED=${seed} replays them)`);
  const random = mulberry32(seed);
  const ours: string[] = [];
  for (let i = 0; i < 50; i++) {
    const id = ownRunId();
    const up = i % 2 === 1;
    const mine = prefixesFor(id, up ? 1 : 2);
    ours.push(...mine);
    t.teardown(() => flatlab(['down', '--run', mine[0]!, '--force']));
    const child = execa('node', [CLI, up ? 'up' : 'run', REFERENCE, '--results', dir], { reject: false, env: { NO_COLOR: '1', FLATLAB_RUN_ID: id } });
    const delay = Math.floor(random() * 1400);
    await sleep(delay);
    const states = await execa('sh', ['-c', `cat ${mine.map((p) => `${runtimeRoot()}/runs/${p}.json`).join(' ')} 2>/dev/null`], { reject: false });
    child.kill('SIGKILL');
    const r = await child;
    // an `up` killed after it printed its lab's id leaves a kept lab: that one is the user's to remove
    // (killed between printing and marking it kept, it is an ordinary dead run its reaper removes)
    const kept = /is up/.test(r.stdout) ? await flatlab(['down', '--run', mine[0]!]) : null;
    if (kept) t.ok(kept.exitCode === 0 || /no live lab/.test(kept.stderr), `up killed after ${delay} ms had printed its lab: down removes it, or its reaper did`, { output: kept.stderr });
    const left = await waitForNothingLeft(mine);
    t.same(left, { ns: [], states: [] }, `killed after ${delay} ms: nothing left`);
    for (const m of states.stdout.matchAll(/"pid": (\d+),\s*"startTicks": "(\d+)"/g)) {
      const stat = await readFile(`/proc/${m[1]}/stat`, 'utf8').catch(() => '');
      const alive = stat !== '' && stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] === m[2] && !/\) Z /.test(stat);
      t.notOk(alive, `process ${m[1]} of the killed run is gone`);
    }
  }
  // only this test's own runs: another job's leftovers on this machine are not ours to sweep
  for (const p of ours) {
    const clean = await flatlab(['clean', '--run', p]);
    t.equal(clean.exitCode, 0, `clean --run ${p}`);
  }
  const files = await readdir(join(runtimeRoot(), 'runs')).catch(() => [] as string[]);
  t.same(files.filter((f) => ours.some((p) => f.startsWith(`${p}.`)) && f.endsWith('.tmp')), [], 'no .tmp state file left');
  t.equal(await rootSnapshot(), before, 'root namespace unchanged');
});

t.test('clean removes what a dead run left, and only flatlab\'s objects', { skip: skipUnlessRoot }, async (t) => {
  const before = await rootSnapshot();
  // a namespace that is not flatlab's must survive clean
  await execa('ip', ['netns', 'add', 'flatlab-test-bystander']);
  t.teardown(() => execa('ip', ['netns', 'del', 'flatlab-test-bystander'], { reject: false }));
  // leftovers of a run whose reaper could not run: namespaces, a process inside, a state file
  const prefix = 'fl-0dead0';
  await execa('ip', ['-batch', '-'], { input: `netns add ${prefix}-fabric\nnetns add ${prefix}-compute1\n` });
  const sleeper = execa('ip', ['netns', 'exec', `${prefix}-compute1`, 'sleep', '600'], { reject: false, detached: true });
  await mkdir(join(runtimeRoot(), 'runs'), { recursive: true });
  await writeFile(join(runtimeRoot(), 'runs', `${prefix}.json`), JSON.stringify({ prefix, scenario: 'x', variant: 'default', file: 'x', backend: 'netns', owner: { pid: 999999, startTicks: '1' }, kept: false, createdAt: '', processes: [], targets: {} }));
  await sleep(100);
  const ls = await flatlab(['ls']);
  t.match(ls.stdout, new RegExp(`${prefix}\\s+leftover\\s+x\\s+netns\\s+2`));
  // what a bare clean would do, without doing it to other jobs' leftovers; then this one's
  const dry = await flatlab(['clean', '--dry-run']);
  t.equal(dry.exitCode, 0);
  t.match(dry.stdout, new RegExp(`would remove ${prefix} \\(2 namespaces\\)`), 'a bare clean would take the dead run');
  t.notMatch(dry.stdout, /flatlab-test-bystander/, 'and never a namespace that is not flatlab\'s');
  t.same((await namespacesOf([prefix])).length, 2, 'a dry run removes nothing');
  const clean = await flatlab(['clean', '--run', prefix]);
  t.equal(clean.exitCode, 0);
  t.match(clean.stdout, new RegExp(`removed ${prefix} \\(2 namespaces\\)`));
  t.same(await namespacesOf([prefix]), []);
  t.equal((await sleeper).signal ?? 'exited', 'SIGTERM', 'the process inside the namespace was stopped by PID');
  t.ok((await execa('ip', ['netns', 'list'])).stdout.includes('flatlab-test-bystander'), 'a foreign namespace is untouched');
  t.match((await flatlab(['clean', '--run', prefix])).stdout, /nothing to clean/);
  await execa('ip', ['netns', 'del', 'flatlab-test-bystander']);
  t.equal(await rootSnapshot(), before, 'root namespace unchanged');
});

t.test('a run killed while writing its first state leaves only a .tmp, which its reaper removes', { skip: skipUnlessRoot }, async (t) => {
  const prefix = prefixesFor(ownRunId())[0]!;
  // an owner that is gone: a process of ours, started and reaped
  const gone = execa('true');
  await gone;
  const owner = gone.pid!;
  const runs = join(runtimeRoot(), 'runs');
  await mkdir(runs, { recursive: true });
  const state = join(runs, `${prefix}.json`);
  const tmp = `${state}.${owner}.tmp`;
  await writeFile(tmp, '{"half": ');
  t.teardown(() => execa('rm', ['-f', tmp]));
  const reaper = await execa('sh', [join(ROOT, 'assets', 'reaper'), String(owner), '1', state, process.execPath, CLI, prefix], { reject: false });
  t.equal(reaper.exitCode, 0, reaper.stderr);
  t.same((await readdir(runs)).filter((f) => f.startsWith(`${prefix}.json`)), [], 'no state file and no .tmp left');
});

t.test('a down killed mid-teardown leaves a leftover that says so, and clean removes all of it', { skip: skipUnlessRoot }, async (t) => {
  const { statePath } = await import('../src/run/state.js');
  const dir = await tempDir(t);
  const file = await bigScenario(dir);
  // the teardown's window is short: a few tries, each on a fresh lab, until a kill lands inside it
  let landed: string | null = null;
  for (let attempt = 0; attempt < 5 && !landed; attempt++) {
    const up = await upOwned(t, [file, '--results', dir, '-q']);
    t.equal(up.exitCode, 0, 'up', { output: up.stdout + up.stderr });
    const prefix = up.prefix!;
    const down = execa('node', [CLI, 'down', '--run', prefix], { reject: false, env: { NO_COLOR: '1' } });
    // the observed state, not a time: kill once the state file says "tearing down"
    for (;;) {
      const text = await readFile(statePath(prefix), 'utf8').catch(() => null);
      if (text === null) break; // finished before the kill: try again
      if (text.includes('"tearingDown"')) {
        down.kill('SIGKILL');
        landed = prefix;
        break;
      }
      await sleep(2); // polling a file written once; a missed window is retried, never misjudged
    }
    await down;
  }
  if (!landed) {
    t.comment('every down finished before the kill could land (5 tries): nothing to judge');
    return;
  }
  const ls = await flatlab(['ls', '--json']);
  t.equal(JSON.parse(ls.stdout).find((r: any) => r.prefix === landed)?.status, 'dead', 'ls: a leftover, not a kept lab');
  const check = await flatlab(['check', '--run', landed]);
  t.equal(check.exitCode, 2, { output: check.stderr });
  t.match(check.stderr, /is not a live lab \(torn down halfway\): flatlab clean --run fl-\w+ removes what is left/);
  t.notMatch(check.stderr, /ENOENT|\n\s+at /, 'no raw error, no stack');
  const clean = await flatlab(['clean', '--run', landed]);
  t.equal(clean.exitCode, 0, { output: clean.stdout + clean.stderr });
  t.same(await namespacesOf([landed]), [], 'no namespace left');
  t.equal(await readFile(statePath(landed), 'utf8').catch(() => null), null, 'no state left');
  const procs = (await execa('pgrep', ['-f', landed], { reject: false })).stdout.trim();
  t.equal(procs, '', 'no process of the lab left');
});
