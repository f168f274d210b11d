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
  // shown as a command line a shell reads back: the quoted tag in single quotes, escaped
  t.match(folsom.stdout, /FLAGFILE=\S+ NETWORK_ID=1 dnsmasq --strict-order .*'--dhcp-range=set:'\\''private'\\'',10\.0\.0\.2,static,120s'/);
  t.match(folsom.stdout, /vm_1\s+compute1\s+vnet0/);
  t.match(folsom.stdout, /-A nova-compute-inst-1 -s 10\.0\.0\.1 -p udp --sport 67 --dport 68 -j ACCEPT/, 'the first instance chain');
  const bad = await run(['plan', 'flatdhcp-multihost', '--release', 'icehouse']);
  t.equal(bad.exitCode, 2);
  t.match(bad.stderr, /--release: "icehouse" is not a release \(essex, folsom, grizzly, havana\)/);
});

t.test('import: a scenario on stdout, notes on stderr; a broken nova.conf is exit 2 at its line', async (t) => {
  const ok = await run(['import', 'examples/bug-report/nova.flagfile', '--vms', 'compute1:1,compute2:1']);
  t.equal(ok.exitCode, 0, ok.stderr);
  t.match(ok.stdout, /^# Written by flatlab import from examples\/bug-report\/nova\.flagfile \(Essex flagfile\)/);
  t.match(ok.stderr, /warning: has no effect under FlatDHCPManager/);
  const dir = (await execa('mktemp', ['-d'])).stdout;
  t.teardown(() => execa('rm', ['-rf', dir]));
  const broken = `${dir}/nova.conf`;
  await execa('sh', ['-c', 'printf "[DEFAULT]\\nfixed_range=10.0.0.0/24\\nflat_interface\\n" > "$1"', 'sh', broken]);
  const bad = await run(['import', broken]);
  t.equal(bad.exitCode, 2);
  t.equal(bad.stderr.trim(), `${broken}:3 expected "option = value", found "flat_interface"`);
  t.notMatch(bad.stderr, /\bat .*\.js:\d+/, 'no stack trace');
  const noFile = await run(['import', `${dir}/nope.conf`]);
  t.equal(noFile.exitCode, 2);
  t.match(noFile.stderr, /nope\.conf: cannot read \(no such file\)/);
  const out = `${dir}/mine.yaml`;
  const written = await run(['import', 'examples/bug-report/nova.conf', '-o', out]);
  t.equal(written.exitCode, 0);
  t.match(written.stderr, /wrote .*mine\.yaml: 1 file\(s\) read, 0 option\(s\) ignored/);
  t.match(readFileSync(out, 'utf8'), /^name: mine$/m, 'named after the output file');
  t.equal((await run(['validate', out])).exitCode, 0);
});

t.test('collect-script is the shipped POSIX script, and dash and busybox parse it', async (t) => {
  const r = await run(['collect-script']);
  t.equal(r.stdout, readFileSync(`${ROOT}assets/collect.sh`, 'utf8').trimEnd());
  for (const sh of [['dash', '-n'], ['busybox', 'sh', '-n']]) {
    const check = await execa(sh[0]!, sh.slice(1), { input: r.stdout, reject: false });
    t.equal(check.exitCode, 0, `${sh.join(' ')}: ${check.stderr}`);
  }
  t.notMatch(r.stdout, /\b(sed|grep|awk|perl|python)\b/, 'nothing beyond iproute2, iptables and coreutils (and optional ebtables, brctl, tar)');
});
