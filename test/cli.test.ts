/** The CLI's edges as people expect them: version, colours, help texts, completion, plan headers. */
import t from 'tap';
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const run = (args: string[], env: Record<string, string> = {}) => execa('node', [`${ROOT}bin/flatlab.js`, ...args], { reject: false, env: { ...env }, cwd: ROOT });
const ANSI = /\u001b\[/;

t.test('--version prints the package version', async (t) => {
  const r = await run(['--version']);
  t.equal(r.exitCode, 0);
  t.equal(r.stdout.trim(), JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')).version);
});

t.test('NO_COLOR and --no-color turn colours off even where colour is forced', async (t) => {
  const coloured = await run(['plan', 'flatdhcp-multihost'], { FORCE_COLOR: '1', NO_COLOR: '' });
  t.match(coloured.stdout, ANSI, 'colours when forced');
  t.notMatch((await run(['plan', 'flatdhcp-multihost'], { FORCE_COLOR: '1', NO_COLOR: '1' })).stdout, ANSI, 'NO_COLOR=1');
  t.notMatch((await run(['--no-color', 'plan', 'flatdhcp-multihost'], { FORCE_COLOR: '1', NO_COLOR: '' })).stdout, ANSI, '--no-color');
});

t.test("help says what up does with variants; plan names each variant", async (t) => {
  t.match((await run(['up', '--help'])).stdout, /--variant <name>\s+keep this variant \(default: the first\)/);
  const plan = (await run(['plan', 'flatdhcp-multihost'], { NO_COLOR: '1' })).stdout;
  t.match(plan, /^flatdhcp-multihost · variant same-net-allowed$/m);
  t.match(plan, /^flatdhcp-multihost · variant same-net-blocked$/m);
  t.match(plan, /release havana \(nova 2013\.2\)/);
});

t.test('completion scripts hold every command, and bash parses its own', async (t) => {
  const bash = await run(['completion', 'bash']);
  t.equal(bash.exitCode, 0);
  for (const c of ['run', 'up', 'suite', 'inspect', 'diagnose', 'clean', 'completion']) t.match(bash.stdout, new RegExp(`\\b${c}\\b`));
  t.match(bash.stdout, /flatdhcp-multihost/, 'scenario names');
  t.match(bash.stdout, /bugs\/uplink-left-down/);
  const check = await execa('bash', ['-n'], { input: bash.stdout, reject: false });
  t.equal(check.exitCode, 0, 'bash -n accepts it');
  t.match((await run(['completion', 'zsh'])).stdout, /^#compdef flatlab/);
  t.equal((await run(['completion', 'fish'])).exitCode, 2);
});

t.test('--release on plan, checked', async (t) => {
  const folsom = await run(['plan', 'flatdhcp-multihost', '--variant', 'same-net-allowed', '--release', 'folsom'], { NO_COLOR: '1' });
  t.match(folsom.stdout, /FLAGFILE=\S+ NETWORK_ID=1 dnsmasq --strict-order .*--dhcp-range=set:'private',10\.0\.0\.2,static,120s/);
  t.match(folsom.stdout, /vm_1\s+compute1\s+vnet0/);
  t.match(folsom.stdout, /-A nova-compute-inst-1 -s 10\.0\.0\.1 -p udp --sport 67 --dport 68 -j ACCEPT/, 'the first instance chain');
  const bad = await run(['plan', 'flatdhcp-multihost', '--release', 'icehouse']);
  t.equal(bad.exitCode, 2);
  t.match(bad.stderr, /--release: "icehouse" is not a release \(essex, folsom, grizzly, havana\)/);
});
