/**
 * A lab across this machine's engine and a remote one: scripts/remote-engine.sh's dockerd,
 * another machine to flatlab by construction (its own network, PID, mount and UTS
 * namespaces, its own /run, /tmp, /dev/shm and /proc, reached over TLS across an underlay
 * link only, or over ssh to an sshd of its own). What must hold:
 * - nothing of this machine's runtime directory, /run/netns or processes is visible
 *   there, so whatever a run does on it went through the Docker API;
 * - the reference cluster and the bug scenarios with their faulty node there give the
 *   verdicts they give on namespaces, and each bug is diagnosed as itself;
 * - a run, Ctrl-C and SIGKILL leave nothing on either engine (containers, the agent,
 *   namespaces, VXLAN devices);
 * - an engine that does not answer, no underlay and an underlay too small for VXLAN are
 *   refused at preflight (exit 3), before anything is built;
 * - the same engine as ssh://root@ADDRESS gives the same verdicts, and a host whose key
 *   is unknown or another is refused at preflight.
 * flatlab runs in the underlay's namespace (nsenter --net), as on a machine whose network
 * reaches the other one; everything else it does is this machine's as usual.
 */
import t from 'tap';
import { execa } from 'execa';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CLI, ROOT, checkPlacedBugs, containersOn, flatlab, interruptThenKill, namespacesOf, placedBugScenarios, prefixesUnder, readResult, rootSnapshot, skipUnlessRoot, tempDir, verdicts } from './lib.js';
import { runtimeRoot } from '../src/run/state.js';

const SCRIPT = join(ROOT, 'scripts', 'remote-engine.sh');
const A = 'unix:///var/run/docker.sock';

async function ready(): Promise<string | false> {
  if (skipUnlessRoot) return skipUnlessRoot;
  if ((await execa('docker', ['info', '--format', '{{.ServerVersion}}'], { reject: false })).exitCode !== 0) return 'no Docker engine answers (.ci/run installs docker.io and starts dockerd)';
  if ((await execa('docker', ['image', 'inspect', 'flatlab-node:latest'], { reject: false })).exitCode !== 0) return 'the flatlab-node image is missing (flatlab image build)';
  return (await execa('sh', ['-c', 'command -v unshare && command -v openssl && command -v dockerd'], { reject: false })).exitCode === 0 ? false : 'unshare, openssl or dockerd missing';
}
const skip = await ready();

/** The remote engine: instance r when it runs (.ci/run starts it), else one of this file's own, stopped at the end. */
async function engineR(): Promise<string> {
  if ((await execa('bash', [SCRIPT, 'url'], { reject: false })).exitCode === 0) return 'r';
  const name = `t${process.pid.toString(36)}`.slice(0, 8);
  t.teardown(() => execa('bash', [SCRIPT, 'stop', '--name', name], { reject: false }));
  const started = await execa('bash', [SCRIPT, 'start', '--name', name], { reject: false });
  if (started.exitCode !== 0) throw new Error(`remote-engine.sh start --name ${name} failed: ${started.stderr}`);
  return name;
}
const NAME = skip ? 'r' : await engineR();
const info = async (what: string, name = NAME): Promise<string> => (skip ? '' : (await execa('bash', [SCRIPT, what, '--name', name])).stdout.trim());
const URL = await info('url');
const CERTS = await info('certs');
const UNDERLAY = await info('underlay');
const NS_R = `flatlab-remote-${NAME}`;
const TLS = ['-H', URL, '--tlsverify', '--tlscacert', `${CERTS}/ca.pem`, '--tlscert', `${CERTS}/cert.pem`, '--tlskey', `${CERTS}/key.pem`];
const ENGINES = ['--backend', 'docker', '--engine', `a=${A}`, '--engine', `r=${URL}`, '--underlay', UNDERLAY];
const ENV = { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: CERTS };
const WRAP = ['nsenter', `--net=/run/netns/${UNDERLAY}`];
/** The same engine over ssh:// (an sshd in R when openssh-server is installed), and a HOME whose .ssh knows R's host key and holds a key R accepts. */
const SSH_URL = skip ? '' : (await execa('bash', [SCRIPT, 'ssh-url', '--name', NAME], { reject: false })).stdout.trim();
const SSH_HOME = await info('ssh-home');
const noSsh = skip || (SSH_URL ? false : 'the remote engine runs no sshd (openssh-server is not installed; .ci/run installs it)');

