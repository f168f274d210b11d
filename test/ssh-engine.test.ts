/**
 * ssh:// engines (backend/docker/ssh-engine.ts): what OpenSSH would decide about a host and
 * an identity, decided the same way before flatlab connects. Where OpenSSH's own tools are
 * installed they are the oracle (ssh-keygen makes the keys and hashes known_hosts);
 * nothing here connects anywhere.
 */
import t from 'tap';
import { execa } from 'execa';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostFieldMatches, hostKeys, knownHostsName, sshOptions, sshTarget } from '../src/backend/docker/ssh-engine.js';
import { engineAddress } from '../src/backend/docker/engine.js';
import type { EnvironmentError } from '../src/errors.js';

/** What a refusal says, with its hint (EnvironmentError keeps them apart: exit 3, then what to do). */
function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    const err = e as EnvironmentError;
    return `${err.name}: ${err.message} / ${err.hint ?? ''}`;
  }
  return 'not refused';
}

const keygen = (await execa('sh', ['-c', 'command -v ssh-keygen'], { reject: false })).exitCode === 0;
const noKeygen = keygen ? false : 'ssh-keygen (openssh-client) is not installed: the keys and hashes OpenSSH makes are the oracle here';

t.test('ssh://[USER@]HOST[:PORT], as the docker CLI writes it', async (t) => {
  t.same(sshTarget('ssh://root@10.251.0.2'), { host: '10.251.0.2', port: 22, username: 'root' });
  t.same(sshTarget('ssh://ops@node-7.example:2222/'), { host: 'node-7.example', port: 2222, username: 'ops' });
  t.equal(sshTarget('ssh://[fd00::2]:2200')!.host, 'fd00::2');
  t.ok(sshTarget('ssh://h')!.username, "no user: this process's own, as ssh does");
  t.equal(sshTarget('ssh://a b'), null);
  t.same(engineAddress('ssh://root@10.0.0.9'), { ssh: { host: '10.0.0.9', port: 22, username: 'root' } });
  t.throws(() => engineAddress('ssh://root@'), /expected ssh:\/\/\[USER@\]HOST\[:PORT\]/);
  t.throws(() => engineAddress('ftp://x'), /unix:\/\/.*tcp:\/\/.*ssh:\/\//, 'the error names every form');
  t.equal(knownHostsName('h', 22), 'h');
  t.equal(knownHostsName('h', 2222), '[h]:2222', 'off port 22 known_hosts names [host]:port');
});

t.test('known_hosts: names, wildcards, negations, revoked keys; certificate authorities never trusted', async (t) => {
  t.ok(hostFieldMatches('a.example,10.0.0.1', '10.0.0.1'));
  t.ok(hostFieldMatches('*.example', 'n1.example'));
  t.notOk(hostFieldMatches('*.example,!bad.example', 'bad.example'), 'a negated name wins');
  t.notOk(hostFieldMatches('10.0.0.1', '[10.0.0.1]:2222'), 'a port other than 22 is another entry');
  const k1 = Buffer.from('key one').toString('base64');
  const k2 = Buffer.from('key two').toString('base64');
  const text = [`# comment`, `h1 ssh-ed25519 ${k1}`, `@revoked h1 ssh-ed25519 ${k2}`, `@cert-authority h1 ssh-ed25519 ${k2}`, `other ssh-rsa ${k2}`].join('\n');
  const keys = hostKeys(text, 'h1');
  t.same(keys.trusted.map(String), ['key one']);
  t.same(keys.revoked.map(String), ['key two']);
});

t.test('hashed known_hosts, as ssh-keygen -H writes them', { skip: noKeygen }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flatlab-ssh-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'known_hosts');
  await writeFile(file, `10.251.0.2 ssh-ed25519 ${Buffer.from('a').toString('base64')}\n[10.251.0.2]:2222 ssh-ed25519 ${Buffer.from('b').toString('base64')}\n`);
  await execa('ssh-keygen', ['-q', '-H', '-f', file]);
  const hashed = await readFile(file, 'utf8');
  t.match(hashed, /^\|1\|/m, 'ssh-keygen hashed the names');
  t.same(hostKeys(hashed, '10.251.0.2').trusted.map(String), ['a']);
  t.same(hostKeys(hashed, '[10.251.0.2]:2222').trusted.map(String), ['b']);
  t.same(hostKeys(hashed, '10.251.0.3').trusted, []);
});

t.test('options: an unknown host and no identity are refused saying what to do; a known host is checked by its key', { skip: noKeygen }, async (t) => {
  const home = await mkdtemp(join(tmpdir(), 'flatlab-ssh-home-'));
  t.teardown(() => rm(home, { recursive: true, force: true }));
  await mkdir(join(home, '.ssh'));
  const target = { host: '10.251.0.2', port: 2222, username: 'root' };
  const env = { HOME: home };
  t.match(refusal(() => sshOptions('ssh://root@10.251.0.2:2222', target, env)), /^EnvironmentError: .*\[10\.251\.0\.2\]:2222 is not in .*known_hosts.*ssh -p 2222 root@10\.251\.0\.2/s);
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(home, 'host')]);
  const hostPub = (await readFile(join(home, 'host.pub'), 'utf8')).split(' ');
  await writeFile(join(home, '.ssh', 'known_hosts'), `[10.251.0.2]:2222 ${hostPub[0]} ${hostPub[1]}\n`);
  t.match(refusal(() => sshOptions('ssh://x', target, env)), /^EnvironmentError: .*no ssh identity.*ssh-agent/s, 'known host, but nothing to log in with');
  // a key protected by a passphrase cannot be used unattended: skipped, and the agent named
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'secret', '-f', join(home, '.ssh', 'id_ed25519')]);
  t.throws(() => sshOptions('ssh://x', target, env), /no ssh identity/);
  t.same(Object.keys(sshOptions('ssh://x', target, { ...env, SSH_AUTH_SOCK: '/tmp/agent.sock' })).sort(), ['agent', 'hostVerifier']);
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(home, '.ssh', 'id_ecdsa')]);
  const o = sshOptions('ssh://x', target, env) as { privateKey?: string; hostVerifier(k: Buffer): boolean };
  t.match(o.privateKey, /BEGIN OPENSSH PRIVATE KEY/, 'the unprotected key is offered');
  t.ok(o.hostVerifier(Buffer.from(hostPub[1]!, 'base64')), "the host's own key is accepted");
  t.notOk(o.hostVerifier(Buffer.from('another key')), 'any other key is refused (a man in the middle)');
});
