/**
 * Lab commands that never harm a live lab, and inputs that never hang or flood: a lab
 * run from another runtime dir survives down and clean; bad results folders, garbage
 * files and colliding names are refused at once; killed runs say so; not root is exit 3.
 */
import t from 'tap';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { asNobody, CLI, cliCopy, flatlab, namespacesOf, ownRunId, prefixesFor, readResult, ROOT, skipUnlessRoot, sleep, tempDir, upOwned, writeScenario } from './lib.js';

async function waitFor(cond: () => Promise<boolean>, timeoutMs = 15000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return true;
    await sleep(20);
  }
  return false;
}

t.test('down and clean leave a lab that another runtime dir is running intact and passing', { skip: skipUnlessRoot }, async (t) => {
  const other = await tempDir(t, 'flatlab-runtime-');
  // dnsmasq reads its hosts files as nobody: a runtime dir must let others through
  const closed = await flatlab(['run', 'flat-injected', '--results', await tempDir(t)], { env: { FLATLAB_RUNTIME_DIR: other } });
  t.equal(closed.exitCode, 3, 'a runtime dir others cannot enter is refused before anything is built');
  t.match(closed.stderr, /does not let other users through \(mode o-x\)/);
  await chmod(other, 0o755);
  const results = await tempDir(t);
  const id = ownRunId();
  const [prefix] = prefixesFor(id);
  // a run that lasts several seconds (six labs, some traced hop by hop), so that a loaded
  // machine still runs it while down and clean are tried beside it
  const run = execa('node', [CLI, 'run', 'bugs/cross-node-arp-no-ping', '--results', results], {
    reject: false,
    env: { NO_COLOR: '1', FLATLAB_RUN_ID: id, FLATLAB_RUNTIME_DIR: other },
  });
  t.ok(await waitFor(async () => (await namespacesOf([prefix!])).length >= 4), 'the other lab is being built');
  const ls = await flatlab(['ls']);
  t.match(ls.stdout, new RegExp(`${prefix}\\s+running\\s+cross-node-arp-no-ping/nic-promisc-deny\\s+netns\\s+\\d+\\s+\\S+ pid ${run.pid}\\s+${ROOT.replace(/\/$/, '')}`), 'ls shows it running, whose it is and its checkout');
  const down = await flatlab(['down', prefix!]);
  t.equal(down.exitCode, 2, 'down refuses a running lab');
  t.match(down.stderr, new RegExp(`${prefix} is being run by flatlab process ${run.pid}`));
  // a bare down picks the only kept lab: run it only where no lab is kept, so that no
  // other lab on this machine (a user's, another job's) can be the one it picks
  const kept = (JSON.parse((await flatlab(['ls', '--json'])).stdout) as { status: string }[]).filter((l) => l.status === 'kept');
  if (kept.length === 0) {
    const bare = await flatlab(['down']);
    t.equal(bare.exitCode, 2, 'a bare down with only a running lab: nothing to take down');
    t.notMatch(bare.stdout, new RegExp(`removed ${prefix}`), 'a bare down never picks a running lab');
  }
  // what a bare clean would take (dry: other jobs' leftovers are not this test's to remove)
  const clean = await flatlab(['clean', '--dry-run']);
  t.notMatch(clean.stdout, new RegExp(prefix!), 'clean leaves it');
  t.match((await flatlab(['clean', '--run', prefix!])).stdout, /nothing to clean/);
  const r = await run;
  t.equal(r.exitCode, 0, 'the other run completes and passes', { output: r.stdout + r.stderr });
  t.same(await namespacesOf(prefixesFor(id, 6)), []);
});

t.test('down --run and a kept lab', { skip: skipUnlessRoot }, async (t) => {
  const up = await upOwned(t, ['flat-injected', '--results', await tempDir(t), '-q']);
  t.equal(up.exitCode, 0);
  t.match(up.stdout, new RegExp(`flatlab exec --run ${up.prefix}`), 'the hint names the lab');
  const down = await flatlab(['down', '--run', up.prefix!]);
  t.equal(down.exitCode, 0, 'down --run', { output: down.stderr });
  t.same(await namespacesOf([up.prefix!]), []);
});