/** The docker CLI on the remote engine, from its underlay. */
const remote = (args: string[]) => execa(WRAP[0]!, [...WRAP.slice(1), 'docker', ...TLS, ...args], { reject: false });
/** flatlab from the underlay's namespace, with the remote engine's TLS files. */
const inUnderlay = (args: string[], env: Record<string, string> = ENV) => execa(WRAP[0]!, [...WRAP.slice(1), 'node', CLI, ...args], { reject: false, cwd: ROOT, env: { NO_COLOR: '1', ...env } });

async function remoteContainers(prefixes: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of prefixes) out.push(...(await remote(['ps', '-a', '--filter', `label=org.flatlab.run=${p}`, '--format', '{{.Names}}'])).stdout.split('\n').filter(Boolean));
  return out;
}
const leftOn = async (prefixes: string[]): Promise<string[]> => [...(await containersOn(A, prefixes)), ...(await remoteContainers(prefixes))];

/** VXLAN devices left in either machine's underlay (every run's device carries its id). */
async function vxlansLeft(prefixes: string[]): Promise<string[]> {
  const ids = prefixes.map((p) => p.slice(3));
  const out: string[] = [];
  for (const ns of [UNDERLAY, NS_R]) {
    const r = await execa('ip', ['-n', ns, '-o', 'link', 'show', 'type', 'vxlan'], { reject: false });
    out.push(...r.stdout.split('\n').filter((l) => ids.some((id) => l.includes(`vx${id}`))));
  }
  return out;
}

t.test('the remote engine sees nothing of this machine: what a run does there goes through the API', { skip }, async (t) => {
  t.not((await execa('docker', [...TLS, 'version'], { reject: false, timeout: 10000 })).exitCode, 0, "not reachable from the machine's own network: over the underlay only");
  const name = await remote(['info', '--format', '{{.Name}}']);
  t.equal(name.stdout.trim(), NS_R, 'it says it is another machine');
  // a small image to look from, sent through the API as flatlab copies images
  const saved = await execa('sh', ['-c', `docker save flatlab-base:bookworm | ${WRAP.join(' ')} docker ${TLS.join(' ')} load`], { reject: false });
  t.equal(saved.exitCode, 0, 'an image reaches it through the API', { output: saved.stderr });
  const rt = runtimeRoot();
  const look = await remote(['run', '--rm', '-v', `${rt}:/rt`, '-v', '/run/netns:/netns', 'flatlab-base:bookworm', 'sh', '-c', 'ls -A /rt; echo --; ls -A /netns; echo --; cat /proc/1/comm; echo $$']);
  t.equal(look.exitCode, 0, { output: look.stderr });
  const [rtSeen, netnsSeen, init] = look.stdout.split('--\n');
  t.equal(rtSeen!.trim(), '', `this machine's runtime directory (${rt}) is empty there`);
  t.equal(netnsSeen!.trim(), '', "this machine's /run/netns is empty there");
  t.match(init!, /^sh\n1\n?$/, 'its container sees only its own processes');
  const id = (await remote(['run', '-d', '--hostname', 'probe-r', 'flatlab-base:bookworm', 'sleep', '120'])).stdout.trim();
  const pid = (await remote(['inspect', '--format', '{{.State.Pid}}', id])).stdout.trim();
  const here = await readFile(`/proc/${pid}/root/etc/hostname`, 'utf8').catch(() => '');
  t.not(here.trim(), 'probe-r', `the PID its engine reports (${pid}) is not its container on this machine`);
  await remote(['rm', '-f', id]);
});

