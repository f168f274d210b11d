/**
 * A lab across two Docker engines: the machine's own and a second one in its own network
 * namespace (scripts/second-engine.sh), joined by a VXLAN fabric over an underlay link
 * between lab namespaces. The same verdicts as on namespaces, the VMs' ICMP inside VXLAN
 * on the underlay, the bug scenarios the same with their faulty node on the remote engine,
 * and nothing left on either engine after a run, Ctrl-C or SIGKILL.
 */
import t from 'tap';
import { execa } from 'execa';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CLI, ROOT, checkPlacedBugs, containersOn, flatlab, interruptThenKill, namespacesOf, placedBugScenarios, prefixesUnder, readResult, rootSnapshot, skipUnlessRoot, tempDir, upOwned, verdicts, writeScenario } from './lib.js';

const SCRIPT = join(ROOT, 'scripts', 'second-engine.sh');
const A = 'unix:///var/run/docker.sock';

async function dockerReady(): Promise<string | false> {
  if (skipUnlessRoot) return skipUnlessRoot;
  const info = await execa('docker', ['-H', A, 'info', '--format', '{{.ServerVersion}}'], { reject: false });
  if (info.exitCode !== 0) return 'no Docker engine answers (.ci/run installs docker.io and starts dockerd)';
  const img = await execa('docker', ['-H', A, 'image', 'inspect', 'flatlab-node:latest'], { reject: false });
  return img.exitCode === 0 ? false : 'the flatlab-node image is missing (flatlab image build)';
}

const skip = await dockerReady();

/**
 * The second engine: the running instance b (.ci/run starts it), or an instance of this
 * file's own name that it starts and stops (never another job's b).
 */
async function engineB(): Promise<{ name: string; url: string }> {
  const running = await execa('bash', [SCRIPT, 'url'], { reject: false });
  if (running.exitCode === 0) return { name: 'b', url: running.stdout.trim() };
  const name = `t${process.pid.toString(36)}`.slice(0, 8);
  t.teardown(() => execa('bash', [SCRIPT, 'stop', '--name', name], { reject: false }));
  const started = await execa('bash', [SCRIPT, 'start', '--name', name], { reject: false });
  if (started.exitCode !== 0) throw new Error(`second-engine.sh start --name ${name} failed: ${started.stderr}`);
  return { name, url: started.stdout.trim() };
}

const ENGINE_B = skip ? { name: 'b', url: '' } : await engineB();
const B = ENGINE_B.url;
const script = (...args: string[]) => execa('bash', [SCRIPT, ...args, '--name', ENGINE_B.name]);
const UNDERLAY = skip ? '' : (await script('underlay')).stdout.trim();
const NS_B = `flatlab-engine-${ENGINE_B.name}`;
const ENGINES = ['--backend', 'docker', '--engine', `a=${A}`, '--engine', `b=${B}`, '--underlay', UNDERLAY];

const leftOn = async (prefixes: string[]): Promise<string[]> => [...(await containersOn(A, prefixes)), ...(await containersOn(B, prefixes))];

/** VXLAN devices left in the underlays (every run's device carries its id). */
async function vxlansLeft(prefixes: string[]): Promise<string[]> {
  const ids = prefixes.map((p) => p.slice(3));
  const out: string[] = [];
  for (const ns of [UNDERLAY, NS_B]) {
    const r = await execa('ip', ['-n', ns, '-o', 'link', 'show', 'type', 'vxlan'], { reject: false });
    out.push(...r.stdout.split('\n').filter((l) => ids.some((id) => l.includes(`vx${id}`))));
  }
  return out;
}

t.test('the reference cluster with compute1 on engine a and compute2 on engine b: the same verdicts as on namespaces', { skip }, async (t) => {
  const before = await rootSnapshot();
  const dir = await tempDir(t);
  const d = await flatlab(['run', 'flatdhcp-multihost', ...ENGINES, '--results', dir]);
  t.equal(d.exitCode, 0, 'exit 0', { output: d.stdout + d.stderr });
  const n = await flatlab(['run', 'flatdhcp-multihost', '--results', dir]);
  const [dr, nr] = [await readResult(d.stdout), await readResult(n.stdout)];
  for (const v of dr.variants) {
    t.same(v.plan.span.placement, { compute1: 'a', compute2: 'b' }, `${v.variant}: compute2 on engine b`);
    t.equal(v.plan.nodes.find((x: any) => x.name === 'compute2').fabricNetns, `${v.prefix}-fabric-b`);
  }
  t.same(verdicts(dr), verdicts(nr), 'identical verdicts on two engines and on namespaces');
  const mine = await prefixesUnder(dir);
  t.same(await leftOn(mine), [], 'no container left on either engine');
  t.same(await namespacesOf(mine), []);
  t.same(await vxlansLeft(mine), [], 'no VXLAN device left in either underlay');
  t.equal(await rootSnapshot(), before, 'root namespace unchanged');
});