t.test('bad results folders are refused at once, with the reason', { skip: skipUnlessRoot }, async (t) => {
  const proc = await execa('node', [CLI, 'run', 'flatdhcp-multihost', '--results', '/proc/nope'], { reject: false, timeout: 20000, env: { NO_COLOR: '1' } });
  t.equal(proc.exitCode, 2, 'exit 2, no loop');
  t.match(proc.stderr, /--results: \/proc is on \/proc/);
  const dir = await tempDir(t);
  const file = join(dir, 'a-file');
  await writeFile(file, 'x');
  const notDir = await flatlab(['run', 'flatdhcp-multihost', '--results', join(file, 'sub')]);
  t.equal(notDir.exitCode, 2);
  t.match(notDir.stderr, /is not a folder/);
});

t.test('garbage and huge files: one line, or at most 20 escaped lines and a count', async (t) => {
  const dir = await tempDir(t);
  const huge = join(dir, 'huge.yaml');
  await writeFile(huge, randomBytes(10 * 1024 * 1024));
  const h = await flatlab(['validate', huge]);
  t.equal(h.exitCode, 2);
  t.equal(h.stderr.trim().split('\n').length, 1, 'a 10 MB file: one line');
  t.match(h.stderr, /is not a scenario \(at most 1048576 bytes\)/);
  const binary = join(dir, 'binary.yaml');
  await writeFile(binary, Buffer.concat([Buffer.from('name: x\nnova:\n'), Buffer.from([0xff, 0xfe, 0x41])]));
  const b = await flatlab(['validate', binary]);
  t.equal(b.exitCode, 2);
  t.match(b.stderr, /binary\.yaml:3:1 not UTF-8 text/);
  // valid UTF-8 with control characters and a hundred mistakes
  const noisy = join(dir, 'noisy.yaml');
  const lines = Array.from({ length: 120 }, (_, i) => `  vm${i}: {host: "no\u0007such${i}${'\u001b[31m'.repeat(40)}${'x'.repeat(500)}"}`);
  await writeFile(noisy, `name: noisy\nnova: {fixed_range: 10.0.0.0/24}\nnodes: {c1: {}}\nvms:\n${lines.join('\n')}\n`);
  const n = await flatlab(['validate', noisy]);
  t.equal(n.exitCode, 2);
  const out = n.stderr.trim().split('\n');
  t.ok(out.length <= 21, `${out.length} lines`);
  t.match(out.at(-1), /… and \d+ more problems/);
  t.ok(out.every((l) => l.length <= 240), 'every line cut to 240 characters');
  t.notMatch(n.stderr, /[\u0000-\u0008\u000b-\u001f\u007f]/, 'no raw control character reaches the terminal');
});

t.test('a killed run says so in its results folder; an interrupted one in result.json', { skip: skipUnlessRoot }, async (t) => {
  const dir = await tempDir(t);
  const id = ownRunId();
  const child = execa('node', [CLI, 'run', 'flat-external-dhcp', '--variant', 'no-dhcp-server', '--results', dir], { reject: false, env: { NO_COLOR: '1', FLATLAB_RUN_ID: id } });
  t.ok(await waitFor(async () => (await namespacesOf(prefixesFor(id))).length > 0));
  child.kill('SIGKILL');
  await child;
  const runs = await readdir(join(dir, 'flat-external-dhcp'));
  t.equal(runs.length, 1);
  t.match(await readFile(join(dir, 'flat-external-dhcp', runs[0]!, 'INCOMPLETE'), 'utf8'), /did not finish: killed before it could write result\.json/);
  t.ok(await waitFor(async () => (await namespacesOf(prefixesFor(id))).length === 0), 'its reaper removed the lab');
  const id2 = ownRunId();
  const hup = execa('node', [CLI, 'run', 'flat-external-dhcp', '--variant', 'no-dhcp-server', '--results', dir], { reject: false, env: { NO_COLOR: '1', FLATLAB_RUN_ID: id2 } });
  t.ok(await waitFor(async () => (await namespacesOf(prefixesFor(id2))).length > 0));
  hup.kill('SIGHUP');
  const r = await hup;
  t.equal(r.exitCode, 129, 'SIGHUP: exit 129');
  const res = await readResult(r.stdout);
  t.equal(res.interrupted, 'SIGHUP');
  t.same(await namespacesOf(prefixesFor(id2)), []);
});

t.test('clean --results --keep N prunes old result folders', async (t) => {
  const dir = await tempDir(t);
  const stamps = ['2026-01-01T00-00-00.000Z', '2026-01-02T00-00-00.000Z', '2026-01-03T00-00-00.000Z', '2026-01-03T00-00-00.000Z-2'];
  for (const s of stamps) await mkdir(join(dir, 'sc', s), { recursive: true });
  await mkdir(join(dir, 'sc', 'notes'));
  const r = await flatlab(['clean', '--results', dir, '--keep', '2'], { env: {} });
  if (process.getuid?.() !== 0) return t.equal(r.exitCode, 3);
  t.equal(r.exitCode, 0);
  t.same((await readdir(join(dir, 'sc'))).sort(), ['2026-01-03T00-00-00.000Z', '2026-01-03T00-00-00.000Z-2', 'notes'], 'the newest two runs and what is not a run stay');
});

