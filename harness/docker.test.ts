/**
 * The Docker backend: compute nodes as containers, VMs as namespaces inside them; the
 * same scenario gives the same verdicts as on the netns backend, and nothing of a run
 * stays behind.
 */
import t from 'tap';
import { execa } from 'execa';
import { join } from 'node:path';
import { containersOn, flatlab, interruptThenKill, namespacesOf, prefixesUnder, readResult, rootSnapshot, skipUnlessRoot, tempDir, upOwned, verdicts, writeScenario } from './lib.js';

async function dockerReady(): Promise<string | false> {
  if (skipUnlessRoot) return skipUnlessRoot;
  const info = await execa('docker', ['info', '--format', '{{.ServerVersion}}'], { reject: false });
  if (info.exitCode !== 0) return 'no Docker engine answers (.ci/run installs docker.io and starts dockerd)';
  const img = await execa('docker', ['image', 'inspect', 'flatlab-node:latest'], { reject: false });
  return img.exitCode === 0 ? false : 'the flatlab-node image is missing (flatlab image build)';
}

const skip = await dockerReady();

const containersOf = (prefixes: string[]): Promise<string[]> => containersOn(null, prefixes);

t.test('flatdhcp-multihost on containers: the same leases, gateways and matrix as on namespaces', { skip }, async (t) => {
  const before = await rootSnapshot();
  const dir = await tempDir(t);
  const d = await flatlab(['run', 'flatdhcp-multihost', '--backend', 'docker', '--results', dir]);
  t.equal(d.exitCode, 0, 'exit 0', { output: d.stdout + d.stderr });
  t.match(d.stdout, /vm_3\s+compute2\s+fa:16:3e:\S+\s+10\.0\.0\.5\s+10\.0\.0\.4\s+pass/);
  const n = await flatlab(['run', 'flatdhcp-multihost', '--results', dir]);
  const [dr, nr] = [await readResult(d.stdout), await readResult(n.stdout)];
  t.equal(dr.backend, 'docker');
  t.equal(nr.backend, 'netns');
  t.same(verdicts(dr), verdicts(nr), 'identical verdicts on both backends');
  const mine = await prefixesUnder(dir);
  t.same(await containersOf(mine), [], 'no container left');
  t.same(await namespacesOf(mine), []);
  t.equal(await rootSnapshot(), before, 'root namespace unchanged');
});

t.test('Ctrl-C mid-build and SIGKILL leave no container behind', { skip }, async (t) => {
  const dir = await tempDir(t);
  const gone = async (prefixes: string[]): Promise<string[]> => [...(await containersOf(prefixes)), ...(await namespacesOf(prefixes))];
  const r = await interruptThenKill(['run', 'flatdhcp-multihost', '--backend', 'docker', '--results', dir], async (p) => (await containersOf(p)).length > 0, gone, 300);
  t.equal(r.interruptedExit, 130);
  t.same(r.afterInterrupt, [], 'nothing after Ctrl-C');
  t.same(r.afterKill, [], 'the reaper removed the containers and namespaces of the killed run');
  t.same(await namespacesOf(r.prefixes), []);
});

t.test('a second image build reuses the bootstrapped base', { skip }, async (t) => {
  const r = await flatlab(['image', 'build']);
  t.equal(r.exitCode, 0, 'exit 0', { output: r.stdout + r.stderr });
  t.match(r.stderr + r.stdout, /reusing the bootstrapped flatlab-base:bookworm|debian:bookworm-slim/);
  t.match(r.stdout, /flatlab-node:latest built on/);
});