t.test('on the underlay the VMs\' ICMP travels inside VXLAN, with the run\'s VNI, at the full MTU', { skip }, async (t) => {
  const results = await tempDir(t);
  const up = await upOwned(t, ['flatdhcp-multihost', '--variant', 'same-net-allowed', ...ENGINES, '--results', results]);
  t.equal(up.exitCode, 0, 'up', { output: up.stdout + up.stderr });
  const ls = await flatlab(['ls']);
  t.match(ls.stdout, new RegExp(`${up.prefix}\\s+kept\\s+flatdhcp-multihost/same-net-allowed\\s+docker \\(engines a, b\\)`), 'ls names the lab\'s engines');
  const vni = (parseInt(up.prefix!.slice(3), 16) & 0x7fffff) || 1;
  // the capture is ready once tcpdump says it listens; it ends after the packets it needs
  const cap = execa('ip', ['netns', 'exec', UNDERLAY, 'tcpdump', '-l', '-n', '-i', 'ul-a', '-c', '4', `udp port 4789 and udp[8:4] = 0x08000000 and udp[12:4] = ${vni * 256}`], { reject: false, timeout: 30_000 });
  await new Promise<void>((resolve) => {
    cap.stderr!.on('data', (b: Buffer) => /listening on/.test(b.toString()) && resolve());
    void cap.then(() => resolve());
  });
  const ping = await flatlab(['exec', '--run', up.prefix!, 'vm_1', '--', 'ping', '-c', '2', '-W', '5', '10.0.0.5']);
  t.equal(ping.exitCode, 0, 'vm_1 on engine a pings vm_3 on engine b', { output: ping.stdout + ping.stderr });
  const seen = await cap;
  t.match(seen.stdout, new RegExp(`10\\.250\\.0\\.1\\.\\d+ > 10\\.250\\.0\\.2\\.4789: VXLAN, flags \\[I\\] \\(0x08\\), vni ${vni}\\nIP 10\\.0\\.0\\.2 > 10\\.0\\.0\\.5: ICMP echo request`), 'the request, encapsulated, a to b', { capture: seen.stdout });
  t.match(seen.stdout, new RegExp(`10\\.250\\.0\\.2\\.\\d+ > 10\\.250\\.0\\.1\\.4789: VXLAN, flags \\[I\\] \\(0x08\\), vni ${vni}\\nIP 10\\.0\\.0\\.5 > 10\\.0\\.0\\.2: ICMP echo reply`), 'the reply, encapsulated, b to a');
  const big = await flatlab(['exec', '--run', up.prefix!, 'vm_1', '--', 'ping', '-c', '1', '-W', '5', '-M', 'do', '-s', '1472', '10.0.0.5']);
  t.equal(big.exitCode, 0, 'a 1500-byte packet crosses unfragmented (the underlay carries 1550)', { output: big.stdout + big.stderr });
  // this lab's flood list and learnt addresses gone from its own share on a: diagnose
  // sees the request leave a's VXLAN and never reach b's
  const dev = `vx${up.prefix!.slice(3)}`;
  const fabricA = `${up.prefix}-fabric`;
  const fdb = (await execa('bridge', ['-n', fabricA, 'fdb', 'show', 'dev', dev])).stdout.split('\n').filter((l) => / dst /.test(l));
  t.ok(fdb.some((l) => l.startsWith('00:00:00:00:00:00 dst 10.250.0.2')), 'the static flood entry to b', { fdb });
  for (const l of fdb) await execa('bridge', ['-n', fabricA, 'fdb', 'del', l.split(' ')[0]!, 'dev', dev, 'dst', /dst (\S+)/.exec(l)![1]!]);
  await flatlab(['exec', '--run', up.prefix!, 'vm_1', '--', 'ip', 'neigh', 'flush', 'all']);
  const lost = await flatlab(['diagnose', '--run', up.prefix!, '--results', results, 'vm_1', 'vm_3']);
  t.equal(lost.exitCode, 1, 'diagnose finds the loss', { output: lost.stdout + lost.stderr });
  t.match(lost.stdout, new RegExp(`seen on .*VXLAN ${dev} on engine a; not on VXLAN ${dev} on engine b: the ARP request left engine a on ${dev} \\(VNI ${vni}\\) and never arrived on engine b: lost on the underlay between the engines`));
  t.equal((await flatlab(['down', '--run', up.prefix!])).exitCode, 0);
  t.same(await leftOn([up.prefix!]), []);
  t.same(await vxlansLeft([up.prefix!]), []);
});

