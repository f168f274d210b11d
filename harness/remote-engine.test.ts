/**
 * scripts/remote-engine.sh: an engine that is another machine to flatlab by construction
 * (its own network, PID, mount and UTS namespaces, its own /run, /tmp, /dev/shm and /proc,
 * reached over TLS across an underlay link only). What it must show: nothing of this
 * machine's runtime directory, /run/netns or processes is visible there, so whatever a
 * run does on it goes through the Docker API; and flatlab, which today needs every engine
 * on this machine, refuses it at preflight (exit 3, naming the engine), before anything
 * is built.
 */
import t from 'tap';
import { execa } from 'execa';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI, ROOT, namespacesOf, ownRunId, prefixesFor, skipUnlessRoot, tempDir } from './lib.js';
import { runtimeRoot } from '../src/run/state.js';

const SCRIPT = join(ROOT, 'scripts', 'remote-engine.sh');

async function ready(): Promise<string | false> {
  if (skipUnlessRoot) return skipUnlessRoot;
  if ((await execa('docker', ['info', '--format', '{{.ServerVersion}}'], { reject: false })).exitCode !== 0) return 'no Docker engine answers (.ci/run installs docker.io and starts dockerd)';
  if ((await execa('docker', ['image', 'inspect', 'flatlab-base:bookworm'], { reject: false })).exitCode !== 0) return 'the flatlab-base image is missing (flatlab image build)';
  return (await execa('sh', ['-c', 'command -v unshare && command -v openssl'], { reject: false })).exitCode === 0 ? false : 'unshare or openssl missing';
}
const skip = await ready();

t.test('the remote engine sees nothing of this machine, and flatlab refuses it at preflight', { skip }, async (t) => {
  // an instance of this test's own, stopped whatever happens
  const name = `t${process.pid.toString(36)}`.slice(0, 8);
  t.teardown(() => execa('bash', [SCRIPT, 'stop', '--name', name], { reject: false }));
  const started = await execa('bash', [SCRIPT, 'start', '--name', name], { reject: false });
  t.equal(started.exitCode, 0, 'started', { output: started.stderr });
  const url = started.stdout.trim();
  const certs = (await execa('bash', [SCRIPT, 'certs', '--name', name])).stdout.trim();
  const underlay = (await execa('bash', [SCRIPT, 'underlay', '--name', name])).stdout.trim();
  const tls = ['-H', url, '--tlsverify', '--tlscacert', `${certs}/ca.pem`, '--tlscert', `${certs}/cert.pem`, '--tlskey', `${certs}/key.pem`];
  const remote = (args: string[], input?: string) => execa('nsenter', [`--net=/run/netns/${underlay}`, 'docker', ...tls, ...args], { reject: false, ...(input !== undefined ? { input } : {}) });

  t.not((await execa('docker', [...tls, 'version'], { reject: false, timeout: 10000 })).exitCode, 0, 'not reachable from the machine\'s own network: over the underlay only');
  const info = await remote(['info', '--format', '{{.Name}}']);
  t.equal(info.stdout.trim(), `flatlab-remote-${name}`, 'it says it is another machine');

  // a small image to look from: the base image, sent through the API as flatlab copies images
  const saved = await execa('sh', ['-c', `docker save flatlab-base:bookworm | nsenter --net=/run/netns/${underlay} docker ${tls.join(' ')} load`], { reject: false });
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

  // flatlab on a machine whose network reaches it: refused before anything is built
  const results = await tempDir(t);
  // the run's own prefixes (a run id of the test's own): other labs on the machine are not this test's
  const runId = ownRunId();
  const prefixes = prefixesFor(runId, 2);
  const run = await execa('nsenter', [`--net=/run/netns/${underlay}`, 'node', CLI, 'run', 'flatdhcp-multihost', '--backend', 'docker', '--engine', 'a=unix:///var/run/docker.sock', '--engine', `r=${url}`, '--underlay', underlay, '--results', results], {
    reject: false,
    cwd: ROOT,
    env: { NO_COLOR: '1', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs, FLATLAB_RUN_ID: runId },
  });
  t.equal(run.exitCode, 3, 'an environment error', { output: run.stderr });
  t.match(run.stderr, /engine r at tcp:\/\/10\.251\.0\.2:2376 runs its containers on another machine/);
  t.same(await namespacesOf(prefixes), [], 'nothing was built');
  t.equal((await remote(['ps', '-aq', '--filter', 'label=org.flatlab.run'])).stdout.trim(), '', 'no container of a run there');
});
