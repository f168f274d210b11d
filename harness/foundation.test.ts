/**
 * The foundation end to end on real namespaces: the reference cluster, a reshaped one,
 * wrong expectations, bad input, and the root namespace left as it was found.
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { flatlab, namespacesOf, readResult, rootSnapshot, runOwned, skipUnlessRoot, tempDir, writeScenario, ROOT } from './lib.js';

const REFERENCE = join(ROOT, 'scenarios', 'flatdhcp-multihost.yaml');

t.test('the reference scenario', { skip: skipUnlessRoot }, async (t) => {
  const results = await tempDir(t);
  const before = await rootSnapshot();
  const r = await runOwned(['flatdhcp-multihost', '--variant', 'same-net-allowed', '--results', results]);
  t.equal(r.exitCode, 0, 'exit 0: every check as expected');
  t.match(r.stdout, /vm_1\s+compute1\s+fa:16:3e:\S+\s+10\.0\.0\.2\s+10\.0\.0\.1\s+pass/);
  t.match(r.stdout, /vm_3\s+compute2\s+fa:16:3e:\S+\s+10\.0\.0\.5\s+10\.0\.0\.4\s+pass/);
  t.match(r.stdout, /all 20 checks as expected/);

  const top = await readResult(r.stdout);
  t.equal(top.ok, true);
  t.equal(top.schemaVersion, 3);
  t.same(top.variants.map((v: any) => v.variant), ['same-net-allowed']);
  const res = top.variants[0];
  // what the VMs themselves hold
  t.same(res.observations.vms.vm_1.addresses, [{ ip: '10.0.0.2', prefixLength: 24 }]);
  t.equal(res.observations.vms.vm_1.defaultGateway, '10.0.0.1');
  t.same(res.observations.vms.vm_3.addresses, [{ ip: '10.0.0.5', prefixLength: 24 }]);
  t.equal(res.observations.vms.vm_3.defaultGateway, '10.0.0.4');
  t.equal(res.observations.vms.vm_3.dhcp.serverid, '10.0.0.4', "vm_3's offer came from compute2's dnsmasq");
  // what each node's dnsmasq recorded: own VMs only
  const mac1 = res.plan.vms[0].mac;
  const mac3 = res.plan.vms[2].mac;
  t.same(
    res.observations.leaseEvents.filter((e: any) => e.event === 'add').map((e: any) => `${e.node} ${e.ip}`).sort(),
    ['compute1 10.0.0.2', 'compute1 10.0.0.3', 'compute2 10.0.0.5', 'compute2 10.0.0.6'],
  );
  const dir = join(/results: (\S+)/.exec(r.stdout)![1]!, 'same-net-allowed');
  const c1 = await readFile(join(dir, 'nodes', 'compute1', 'leases.log'), 'utf8');
  const c2 = await readFile(join(dir, 'nodes', 'compute2', 'leases.log'), 'utf8');
  t.match(c1, `add ${mac1} 10.0.0.2 vm-1`);
  t.notMatch(c2, mac1);
  t.match(c2, `add ${mac3} 10.0.0.5 vm-3`);
  t.match(await readFile(join(dir, 'nodes', 'compute1', 'dnsmasq.log'), 'utf8'), /DHCPACK\(br100\) 10\.0\.0\.2/);
  t.equal(res.reach.length, 12);
  t.ok(res.reach.every((x: any) => x.observed === 'reachable' && /echo reply/.test(x.evidence)));
  for (const phase of ['build', 'dhcp', 'leases', 'reach', 'teardown', 'total']) t.type(res.timings[phase], 'number', `timing ${phase}`);

  t.same(await namespacesOf(r.prefixes), [], 'no namespace left');
  t.equal(await rootSnapshot(), before, 'root namespace unchanged');
});

t.test('other CIDR, bridge, uplink and a third node, without code changes', { skip: skipUnlessRoot }, async (t) => {
  const dir = await tempDir(t);
  const text = (await readFile(REFERENCE, 'utf8'))
    .replace(/^name: .*$/m, 'name: reshaped')
    .replace('10.0.0.0/24', '192.168.50.0/24')
    .replace('flat_network_bridge: br100', 'flat_network_bridge: br200')
    .replace('flat_interface: eth0', 'flat_interface: eth1')
    .replace(/^expect:[\s\S]*$/m, '')
    .replace('  compute2: {}  ', '  compute2: {}\n  node-3: {}  ')
    .replace('  vm_4: {host: compute2}', '  vm_4: {host: compute2}\n  db: {host: node-3}\n  web: {host: node-3}');
  const file = await writeScenario(dir, 'reshaped', text);
  const r = await runOwned([file, '--results', dir]);
  t.equal(r.exitCode, 0, 'exit 0', { output: r.stdout + r.stderr });
  t.match(r.stdout, /db\s+node-3\s+\S+\s+192\.168\.50\.8\s+192\.168\.50\.7\s+pass/);
  t.match(r.stdout, /vm_3\s+compute2\s+\S+\s+192\.168\.50\.5\s+192\.168\.50\.4\s+pass/);
  t.match(r.stdout, /all 42 checks as expected/, '6 leases, 6 gateways, 30 pairs');
  t.same(await namespacesOf(r.prefixes), []);
});

t.test('expectations that differ from what the VMs really got fail with exit 1', { skip: skipUnlessRoot }, async (t) => {
  const dir = await tempDir(t);
  const text = (await readFile(REFERENCE, 'utf8')).replace(/^expect:[\s\S]*$/m, '').concat(
    'expect:\n  leases: {vm_2: 10.0.0.7}\n  gateways: {vm_4: 10.0.0.1}\n  checks:\n    - {from: vm_1, to: vm_3, expect: unreachable}\n',
  );
  const r = await runOwned([await writeScenario(dir, 'wrong', text), '--results', dir]);
  t.equal(r.exitCode, 1);
  t.match(r.stdout, /FAIL reach vm_1 -> vm_3 icmp: expected unreachable, observed reachable/);
  t.match(r.stdout, /FAIL lease vm_2: expected 10\.0\.0\.7\/24 on \S+, leased by compute1, observed 10\.0\.0\.3\/24/);
  t.match(r.stdout, /FAIL gateway vm_4: expected 10\.0\.0\.1, observed 10\.0\.0\.4/);
  t.match(r.stdout, /3 of 20 checks failed/);
  const res = await readResult(r.stdout);
  t.equal(res.ok, false);
  t.same(res.summary, { passed: 17, failed: 3, skipped: 0 });
  t.same(res.variants[0].summary, { passed: 17, failed: 3, skipped: 0 });
  t.same(await namespacesOf(r.prefixes), []);
});

t.test('bad scenarios exit 2 with file:line:col and field, no stack trace', async (t) => {
  const dir = await tempDir(t);
  const base = await readFile(REFERENCE, 'utf8');
  // line:col of a text in the file, so the expectations follow edits of the file's comments
  const at = (text: string, needle: string, offset = 0): string => {
    const i = text.indexOf(needle) + offset;
    const before = text.slice(0, i).split('\n');
    return `${before.length}:${before[before.length - 1]!.length + 1}`;
  };
  const unknown = base.replace('  multi_host: true\n', '  multi_host: true\n  multihost: true\n');
  const missing = base.replace('vm_3: {host: compute2}', 'vm_3: {host: compute3}');
  const cidr = base.replace('fixed_range: 10.0.0.0/24', 'fixed_range: 10.0.0.0/40');
  const dup = base.replace('vm_1: {host: compute1}', 'vm_1: {host: compute1, ip: 10.0.0.9}').replace('vm_2: {host: compute1}', 'vm_2: {host: compute1, ip: 10.0.0.9}');
  const outside = base.replace('vm_1: {host: compute1}', 'vm_1: {host: compute1, ip: 10.1.0.9}');
  const cases: [string, string, RegExp][] = [
    ['unknown-key', unknown, new RegExp(`unknown-key\\.yaml:${at(unknown, 'multihost:')} nova\\.multihost: unknown key "multihost"`)],
    ['missing-node', missing, new RegExp(`missing-node\\.yaml:${at(missing, 'compute3')} vms\\.vm_3\\.host: no node "compute3"`)],
    ['bad-cidr', cidr, new RegExp(`bad-cidr\\.yaml:${at(cidr, '10.0.0.0/40')} nova\\.fixed_range: "/40" is not a prefix length`)],
    ['dup-ip', dup, new RegExp(`dup-ip\\.yaml:${at(dup, '10.0.0.9', dup.indexOf('vm_2: {') - dup.indexOf('10.0.0.9') + 'vm_2: {host: compute1, ip: '.length)} vms\\.vm_2\\.ip: 10\\.0\\.0\\.9 is already taken by vms\\.vm_1`)],
    ['outside', outside, new RegExp(`outside\\.yaml:${at(outside, '10.1.0.9')} vms\\.vm_1\\.ip: 10\\.1\\.0\\.9 is outside the network 10\\.0\\.0\\.0/24`)],
  ];
  const files: string[] = [];
  for (const [name, text, want] of cases) {
    const file = await writeScenario(dir, name, text);
    files.push(file);
    const r = await flatlab(['run', file, '--results', dir]);
    t.equal(r.exitCode, 2, `${name}: run exits 2`);
    t.match(r.stderr, want, `${name}: run names the place`);
    t.notMatch(r.stderr, /\n\s+at /, `${name}: no stack trace`);
  }
  const v = await flatlab(['validate', REFERENCE, ...files]);
  t.equal(v.exitCode, 2, 'validate exits 2 when any file is bad');
  t.match(v.stdout, /^ok .*flatdhcp-multihost\.yaml$/m);
  for (const [, , want] of cases) t.match(v.stderr, want, 'validate reports every file');
  const p = await flatlab(['plan', files[1]!]);
  t.equal(p.exitCode, 2);
  t.match(p.stderr, cases[1]![2]);
  const noSuch = await flatlab(['run', 'no-such-scenario']);
  t.equal(noSuch.exitCode, 2);
  t.match(noSuch.stderr, /no-such-scenario: no such scenario file or name/);
});

t.test('names that are iproute2 keywords still work (explicit name/dev everywhere)', { skip: skipUnlessRoot }, async (t) => {
  const dir = await tempDir(t);
  const text = `name: keywords
nova:
  multi_host: true
  fixed_range: 10.7.0.0/24
  flat_network_bridge: master
  flat_interface: type
nodes:
  a: {}
  up: {}
vms:
  t: {host: a}
  dev: {host: up}
  mtu: {host: up}
`;
  const r = await runOwned([await writeScenario(dir, 'keywords', text), '--results', dir]);
  t.equal(r.exitCode, 0, 'exit 0', { output: r.stdout + r.stderr });
  t.match(r.stdout, /all 12 checks as expected/);
  t.same(await namespacesOf(r.prefixes), []);
});