t.test('the bug scenarios behave the same with their faulty node on engine b', { skip }, async (t) => {
  const placed = await placedBugScenarios(await tempDir(t), 'b');
  const results = await tempDir(t);
  const suite = await flatlab(['suite', '--dir', dirname(placed.files[0]!), '-j', '2', '--json', ...ENGINES, '--results', results]);
  await checkPlacedBugs(t, placed, 'b', suite, (args) => flatlab(['run', ...args, ...ENGINES, '--results', results]));
  const mine = await prefixesUnder(results);
  t.ok(mine.length >= 20, `${mine.length} labs`);
  t.same(await leftOn(mine), []);
  t.same(await namespacesOf(mine), []);
  t.same(await vxlansLeft(mine), []);
});

t.test('Ctrl-C and SIGKILL leave nothing on either engine', { skip }, async (t) => {
  const dir = await tempDir(t);
  // interrupted, and killed, once engine b holds some of the run
  const onB = async (p: string[]): Promise<boolean> => (await containersOn(B, p)).length > 0;
  const gone = async (p: string[]): Promise<string[]> => [...(await leftOn(p)), ...(await namespacesOf(p)), ...(await vxlansLeft(p))];
  const r = await interruptThenKill(['run', 'flatdhcp-multihost', ...ENGINES, '--results', dir], onB, gone);
  t.same(r.reached, [true, true], 'both runs reached engine b before the signal');
  t.equal(r.interruptedExit, 130);
  t.same(r.afterInterrupt, [], 'nothing after Ctrl-C on either engine, no namespace, no VXLAN');
  t.same(r.afterKill, [], 'the reaper removed the killed run from both engines');
});

t.test('engine b over tcp:// with TLS (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH), reached over the underlay; the image copied to it', { skip }, async (t) => {
  const dir = await tempDir(t);
  const tlsUrl = (await script('tls-url')).stdout.trim();
  const certs = `/run/${NS_B}/tls`;
  // flatlab itself in the underlay's namespace, as on a machine whose network reaches b;
  // everything else it does is the same from there (unix sockets, /run/netns, /proc)
  const inUnderlay = (args: string[], env: Record<string, string>) =>
    execa('nsenter', [`--net=/run/netns/${UNDERLAY}`, 'node', CLI, ...args], { reject: false, cwd: ROOT, env: { NO_COLOR: '1', ...env } });
  // b without the image: the run gives it the first engine's
  await execa('docker', ['-H', B, 'image', 'rm', '-f', 'flatlab-node:latest'], { reject: false });
  const engines = ['--backend', 'docker', '--engine', `a=${A}`, '--engine', `b=${tlsUrl}`, '--underlay', UNDERLAY];
  const r = await inUnderlay(['run', 'flatdhcp-multihost', ...engines, '--results', dir], { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs });
  t.equal(r.exitCode, 0, 'all as expected', { output: r.stdout.slice(-2000) + r.stderr });
  t.match(r.stderr, /engine b has no flatlab-node:latest: copying it from engine a/);
  t.match(r.stdout, /all 2 variants as expected \(40 checks\)/);
  const again = await inUnderlay(['run', 'flatdhcp-multihost', '--variant', 'same-net-allowed', ...engines, '--results', dir], { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs });
  t.equal(again.exitCode, 0);
  t.notMatch(again.stderr, /copying/, 'copied once');
  const noCert = await inUnderlay(['run', 'flatdhcp-multihost', ...engines, '--results', dir], {});
  t.equal(noCert.exitCode, 3, 'without TLS the engine refuses, and flatlab says which', { output: noCert.stderr });
  t.match(noCert.stderr, /no Docker engine answers for engine b at tcp:\/\/10\.250\.0\.2:2376/);
  const badPath = await inUnderlay(['run', 'flatdhcp-multihost', ...engines, '--results', dir], { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir });
  t.equal(badPath.exitCode, 3, { output: badPath.stderr });
  t.match(badPath.stderr, /cannot read its TLS files in .* \(ENOENT\)/);
  t.match(badPath.stderr, /DOCKER_CERT_PATH/);
  const mine = await prefixesUnder(dir);
  t.same(await leftOn(mine), []);
  t.same(await namespacesOf(mine), []);
});