t.test('backend: in the scenario picks the backend; --backend overrides it', { skip }, async (t) => {
  const dir = await tempDir(t);
  const { readFile, writeFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const { ROOT } = await import('./lib.js');
  const text = (await readFile(join(ROOT, 'scenarios', 'flatdhcp-multihost.yaml'), 'utf8'))
    .replace(/^name: .*$/m, 'name: on-docker\nbackend: docker')
    .replace(/^variants:[\s\S]*$/m, '');
  const file = join(dir, 'on-docker.yaml');
  await writeFile(file, text);
  const d = await flatlab(['run', file, '--results', dir]);
  t.equal(d.exitCode, 0);
  t.equal((await readResult(d.stdout)).backend, 'docker');
  const n = await flatlab(['run', file, '--backend', 'netns', '--results', dir]);
  t.equal(n.exitCode, 0);
  t.equal((await readResult(n.stdout)).backend, 'netns');
  t.same(await containersOf(await prefixesUnder(dir)), []);
});

t.test('flatlab suite --backend all runs each scenario on both backends', { skip }, async (t) => {
  const dir = await tempDir(t);
  const r = await flatlab(['suite', 'flatdhcp-multihost', 'flat-injected', '--backend', 'all', '--results', dir]);
  t.equal(r.exitCode, 0, 'all as expected', { output: r.stdout + r.stderr });
  for (const b of ['netns', 'docker']) {
    t.match(r.stdout, new RegExp(`flatdhcp-multihost\\s+${b}\\s+same-net-blocked\\s+pass`), `flatdhcp-multihost on ${b}`);
    t.match(r.stdout, new RegExp(`flat-injected\\s+${b}\\s+default\\s+pass`), `flat-injected on ${b}`);
  }
  t.match(r.stdout, /all 4 scenario runs as expected/);
  const bad = await flatlab(['suite', '--backend', 'qemu', '--results', dir]);
  t.equal(bad.exitCode, 2);
  t.match(bad.stderr, /--backend: no backend "qemu"/);
  const mine = await prefixesUnder(dir);
  t.same(await containersOf(mine), []);
  t.same(await namespacesOf(mine), []);
});

t.test('a Docker lab is entered, checked and diagnosed like a netns lab', { skip }, async (t) => {
  const results = await tempDir(t);
  const up = await upOwned(t, ['flatdhcp-multihost', '--backend', 'docker', '--results', results]);
  t.equal(up.exitCode, 0, 'up', { output: up.stdout + up.stderr });
  const run = ['--run', up.prefix!];
  const addr = await flatlab(['exec', ...run, 'vm_3', '--', 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
  t.equal(addr.exitCode, 0, 'exec enters a VM inside its node container', { output: addr.stderr });
  t.match(addr.stdout, /inet 10\.0\.0\.5\/24/);
  // the lab's engine is in its state: a caller whose DOCKER_HOST points elsewhere still reaches it
  const elsewhere = { env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' } };
  t.match((await flatlab(['run', 'flatdhcp-multihost', '--backend', 'docker', '--variant', 'same-net-allowed', '--results', results, '-q'], elsewhere)).stderr, /nonexistent/, 'a run uses the caller\'s DOCKER_HOST');
  const inspected = JSON.parse((await flatlab(['inspect', ...run, '--json'], elsewhere)).stdout);
  t.notMatch(JSON.stringify(inspected.engines), /nonexistent/, 'inspect names the lab\'s engine, not the caller\'s DOCKER_HOST');
  t.equal((await flatlab(['exec', ...run, 'compute1', '--', 'true'], elsewhere)).exitCode, 0, 'exec reaches the lab\'s engine');
  t.equal((await flatlab(['exec', ...run, 'vm_1', '--', 'sh', '-c', 'exit 7'])).exitCode, 7, 'the exit code is passed on');
  // a missing command is 127 and one that cannot run 126 wherever the target lives, as a shell says (and as on netns)
  for (const target of ['vm_1', 'compute1', 'fabric']) {
    const missing = await flatlab(['exec', ...run, target, '--', 'nosuchcommand']);
    t.equal(missing.exitCode, 127, `${target}: a missing command exits 127`, { output: missing.stderr });
    t.match(missing.stderr, /flatlab exec: nosuchcommand: command not found/);
    t.equal((await flatlab(['exec', ...run, target, '--', '/proc/version'])).exitCode, 126, `${target}: a file that cannot run exits 126`);
  }
  t.equal((await flatlab(['exec', ...run, 'vm_1', '--', 'echo', 'a b', '$HOME', "it's"])).stdout, "a b $HOME it's", 'argv stays argv');
  const healthy = await flatlab(['diagnose', ...run, '--results', results, 'vm_1', 'vm_3']);
  t.equal(healthy.exitCode, 0, 'diagnose works on a Docker lab', { output: healthy.stdout + healthy.stderr });
  t.match(healthy.stdout, /request and reply seen at every hop: nothing to report/);
  await flatlab(['exec', ...run, 'compute2', '--', 'ip', 'link', 'set', 'dev', 'eth0', 'nomaster']);
  const broken = await flatlab(['diagnose', ...run, '--results', results, 'vm_1', 'vm_3']);
  t.equal(broken.exitCode, 1);
  t.match(broken.stdout, /compute2's eth0 is not enslaved to br100/, 'the same hop and cause as on netns');
  t.equal((await flatlab(['down', ...run])).exitCode, 0);
  t.same(await containersOf([up.prefix!]), []);
});

t.test('a 64-VM Docker lab gets the plan\'s device sysctls, as on netns, and every check as expected', { skip }, async (t) => {
  const dir = await tempDir(t);
  const vms = Array.from({ length: 64 }, (_, i) => `  v${i + 1}: {host: c${(i % 4) + 1}}`).join('\n');
  const file = await writeScenario(dir, 'docker64', `name: docker64\nbackend: docker\nnova: {multi_host: true, fixed_range: 10.0.0.0/24}\nnodes: {c1: {}, c2: {}, c3: {}, c4: {}}\nvms:\n${vms}\n`);
  const up = await upOwned(t, [file, '-q', '--results', join(dir, 'results')]);
  t.equal(up.exitCode, 0, 'every check as expected', { output: up.stdout + up.stderr });
  const read = async (target: string, key: string) => (await flatlab(['exec', '--run', up.prefix!, target, '--', 'sysctl', '-n', key])).stdout.trim();
  t.equal(await read('v5', 'net.ipv4.neigh.eth0.base_reachable_time_ms'), '2000', "a guest's NIC (inside its node's container)");
  t.equal(await read('c2', 'net.ipv4.neigh.br100.base_reachable_time_ms'), '2000', "a node's bridge");
  t.equal(await read('c2', 'net.ipv6.conf.all.disable_ipv6'), '1', 'and the per-namespace ones');
});
