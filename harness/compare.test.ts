/**
 * The round trip: collect.sh run inside a lab's nodes (under dash, busybox sh, and with
 * nothing on PATH but iproute2, iptables and coreutils) changes nothing there, and
 * `compare` against the scenario finds no difference on a healthy node and names each
 * fault flatlab can plant inside a node as the difference it is. A fault outside the
 * node (the fabric: the hypervisor's NIC) is invisible from inside it, and compare says so.
 */
import t from 'tap';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { ROOT, flatlab, namespacesOf, runOwned, skipUnlessRoot, tempDir, upOwned, writeScenario } from './lib.js';

const SCRIPT = join(ROOT, 'assets', 'collect.sh');

// one node per fault, one VM each: one lab holds them all
const FAULTS: Record<string, { fault: string | null; kinds: string[] }> = {
  healthy: { fault: null, kinds: [] },
  noaddr: { fault: 'bridge-without-address', kinds: ['bridge-address-missing!'] },
  fwdoff: { fault: 'ip-forward-off', kinds: ['ip-forward-off!'] },
  unbridged: { fault: 'uplink-not-enslaved', kinds: ['uplink-not-enslaved!'] },
  isolated: { fault: 'firewall-drop', kinds: ['same-net-missing!'] },
  unfiltered: { fault: 'dhcp-unfiltered', kinds: ['hosts-foreign!'] },
  nfoff: { fault: 'bridge-nf-off', kinds: ['bridge-nf-off'] },
  nodhcp: { fault: 'dnsmasq-no-address', kinds: ['bridge-address-missing!', 'dnsmasq-missing!'] },
  // outside the node: the hypervisor's NIC (report 4); nothing inside the node differs
  promisc: { fault: 'nic-promisc-deny', kinds: [] },
};

const SCENARIO = `name: compare-roundtrip
nova: {multi_host: true, fixed_range: 10.0.0.0/24}
nodes:
${Object.keys(FAULTS).map((n) => `  ${n}: {}`).join('\n')}
vms:
${Object.keys(FAULTS).map((n, k) => `  v${k + 1}: {host: ${n}}`).join('\n')}
faults:
${Object.entries(FAULTS).filter(([, f]) => f.fault).map(([n, f]) => `  - {type: ${f.fault}, node: ${n}}`).join('\n')}
`;

/** What must not change inside a node: links, addresses, routes, rules, sysctls, processes. */
async function nodeSnapshot(prefix: string, node: string): Promise<string> {
  const ex = async (argv: string[]): Promise<string> => (await flatlab(['exec', '--run', prefix, node, '--', ...argv])).stdout;
  return [
    (await ex(['ip', '-d', 'link', 'show'])).replace(/ (hello|tcn|topology_change|gc)_timer\s+[\d.]+/g, ''),
    await ex(['ip', 'addr', 'show']),
    await ex(['ip', 'route', 'show']),
    (await ex(['iptables-save'])).split('\n').filter((l) => !l.startsWith('#')).join('\n'),
    await ex(['ebtables', '-t', 'filter', '-L']),
    await ex(['ebtables', '-t', 'nat', '-L']),
    await ex(['sysctl', 'net.ipv4.ip_forward', 'net.bridge.bridge-nf-call-iptables']),
  ].join('\n--\n');
}

