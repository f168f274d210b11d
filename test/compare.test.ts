/**
 * flatlab compare, without root: a dump collected from a healthy flatdhcp-multihost
 * compute1 (test/fixtures/collected/, written by assets/collect.sh inside a lab) against
 * the scenario's model yields nothing; each planted difference is named, with whether it
 * breaks a flow.
 */
import t from 'tap';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareNode } from '../src/compare/compare.js';
import { readDump } from '../src/compare/dump.js';
import { parseIptablesSave, ruleKey } from '../src/net/iptables-save.js';
import { LAB_ONLY_DNSMASQ_OPTIONS } from '../src/plan/dnsmasq.js';
import { planRun as planVariant, selectVariants } from '../src/run/run-scenario.js';
import { LAB_ASSETS } from '../src/assets.js';
import { loadScenarioFile } from '../src/scenario/load.js';

const FIXTURE = new URL('./fixtures/collected/flatdhcp-compute1', import.meta.url).pathname;
const scenario = await loadScenarioFile(new URL('../scenarios/flatdhcp-multihost.yaml', import.meta.url).pathname);
const planOf = (variant: string) => planVariant(selectVariants(scenario, variant)[0]!, '000000');
const allowed = planOf('same-net-allowed');

/** A copy of the clean dump with `edit` applied to its files, removed when the test ends. */
function planted(t: { teardown: (fn: () => void) => void }, edit: Record<string, (text: string) => string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'flatlab-compare-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(FIXTURE, dir, { recursive: true });
  for (const [file, f] of Object.entries(edit)) writeFileSync(join(dir, file), f(readFileSync(join(dir, file), 'utf8')));
  return dir;
}
const kinds = (dir: string, plan = allowed) => compareNode(plan, 'compute1', readDump(dir)).map((d) => `${d.kind}${d.breaks ? '!' : ''}`);

t.test('a clean dump yields nothing', async (t) => {
  t.same(compareNode(allowed, 'compute1', readDump(FIXTURE)), []);
});