t.test('the reference cluster with compute2 on the remote engine: the verdicts of namespaces, nothing left', { skip }, async (t) => {
  const before = await rootSnapshot();
  const dir = await tempDir(t);
  const d = await inUnderlay(['run', 'flatdhcp-multihost', ...ENGINES, '--results', dir]);
  t.equal(d.exitCode, 0, 'exit 0', { output: d.stdout.slice(-3000) + d.stderr });
  const n = await flatlab(['run', 'flatdhcp-multihost', '--results', dir]);
  const [dr, nr] = [await readResult(d.stdout), await readResult(n.stdout)];
  for (const v of dr.variants) t.same(v.plan.span.placement, { compute1: 'a', compute2: 'r' }, `${v.variant}: compute2 on the remote engine`);
  t.same(verdicts(dr), verdicts(nr), 'identical verdicts across machines and on namespaces');
  t.same((await remote(['image', 'ls', '--filter', 'label=org.flatlab.assets', '--format', '{{.Tag}}'])).stdout.split('\n').filter((l) => l.startsWith('assets-')).length > 0, true, "the remote engine runs an image with flatlab's assets baked in");
  const mine = await prefixesUnder(dir);
  t.same(await leftOn(mine), [], 'no container left on either engine (the agent neither)');
  t.same(await namespacesOf(mine), []);
  t.same(await vxlansLeft(mine), [], 'no VXLAN device left in either underlay');
  t.equal(await rootSnapshot(), before, 'root namespace unchanged');
});

t.test('the bug scenarios behave the same with their faulty node on the remote engine, each diagnosed as itself', { skip }, async (t) => {
  const placed = await placedBugScenarios(await tempDir(t), 'r');
  const results = await tempDir(t);
  const suite = await inUnderlay(['suite', '--dir', dirname(placed.files[0]!), '-j', '2', '--json', ...ENGINES, '--results', results]);
  await checkPlacedBugs(t, placed, 'r', { stdout: suite.stdout, stderr: suite.stderr, exitCode: suite.exitCode ?? -1 }, async (args) => {
    const r = await inUnderlay(['run', ...args, ...ENGINES, '--results', results]);
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
  });
  const mine = await prefixesUnder(results);
  t.ok(mine.length >= 20, `${mine.length} labs`);
  t.same(await leftOn(mine), []);
  t.same(await namespacesOf(mine), []);
  t.same(await vxlansLeft(mine), []);
});

t.test('Ctrl-C and SIGKILL of a run across both machines leave nothing on either', { skip }, async (t) => {
  const dir = await tempDir(t);
  // interrupted, and killed, once the remote engine holds some of the run
  const onR = async (p: string[]): Promise<boolean> => (await remoteContainers(p)).length > 0;
  const gone = async (p: string[]): Promise<string[]> => [...(await leftOn(p)), ...(await namespacesOf(p)), ...(await vxlansLeft(p))];
  const r = await interruptThenKill(['run', 'flatdhcp-multihost', ...ENGINES, '--results', dir], onR, gone, 0, { wrap: WRAP, env: ENV });
  t.same(r.reached, [true, true], 'both runs reached the remote engine before the signal');
  t.equal(r.interruptedExit, 130);
  t.same(r.afterInterrupt, [], 'nothing after Ctrl-C on either engine, no namespace, no VXLAN');
  t.same(r.afterKill, [], 'the reaper removed the killed run from both engines');
});

t.test('the same engine over ssh://, as the docker CLI reaches one: the reference verdicts, nothing left; an unknown or wrong host key refused', { skip: noSsh }, async (t) => {
  const dir = await tempDir(t);
  const viaSsh = ['--backend', 'docker', '--engine', `a=${A}`, '--engine', `r=${SSH_URL}`, '--underlay', UNDERLAY];
  const d = await inUnderlay(['run', 'flatdhcp-multihost', ...viaSsh, '--results', dir], { HOME: SSH_HOME });
  t.equal(d.exitCode, 0, 'exit 0', { output: d.stdout.slice(-3000) + d.stderr });
  const n = await flatlab(['run', 'flatdhcp-multihost', '--results', dir]);
  const [dr, nr] = [await readResult(d.stdout), await readResult(n.stdout)];
  for (const v of dr.variants) t.same(v.plan.span.placement, { compute1: 'a', compute2: 'r' }, `${v.variant}: compute2 on the engine reached over ssh`);
  t.same(verdicts(dr), verdicts(nr), 'identical verdicts over ssh and on namespaces');
  const mine = await prefixesUnder(dir);
  t.same(await leftOn(mine), [], 'no container left on either engine');
  t.same(await namespacesOf(mine), []);
  t.same(await vxlansLeft(mine), []);
  // a HOME with the key R accepts but without R's host key, then with another key under R's name
  const stranger = await tempDir(t);
  await mkdir(join(stranger, '.ssh'), { mode: 0o700 });
  await copyFile(join(SSH_HOME, '.ssh', 'id_ed25519'), join(stranger, '.ssh', 'id_ed25519'));
  const unknown = await inUnderlay(['run', 'flatdhcp-multihost', ...viaSsh, '--results', dir], { HOME: stranger });
  t.equal(unknown.exitCode, 3, 'an unknown host: exit 3', { output: unknown.stderr });
  t.match(unknown.stderr, /10\.251\.0\.2 is not in \S+known_hosts/);
  t.match(unknown.stderr, /connect once with `ssh root@10\.251\.0\.2`/);
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(stranger, 'other')]);
  const other = (await readFile(join(stranger, 'other.pub'), 'utf8')).split(' ').slice(0, 2).join(' ');
  await writeFile(join(stranger, '.ssh', 'known_hosts'), `10.251.0.2 ${other}\n`);
  const wrong = await inUnderlay(['run', 'flatdhcp-multihost', ...viaSsh, '--results', dir], { HOME: stranger });
  t.equal(wrong.exitCode, 3, 'another key under its name (a man in the middle): exit 3', { output: wrong.stderr });
  t.match(wrong.stderr, /engine r at ssh:\/\/root@10\.251\.0\.2 \(Host denied \(verification failed\)\)/);
  t.notMatch(unknown.stderr + wrong.stderr, /\n\s+at |DeprecationWarning/, 'no stack trace, no warning');
  t.same(await leftOn(await prefixesUnder(dir)), [], 'nothing built by the refused runs');
});