t.test('collect inside each node, compare against the scenario', { skip: skipUnlessRoot }, async (t) => {
  const dir = await tempDir(t);
  const file = await writeScenario(dir, 'compare-roundtrip', SCENARIO);
  const up = await upOwned(t, [file, '-q', '--results', join(dir, 'results')]);
  t.ok(up.prefix, 'the lab is up', { output: up.stdout + up.stderr });
  const prefix = up.prefix!;
  const collect = async (node: string, shell: string[], out: string, env: Record<string, string> = {}) => {
    const r = await flatlab(['exec', '--run', prefix, node, '--', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...shell, SCRIPT, out]);
    t.equal(r.exitCode, 0, `${node}: ${shell.join(' ')} collect.sh`, { stderr: r.stderr });
    return out;
  };
  const compare = async (node: string, collected: string) => {
    const r = await flatlab(['compare', node, collected, '--scenario', file, '--json']);
    const j = JSON.parse(r.stdout) as { differences: { kind: string; breaks: boolean; what: string }[] };
    return { exitCode: r.exitCode, kinds: j.differences.map((d) => `${d.kind}${d.breaks ? '!' : ''}`), what: j.differences.map((d) => d.what) };
  };

  await t.test('read-only, under dash and busybox sh', async (t) => {
    const before = await nodeSnapshot(prefix, 'healthy');
    const a = await collect('healthy', ['dash'], join(dir, 'dash'));
    const b = await collect('healthy', ['busybox', 'sh'], join(dir, 'busybox.tar.gz'));
    t.equal(await nodeSnapshot(prefix, 'healthy'), before, 'nothing changed in the node');
    for (const c of [a, b]) {
      const r = await compare('healthy', c);
      t.same(r.kinds, [], `${c}: no difference`, { what: r.what });
      t.equal(r.exitCode, 0);
    }
  });

  await t.test('nothing on PATH but iproute2, iptables and coreutils', async (t) => {
    const bin = join(dir, 'bin');
    await mkdir(bin);
    const tools = ['ip', 'bridge', 'iptables-save', 'cat', 'tr', 'mkdir', 'ls', 'date', 'uname', 'id', 'readlink', 'dirname', 'basename', 'rm', 'env'];
    for (const tool of tools) {
      const where = (await execa('sh', ['-c', 'command -v "$1"', 'sh', tool])).stdout.trim();
      await symlink(where, join(bin, tool));
    }
    const out = await collect('healthy', ['/bin/dash'], join(dir, 'bare'), { PATH: bin });
    const r = await compare('healthy', out);
    t.same(r.kinds, [], 'no difference', { what: r.what });
  });

  await t.test("without --scenario: the model from the node's own nova.conf", async (t) => {
    const conf = join(dir, 'nova.conf');
    await writeFile(conf, '[DEFAULT]\nnetwork_manager=nova.network.manager.FlatDHCPManager\nmulti_host=True\nfixed_range=10.0.0.0/24\nrabbit_password=guest\n');
    for (const [node, kinds] of [['healthy', []], ['noaddr', ['bridge-address-missing!']]] as const) {
      const out = await collect(node, ['dash'], join(dir, `own-${node}`), { NOVA_CONF: conf });
      t.match(await readFile(join(out, 'nova.conf'), 'utf8'), /rabbit_password=\*\*\*/, 'the password is masked');
      const r = await flatlab(['compare', node, out, '--json']);
      t.same(JSON.parse(r.stdout).differences.map((d: { kind: string; breaks: boolean }) => `${d.kind}${d.breaks ? '!' : ''}`), kinds, node);
    }
  });

  await t.test('each fault inside a node is named as itself', async (t) => {
    await Promise.all(
      Object.entries(FAULTS).map(async ([node, f]) => {
        const r = await compare(node, await collect(node, ['dash'], join(dir, `fault-${node}`)));
        t.same(r.kinds, f.kinds, `${node} (${f.fault ?? 'no fault'}): ${r.kinds.join(', ') || 'no difference'}`, { what: r.what });
        t.equal(r.exitCode, f.kinds.some((k) => k.endsWith('!')) ? 1 : 0, `${node}: exit code`);
      }),
    );
  });
});

t.test('collect-script prints the shipped script; compare refuses what collect.sh did not write', async (t) => {
  const r = await flatlab(['collect-script']);
  t.equal(r.exitCode, 0);
  t.match(r.stdout, /^#!\/bin\/sh\n# flatlab collect/);
  const dir = await tempDir(t);
  const bad = await flatlab(['compare', 'compute1', dir, '--scenario', 'flatdhcp-multihost']);
  t.equal(bad.exitCode, 2);
  t.match(bad.stderr, /not written by collect\.sh/);
  const none = await flatlab(['compare', 'compute1', join(dir, 'nope')]);
  t.equal(none.exitCode, 2);
  t.match(none.stderr, /no such folder or tarball/);
});

t.test("the post's nova.conf, INI and Essex flagfile, imports into a scenario that runs green", { skip: skipUnlessRoot }, async (t) => {
  const dir = await tempDir(t);
  for (const src of ['nova.conf', 'nova.flagfile']) {
    const file = join(dir, `${src.replace('.', '-')}.yaml`);
    const imp = await flatlab(['import', join(ROOT, 'examples', 'bug-report', src), '-o', file]);
    t.equal(imp.exitCode, 0, imp.stderr);
    const r = await runOwned([file, '-q', '--results', join(dir, 'results')]);
    t.equal(r.exitCode, 0, `${src}: every check as expected`, { output: r.stdout + r.stderr });
    t.match(r.stdout, /all \d+ checks as expected/);
    t.same(await namespacesOf(r.prefixes), []);
  }
});