t.test('planted differences are each named', async (t) => {
  // bridge address removed (report 5): no pool address, so also no route
  const noAddr = planted(t, { 'addrs.txt': (s) => s.split('\n').filter((l) => !/inet 10\.0\.0\.1\//.test(l)).join('\n'), 'routes.txt': () => '' });
  t.same(kinds(noAddr), ['bridge-address-missing!']);
  const d = compareNode(allowed, 'compute1', readDump(noAddr))[0]!;
  t.match(d.what, 'br100 has no address from 10.0.0.0/24 (model: 10.0.0.1/24)');
  t.match(d.symptom, /vm_1, vm_2 get no lease/);
  t.equal(d.report, 5);
  // the uplink out of the bridge
  const out = planted(t, { 'links.txt': (s) => s.replace(/(eth0@if3: <[^>]*> mtu 1500 qdisc noqueue) master br100/, '$1') });
  t.same(kinds(out), ['uplink-not-enslaved!']);
  // ip_forward 0 on a node that is its VMs' gateway (report 2)
  t.same(kinds(planted(t, { 'sysctl.txt': (s) => s.replace('net.ipv4.ip_forward = 1', 'net.ipv4.ip_forward = 0') })), ['ip-forward-off!']);
  // a second subnet on the bridge (report 1): named, not breaking by itself
  const second = planted(t, { 'addrs.txt': (s) => `${s}3: br100    inet 192.168.206.130/24 brd 192.168.206.255 scope global br100\\       valid_lft forever preferred_lft forever\n` });
  t.same(kinds(second), ['extra-subnet']);
  t.match(compareNode(allowed, 'compute1', readDump(second))[0]!.what, 'br100 also carries 192.168.206.130/24, outside 10.0.0.0/24');
  // a DROP rule ahead of nova-filter-top
  const drop = planted(t, { 'iptables-save.txt': (s) => s.replace('[40:6228] -A FORWARD -j nova-filter-top', '[7:588] -A FORWARD -p icmp -j DROP\n[40:6228] -A FORWARD -j nova-filter-top') });
  const dd = compareNode(allowed, 'compute1', readDump(drop));
  t.same(dd.map((x) => x.kind), ['drop-before-nova']);
  t.ok(dd[0]!.breaks);
  t.match(dd[0]!.what, '-A FORWARD -p icmp -j DROP (7 packets matched)');
  // the uplink down (report 8)
  t.same(kinds(planted(t, { 'links.txt': (s) => s.replace('eth0@if3: <BROADCAST,MULTICAST,UP,LOWER_UP>', 'eth0@if3: <BROADCAST,MULTICAST>') })), ['uplink-down!']);
  // bridge-nf off matters only where isolation rests on it
  const nf = { 'sysctl.txt': (s: string) => s.replace('net.bridge.bridge-nf-call-iptables = 1', 'net.bridge.bridge-nf-call-iptables = absent') };
  t.same(kinds(planted(t, nf)), ['bridge-nf-off']);
  // a hosts file listing another node's VM, and one missing its own
  const hosts = planted(t, { 'dnsmasq-100/dhcp-hostsfile': (s) => s.replace(/.*vm-2.*\n/, '') + `${allowed.vms[2]!.mac},vm-3.novalocal,${allowed.vms[2]!.ip}\n` });
  t.same(kinds(hosts), ['hosts-missing!', 'hosts-foreign!']);
  // no dnsmasq at all
  t.same(kinds(planted(t, {}), allowed).length, 0);
  const gone = planted(t, {});
  rmSync(join(gone, 'dnsmasq-100'), { recursive: true });
  t.same(kinds(gone), ['dnsmasq-missing!']);
  // a MAC filter on the node's bridge (ebtables)
  t.same(kinds(planted(t, { 'ebtables.txt': (s) => s.replace('Bridge chain: FORWARD, entries: 0, policy: ACCEPT', 'Bridge chain: FORWARD, entries: 1, policy: ACCEPT\n-o eth0 -d ! 52:54:00:7b:34:85 -j DROP') })), ['ebtables-drop!']);
  // a file the node could not give is "not collected", never "absent"
  const partial = planted(t, {});
  rmSync(join(partial, 'iptables-save.txt'));
  t.same(kinds(partial), ['not-collected']);
});

t.test('the model\'s isolation against a node without it, and the other way round', async (t) => {
  const blocked = planOf('same-net-blocked');
  t.same(kinds(FIXTURE, blocked), ['same-net-extra!', 'same-net-extra!']);
  const noSameNet = planted(t, { 'iptables-save.txt': (s) => s.replace(/.*-A nova-compute-inst-1 -s 10\.0\.0\.0\/24 -j ACCEPT\n/, '') });
  t.same(kinds(noSameNet), ['same-net-missing!']);
});

t.test('rule keys: nova\'s spelling and iptables-save\'s are one rule', async (t) => {
  t.equal(ruleKey('-j ACCEPT -p tcp --dport 22 -s 1.2.3.4'.split(' ')), ruleKey('-s 1.2.3.4/32 -p tcp -m tcp --dport 22 -j ACCEPT'.split(' ')));
  t.equal(ruleKey('-m state --state ESTABLISHED,RELATED -j ACCEPT'.split(' ')), ruleKey('-m state --state RELATED,ESTABLISHED -j ACCEPT'.split(' ')));
  t.not(ruleKey('-s 10.0.0.0/24 -j ACCEPT'.split(' ')), ruleKey('-s 10.0.0.0/24 -j DROP'.split(' ')));
  t.not(ruleKey(['!', '-s', '10.0.0.1', '-j', 'ACCEPT']), ruleKey(['-s', '10.0.0.1', '-j', 'ACCEPT']));
  const tables = parseIptablesSave('*filter\n:FORWARD DROP [0:0]\n[3:9] -A FORWARD -m comment --comment "a b" -j DROP\nCOMMIT\n');
  t.equal(tables.get('filter')!.policies.get('FORWARD'), 'DROP');
  t.equal(tables.get('filter')!.rules[0]!.packets, 3);
  t.match(tables.get('filter')!.rules[0]!.key, '--comment=a b');
});

t.test('the options flatlab adds to dnsmasq are in its planned argv (compare leaves them out)', async (t) => {
  const argv = allowed.nodes[0]!.dhcp!.argv;
  for (const o of LAB_ONLY_DNSMASQ_OPTIONS) t.ok(argv.some((a) => a === o || a.startsWith(`${o}=`)), o);
});

t.test('without a scenario: the model from the nova.conf collected beside the dump', async (t) => {
  const { modelFromNode } = await import('../src/compare/node-model.js');
  const conf = '[DEFAULT]\nnetwork_manager=nova.network.manager.FlatDHCPManager\nmulti_host=True\nfixed_range=10.0.0.0/24\nflat_interface=eth0\nsql_connection=mysql://nova:***@db/nova\n';
  const dir = planted(t, {});
  writeFileSync(join(dir, 'nova.conf'), conf);
  const { plan, label } = modelFromNode(readDump(dir), 'compute1', undefined, { runtimeRoot: '/run/flatlab', assets: LAB_ASSETS });
  t.match(label, /2 instance\(s\) from its dnsmasq hosts file/);
  t.same(plan.vms.map((v) => [v.name, v.ip]), [['vm-1', '10.0.0.2'], ['vm-2', '10.0.0.3']]);
  t.same(compareNode(plan, 'compute1', readDump(dir)), [], 'the clean node matches its own nova.conf');
  // the bridge that lost its address: the model keeps the address dnsmasq listens on
  const lost = planted(t, { 'addrs.txt': (s) => s.split('\n').filter((l) => !/inet 10\.0\.0\.1\//.test(l)).join('\n'), 'routes.txt': () => '' });
  writeFileSync(join(lost, 'nova.conf'), conf);
  const m = modelFromNode(readDump(lost), 'compute1', undefined, { runtimeRoot: '/run/flatlab', assets: LAB_ASSETS });
  t.same(compareNode(m.plan, 'compute1', readDump(lost)).map((d) => d.kind), ['bridge-address-missing']);
  // a nova.conf saying isolation is on, against the node's chains that allow same-net
  writeFileSync(join(dir, 'nova.conf'), `${conf}allow_same_net_traffic=False\n`);
  const iso = modelFromNode(readDump(dir), 'compute1', undefined, { runtimeRoot: '/run/flatlab', assets: LAB_ASSETS });
  t.same(compareNode(iso.plan, 'compute1', readDump(dir)).map((d) => d.kind), ['same-net-extra', 'same-net-extra']);
  const none = planted(t, {});
  t.throws(() => modelFromNode(readDump(none), 'compute1', undefined, { runtimeRoot: '/run/flatlab', assets: LAB_ASSETS }), /no nova\.conf was collected/);
});

t.test('a dump collected without root says so, and what it lacks is not collected, not absent', async (t) => {
  const dir = planted(t, { 'meta.txt': (s) => s.replace('uid 0', 'uid 1000') });
  rmSync(join(dir, 'iptables-save.txt'));
  t.same(kinds(dir), ['not-root', 'not-collected']);
});