t.test('refused at preflight, exit 3, nothing built: an engine that does not answer, no underlay, an underlay too small for VXLAN', { skip }, async (t) => {
  const dir = await tempDir(t);
  const dead = await inUnderlay(['run', 'flatdhcp-multihost', '--backend', 'docker', '--engine', `a=${A}`, '--engine', 'r=tcp://10.251.0.9:2376', '--underlay', UNDERLAY, '--results', dir]);
  t.equal(dead.exitCode, 3, { output: dead.stderr });
  t.match(dead.stderr, /no Docker engine answers for engine r at tcp:\/\/10\.251\.0\.9:2376/);
  const noUnderlay = await inUnderlay(['run', 'flatdhcp-multihost', '--backend', 'docker', '--engine', `a=${A}`, '--engine', `r=${URL}`, '--results', dir]);
  t.equal(noUnderlay.exitCode, 3, { output: noUnderlay.stderr });
  t.match(noUnderlay.stderr, /several engines need an underlay/);
  const first = await inUnderlay(['run', 'flatdhcp-multihost', '--backend', 'docker', '--engine', `r=${URL}`, '--engine', `a=${A}`, '--underlay', UNDERLAY, '--results', dir]);
  t.equal(first.exitCode, 3, 'the fabric is this machine\'s: the first engine must be too', { output: first.stderr });
  t.match(first.stderr, /engine r at \S+ runs its containers on another machine/);
  t.match(first.stderr, /give this machine's engine first/);
  // an underlay of 1400 bytes: VXLAN would leave the fabric 1350
  const small = `m${process.pid.toString(36)}`.slice(0, 8);
  t.teardown(() => execa('bash', [SCRIPT, 'stop', '--name', small], { reject: false }));
  const started = await execa('bash', [SCRIPT, 'start', '--name', small, '--mtu', '1400'], { reject: false });
  t.equal(started.exitCode, 0, { output: started.stderr });
  const smallUnderlay = await info('underlay', small);
  const tiny = await execa('nsenter', [`--net=/run/netns/${smallUnderlay}`, 'node', CLI, 'run', 'flatdhcp-multihost', '--backend', 'docker', '--engine', `a=${A}`, '--engine', `r=${started.stdout.trim()}`, '--underlay', smallUnderlay, '--results', dir], {
    reject: false,
    cwd: ROOT,
    env: { NO_COLOR: '1', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: await info('certs', small) },
  });
  t.equal(tiny.exitCode, 3, { output: tiny.stderr });
  t.match(tiny.stderr, /its link to the other engines has an MTU of 1400, and VXLAN needs 50 bytes of it: the fabric would carry 1350 bytes/);
  t.notMatch(tiny.stderr + dead.stderr + noUnderlay.stderr, /\n\s+at /, 'no stack trace');
  const mine = await prefixesUnder(dir);
  t.same(await leftOn(mine), [], 'nothing built on either engine');
  t.same(await namespacesOf(mine), []);
});
