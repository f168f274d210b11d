/**
 * The compiled nova-dhcpbridge (native/nova-dhcpbridge.c) and the shell script it stands
 * in for (assets/nova-dhcpbridge) leave the same lease log after the same dnsmasq events,
 * and answer `init` the same. No root needed; skipped, saying why, where nothing was compiled.
 */
import t, { type Test } from 'tap';
import { execa } from 'execa';
import { existsSync, realpathSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// the checkout (the unit runner compiles tests elsewhere and links package.json back)
const ROOT = dirname(realpathSync(fileURLToPath(new URL('../package.json', import.meta.url))));
const SCRIPT = join(ROOT, 'assets', 'nova-dhcpbridge');
const COMPILED = join(ROOT, 'dist', 'native', 'nova-dhcpbridge');

// dnsmasq's calls: event, MAC, IP, hostname (absent or empty for an unnamed client), its environment
const EVENTS: { args: string[]; env: Record<string, string> }[] = [
  { args: ['init'], env: {} },
  { args: ['add', 'fa:16:3e:00:00:01', '10.0.0.3', 'vm-1'], env: { DNSMASQ_LEASE_EXPIRES: '1000', DNSMASQ_TIME_REMAINING: '120' } },
  { args: ['add', 'fa:16:3e:00:00:02', '10.0.0.4'], env: { DNSMASQ_LEASE_EXPIRES: '1010', DNSMASQ_TIME_REMAINING: '120' } },
  { args: ['old', 'fa:16:3e:00:00:01', '10.0.0.3', ''], env: { DNSMASQ_LEASE_EXPIRES: '1060', DNSMASQ_TIME_REMAINING: '120' } },
  { args: ['tftp', '1024', '10.0.0.3', '/boot'], env: {} },
  { args: ['del', 'fa:16:3e:00:00:02', '10.0.0.4', 'vm-2'], env: { DNSMASQ_LEASE_EXPIRES: '1070', DNSMASQ_TIME_REMAINING: '60' } },
  { args: ['init'], env: { DNSMASQ_LEASE_LENGTH: '120' } },
];

async function replay(t: Test, cmd: string[], dir: string): Promise<{ log: string; outputs: string[] }> {
  const log = join(dir, 'leases.log');
  const outputs: string[] = [];
  for (const e of EVENTS) {
    const r = await execa(cmd[0]!, [...cmd.slice(1), ...e.args], { env: { ...e.env, FLATLAB_LEASE_LOG: log }, extendEnv: false, reject: false });
    t.equal(r.exitCode, 0, `${cmd.join(' ')} ${e.args.join(' ')}: exit 0 ${r.stderr}`);
    outputs.push(r.stdout);
  }
  return { log: existsSync(log) ? await readFile(log, 'utf8') : '', outputs };
}

t.test('the compiled lease-event script records what the shell script records', { skip: existsSync(COMPILED) ? false : `${COMPILED} was not built (no C compiler): labs run the shell script` }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flatlab-dhcpbridge-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await Promise.all(['a', 'b'].map((d) => mkdir(join(dir, d))));
  const shell = await replay(t, ['/bin/sh', SCRIPT], join(dir, 'a'));
  const compiled = await replay(t, [COMPILED], join(dir, 'b'));
  t.equal(compiled.log, shell.log, 'the same lease log, line for line');
  t.same(compiled.outputs, shell.outputs, 'the same answers (init: the leases still held)');
  t.match(shell.log, /^880 add fa:16:3e:00:00:01 10\.0\.0\.3 vm-1$/m, 'the event time is dnsmasq\'s (expiry minus time remaining)');
  t.match(shell.outputs[6], /^1060 fa:16:3e:00:00:01 10\.0\.0\.3 \* \*$/, 'init answers the lease still held as its last event left it (renewed unnamed), in dnsmasq\'s lease-file form');
  t.equal(shell.outputs[6]?.split('\n').length, 1, 'and not the released one');
});

t.test('without FLATLAB_LEASE_LOG both refuse, saying why', { skip: existsSync(COMPILED) ? false : 'not built' }, async (t) => {
  for (const cmd of [['/bin/sh', SCRIPT], [COMPILED]]) {
    const r = await execa(cmd[0]!, [...cmd.slice(1), 'add', 'fa:16:3e:00:00:01', '10.0.0.3'], { env: {}, extendEnv: false, reject: false });
    t.not(r.exitCode, 0, `${cmd.at(-1)}: non-zero exit`);
    t.match(r.stderr, /FLATLAB_LEASE_LOG/, `${cmd.at(-1)}: says which variable`);
  }
});
