/**
 * The Docker backend: compute nodes as containers, VMs as namespaces inside them; the
 * same scenario gives the same verdicts as on the netns backend, and nothing of a run
 * stays behind.
 */
import t from 'tap';
import { execa } from 'execa';
import { CLI, flatlab, flatlabNamespaces, readResult, rootSnapshot, skipUnlessRoot, sleep, tempDir } from './lib.js';

async function dockerReady(): Promise<string | false> {
  if (skipUnlessRoot) return skipUnlessRoot;
  const info = await execa('docker', ['info', '--format', '{{.ServerVersion}}'], { reject: false });
  if (info.exitCode !== 0) return 'no Docker engine answers (.ci/run installs docker.io and starts dockerd)';
  const img = await execa('docker', ['image', 'inspect', 'flatlab-node:latest'], { reject: false });
  return img.exitCode === 0 ? false : 'the flatlab-node image is missing (flatlab image build)';
}

const skip = await dockerReady();

async function containersOfFlatlab(): Promise<string[]> {
  const r = await execa('docker', ['ps', '-a', '--filter', 'label=org.flatlab.run', '--format', '{{.Names}}'], { reject: false });
  return r.stdout.split('\n').filter(Boolean);
}

/** What a run concluded, backend aside: per variant, each check's kind, subject, verdict and observed address/route. */
function verdicts(res: any): string[] {
  return res.variants.flatMap((v: any) => v.verdicts.map((x: any) => `${v.variant} ${x.kind} ${x.subject} ${x.ok} ${x.kind === 'lease' ? x.observed.split(' on ')[0] : x.observed}`)).sort();
}

t.test('flatdhcp-multihost on containers: the same leases, gateways and matrix as on namespaces', { skip }, async (t) => {
  const before = await rootSnapshot();
  const dir = await tempDir();
  const d = await flatlab(['run', 'flatdhcp-multihost', '--backend', 'docker', '--results', dir]);
  t.equal(d.exitCode, 0, 'exit 0', { output: d.stdout + d.stderr });
  t.match(d.stdout, /vm_3\s+compute2\s+fa:16:3e:\S+\s+10\.0\.0\.5\s+10\.0\.0\.4\s+pass/);
  const n = await flatlab(['run', 'flatdhcp-multihost', '--results', dir]);
  const [dr, nr] = [await readResult(d.stdout), await readResult(n.stdout)];
  t.equal(dr.backend, 'docker');
  t.equal(nr.backend, 'netns');
  t.same(verdicts(dr), verdicts(nr), 'identical verdicts on both backends');
  t.same(await containersOfFlatlab(), [], 'no container left');
  t.same(await flatlabNamespaces(), []);
  t.equal(await rootSnapshot(), before, 'root namespace unchanged');
});

t.test('Ctrl-C mid-build and SIGKILL leave no container behind', { skip }, async (t) => {
  const dir = await tempDir();
  const child = execa('node', [CLI, 'run', 'flatdhcp-multihost', '--backend', 'docker', '--results', dir], { reject: false, detached: true, env: { NO_COLOR: '1' } });
  for (let i = 0; i < 200 && (await containersOfFlatlab()).length === 0; i++) await sleep(20);
  process.kill(-child.pid!, 'SIGINT');
  t.equal((await child).exitCode, 130);
  t.same(await containersOfFlatlab(), [], 'nothing after Ctrl-C');
  const killed = execa('node', [CLI, 'run', 'flatdhcp-multihost', '--backend', 'docker', '--results', dir], { reject: false });
  for (let i = 0; i < 200 && (await containersOfFlatlab()).length === 0; i++) await sleep(20);
  await sleep(300);
  killed.kill('SIGKILL');
  await killed;
  let left = await containersOfFlatlab();
  for (let i = 0; i < 100 && (left.length > 0 || (await flatlabNamespaces()).length > 0); i++) {
    await sleep(100);
    left = await containersOfFlatlab();
  }
  t.same(left, [], 'the reaper removed the containers of the killed run');
  t.same(await flatlabNamespaces(), []);
});

t.test('a second image build reuses the bootstrapped base', { skip }, async (t) => {
  const r = await flatlab(['image', 'build']);
  t.equal(r.exitCode, 0, 'exit 0', { output: r.stdout + r.stderr });
  t.match(r.stderr + r.stdout, /reusing the bootstrapped flatlab-base:bookworm|debian:bookworm-slim/);
  t.match(r.stdout, /flatlab-node:latest built on/);
});

t.test('backend: in the scenario picks the backend; --backend overrides it', { skip }, async (t) => {
  const dir = await tempDir();
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
  t.same(await containersOfFlatlab(), []);
});

t.test('flatlab suite --backend all runs each scenario on both backends', { skip }, async (t) => {
  const dir = await tempDir();
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
  t.same(await containersOfFlatlab(), []);
  t.same(await flatlabNamespaces(), []);
});