t.test('stale .tmp state files of dead writers are removed by clean', { skip: skipUnlessRoot }, async (t) => {
  const { runtimeRoot } = await import('../src/run/state.js');
  const runs = join(runtimeRoot(), 'runs');
  await mkdir(runs, { recursive: true });
  const tmp = join(runs, 'fl-e0dead.json.999999.tmp');
  await writeFile(tmp, '');
  const r = await flatlab(['clean', '--run', 'fl-e0dead']);
  t.equal(r.exitCode, 0);
  t.match(r.stdout, /removed .*fl-e0dead\.json\.999999\.tmp/);
});

t.test('as another user than root, every lab command exits 3 saying what to do', { skip: skipUnlessRoot }, async (t) => {
  const commands = [
    ['run', 'flatdhcp-multihost'],
    ['up', 'flatdhcp-multihost'],
    ['suite'],
    ['exec', 'vm_1', '--', 'true'],
    ['check'],
    ['diagnose', 'vm_1', 'vm_3'],
    ['down'],
    ['clean'],
    ['image', 'build'],
  ];
  // a copy every user can read: the clone's own folder may be closed to others (CI's is not ours to choose)
  const { cli } = await cliCopy(t);
  for (const c of commands) {
    const r = await asNobody(cli, c);
    t.equal(r.exitCode, 3, `flatlab ${c.join(' ')}: exit 3`, { output: r.stderr });
    t.match(r.stderr, new RegExp(`flatlab ${c[0]}${c[0] === 'image' ? ' build' : ''} needs root .*: you are uid 65534`));
  }
  // uid 0 in a user namespace is not the machine's root: refused before anything is made
  const results = await tempDir(t);
  const u = await execa('unshare', ['-rn', 'node', CLI, 'run', 'flatdhcp-multihost', '--results', results], { reject: false, env: { NO_COLOR: '1' } });
  t.equal(u.exitCode, 3, 'unshare -rn: exit 3', { output: u.stdout + u.stderr });
  t.match(u.stderr, /uid 0 inside a user namespace/);
  t.same(await readdir(results), [], 'no results folder written');
});

t.test('report of a folder the caller cannot write says so and writes elsewhere with --out', { skip: skipUnlessRoot }, async (t) => {
  const results = await tempDir(t);
  const r = await flatlab(['run', 'flat-external-dhcp', '--variant', 'no-dhcp-server', '--results', results]);
  const dir = /results: (\S+)/.exec(r.stdout)?.[1];
  t.ok(dir, 'the run printed its folder');
  // readable by others, writable by its writer alone
  for (let d = dir!; d !== dirname(results); d = dirname(d)) await chmod(d, 0o755);
  const out = await tempDir(t);
  await chmod(out, 0o777);
  const { cli } = await cliCopy(t);
  const denied = await asNobody(cli, ['report', dir!]);
  t.equal(denied.exitCode, 2, { output: denied.stderr });
  t.match(denied.stderr, /report: cannot write into .* \(permission denied\): .*--out DIR/);
  t.notMatch(denied.stderr, /EACCES|    at /, 'no raw error, no stack');
  const elsewhere = await asNobody(cli, ['report', dir!, '--out', join(out, 'r')]);
  t.equal(elsewhere.exitCode, 0, { output: elsewhere.stderr });
  t.match(elsewhere.stdout, /r\/report\.html\n.*r\/junit\.xml/);
});

t.test('names that nova would turn into the same hostname are refused with both positions', async (t) => {
  const dir = await tempDir(t);
  const file = await writeScenario(dir, 'twins', 'name: twins\nnova: {multi_host: true, fixed_range: 10.0.0.0/24}\nnodes: {c1: {}}\nvms:\n  vm_1: {host: c1}\n  vm-1: {host: c1}\n');
  const r = await flatlab(['validate', file]);
  t.equal(r.exitCode, 2);
  t.match(r.stderr, /twins\.yaml:5:3 vms\.vm_1: "vm_1" and "vm-1" both become the hostname "vm-1"/);
  t.match(r.stderr, /twins\.yaml:6:3 vms\.vm-1: "vm-1" and "vm_1" both become the hostname "vm-1"/);
});