t.test('errors say what to do: no underlay, an engine that does not answer, an unknown engine in placement:', { skip }, async (t) => {
  const dir = await tempDir(t);
  const noUnderlay = await flatlab(['run', 'flatdhcp-multihost', '--backend', 'docker', '--engine', `a=${A}`, '--engine', `b=${B}`, '--results', dir]);
  t.equal(noUnderlay.exitCode, 3, 'an environment error', { output: noUnderlay.stderr });
  t.match(noUnderlay.stderr, /several engines need an underlay/);
  const dead = await flatlab(['run', 'flatdhcp-multihost', '--backend', 'docker', '--engine', `a=${A}`, '--engine', 'b=unix:///run/flatlab-no-such-engine.sock', '--underlay', UNDERLAY, '--results', dir]);
  t.equal(dead.exitCode, 3, { output: dead.stderr });
  t.match(dead.stderr, /no Docker engine answers for engine b at unix:\/\/\/run\/flatlab-no-such-engine\.sock/);
  const text = (await readFile(join(ROOT, 'scenarios', 'flatdhcp-multihost.yaml'), 'utf8')).replace('$schema=../schema', `$schema=${ROOT}/schema`) + '\nplacement: {compute2: c}\n';
  const file = await writeScenario(dir, 'placed', text);
  const unknown = await flatlab(['run', file, ...ENGINES, '--results', dir]);
  t.equal(unknown.exitCode, 2, { output: unknown.stderr });
  t.match(unknown.stderr, /placed\.yaml:\d+:\d+ placement\.compute2: no engine "c" \(engines given: a, b\)/);
  t.notMatch(unknown.stderr, /\n\s+at /, 'no stack trace');
  const netns = await flatlab(['run', 'flatdhcp-multihost', '--engine', `a=${A}`, '--results', dir]);
  t.equal(netns.exitCode, 2);
  t.match(netns.stderr, /use them with --backend docker/);
  // an engine that answers from another machine (a stand-in speaking the Engine API's
  // ping and info on a socket of this test) given first, where the fabric is: refused at
  // preflight, exit 3, nothing built (a remote engine after it is harness/remote-engine.test.ts's)
  const { createServer } = await import('node:http');
  const sock = join(dir, 'remote.sock');
  const remote = createServer((req, res) => {
    res.setHeader('Content-Type', req.url?.endsWith('/_ping') ? 'text/plain' : 'application/json');
    res.end(req.url?.endsWith('/_ping') ? 'OK' : req.url?.endsWith('/info') ? JSON.stringify({ Name: 'rack7-node3', KernelVersion: '5.15.0-91-generic' }) : '{}');
  });
  await new Promise<void>((resolve) => remote.listen(sock, resolve));
  t.teardown(() => new Promise<void>((resolve) => remote.close(() => resolve())));
  const elsewhere = await flatlab(['run', 'flatdhcp-multihost', '--backend', 'docker', '--engine', `b=unix://${sock}`, '--engine', `a=${A}`, '--underlay', UNDERLAY, '--results', dir, '--variant', 'same-net-allowed']);
  t.equal(elsewhere.exitCode, 3, 'refused at preflight', { output: elsewhere.stdout + elsewhere.stderr });
  t.match(elsewhere.stderr, /engine b at unix:\/\/\S+remote\.sock runs its containers on another machine \(its host is "rack7-node3"/);
  t.match(elsewhere.stderr, /give this machine's engine first/);
  t.notMatch(elsewhere.stdout, /checks failed/, 'not a lab that failed its checks');
  t.same(await containersOn(A, await prefixesUnder(dir)), [], 'nothing built');
});

t.test('second-engine.sh instances are named by their caller: one stop removes its own engine only', { skip }, async (t) => {
  const name = `s${process.pid.toString(36)}`.slice(0, 8);
  t.teardown(() => execa('bash', [SCRIPT, 'stop', '--name', name], { reject: false }));
  const started = await execa('bash', [SCRIPT, 'start', '--name', name], { reject: false });
  t.equal(started.exitCode, 0, { output: started.stderr });
  t.equal(started.stdout.trim(), `unix:///run/flatlab-engine-${name}/docker.sock`);
  t.equal((await execa('bash', [SCRIPT, 'underlay', '--name', name])).stdout.trim(), `flatlab-underlay-${name}-a`);
  const stopped = await execa('bash', [SCRIPT, 'stop', '--name', name], { reject: false });
  t.equal(stopped.exitCode, 0, { output: stopped.stderr });
  t.equal((await execa('bash', [SCRIPT, 'url', '--name', name], { reject: false })).exitCode, 1, 'the named one is gone');
  const left = (await execa('ip', ['netns', 'list'])).stdout;
  t.notMatch(left, new RegExp(`flatlab-(engine|underlay)-${name}`), 'its namespaces are gone');
  t.equal((await execa('docker', ['-H', B, 'version', '--format', '{{.Server.Version}}'], { reject: false })).exitCode, 0, 'the other instance still answers');
  t.match(left, new RegExp(`${NS_B}\\b`), "the other instance's namespace is still there");
  t.equal((await execa('bash', [SCRIPT, 'start', '--name', 'NOPE'], { reject: false })).exitCode, 2, 'a bad name is refused');
});
