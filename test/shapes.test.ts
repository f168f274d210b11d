/** Planning the other flat shapes: single host, FlatManager, NICs, the way out. */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { parseScenario } from '../src/scenario/load.js';
import { plan } from '../src/plan/plan.js';
import type { Plan } from '../src/plan/types.js';
import { REFERENCE, errorsOf as errorsOfFile, warningsOf as warningsOfFile } from './helpers.js';
import { assetsIn } from '../src/assets.js';

const OPTS = { runId: 'abc123', runtimeRoot: '/run/flatlab', assets: assetsIn('/x') };
const planOf = (text: string): Plan => plan(parseScenario(text), OPTS);
const scenario = (name: string): Promise<string> => readFile(new URL(`../scenarios/${name}.yaml`, import.meta.url), 'utf8');

const errorsOf = (text: string): string[] => errorsOfFile(text, 'x.yaml');
const warningsOf = (text: string): string[] => warningsOfFile(text, 'x.yaml');

t.test('single host: the network host holds the gateway and the only dnsmasq, for every VM', async (t) => {
  const p = planOf(await scenario('flatdhcp-singlehost'));
  const [controller, c1, c2] = p.nodes;
  t.equal(controller!.bridgeIp, '10.0.0.1');
  t.equal(c1!.bridgeIp, null, "compute nodes' bridges carry no pool address");
  t.equal(c2!.dhcp, null);
  t.equal(c1!.dhcp, null);
  t.same(p.vms.map((v) => v.ip), ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5']);
  t.ok(p.vms.every((v) => v.gateway === '10.0.0.1'));
  t.equal(controller!.dhcp!.hostsFileText.split('\n').filter(Boolean).length, 4, 'its hosts file lists every VM');
  t.notOk(controller!.dhcp!.argv.includes('--no-hosts'), 'no --no-hosts/--addn-hosts without multi_host (as nova)');
  t.same(Object.values(p.expected.addressSources), Array(4).fill({ kind: 'dnsmasq', node: 'controller' }));
  t.match(c1!.firewall, /-A nova-compute-inst-1 -s 10\.0\.0\.1 -p udp --sport 67 --dport 68 -j ACCEPT/, "instances accept DHCP from the network host");
  t.match(c1!.firewall, /-A nova-compute-FORWARD -i br100 -j ACCEPT/, "plug_bridge's accepts on compute-only nodes");
  t.notMatch(c1!.firewall, /nova-network-FORWARD -i/);
  t.notMatch(c1!.firewall, /\*nat/, 'only the network host NATs');
  t.match(controller!.firewall, /-A nova-network-snat -s 10\.0\.0\.0\/24 -d 0\.0\.0\.0\/0 -j SNAT --to-source 203\.0\.113\.2 -o eth0/);
  t.same(p.expected.egress.map((e) => `${e.vm}>${e.via}=${e.source}`), ['vm_1>controller=203.0.113.2', 'vm_2>controller=203.0.113.2', 'vm_3>controller=203.0.113.2', 'vm_4>controller=203.0.113.2']);
});

t.test('multi_host with two NICs: each node SNATs its own VMs', async (t) => {
  const p = planOf(await scenario('flatdhcp-multihost-external'));
  t.same(p.nodes.map((n) => n.public), [
    { iface: 'eth0', ip: '203.0.113.11', prefixLength: 24, layout: 'two-nics', fabricPort: 'pub.0' },
    { iface: 'eth0', ip: '203.0.113.12', prefixLength: 24, layout: 'two-nics', fabricPort: 'pub.1' },
  ]);
  t.equal(p.fabric.publicBridge, 'public');
  t.ok(p.wiring.fabric.includes('link add name pub.1 type veth peer name eth0 netns fl-abc123-compute2'));
  t.ok(p.wiring.fabric.includes('link set dev external master public up'), 'the external host is on the public segment');
  t.ok(p.wiring.nodes.compute2!.includes('addr add 203.0.113.12/24 dev eth0'));
  t.ok(p.wiring.nodes.compute2!.includes('link set dev eth1 master br100 up'));
  t.same(p.wiring.hosts.external, ['link set dev lo up', 'link set dev eth0 up', 'addr add 203.0.113.1/24 dev eth0']);
  t.same(p.expected.egress.map((e) => e.source), ['203.0.113.11', '203.0.113.11', '203.0.113.12', '203.0.113.12']);
  t.match(p.nodes[1]!.firewall, /\*nat\n[\s\S]*-A nova-network-POSTROUTING -s 10\.0\.0\.0\/24 -d 10\.0\.0\.0\/24 -m conntrack ! --ctstate DNAT -j ACCEPT\n/);
});

t.test('one NIC: the node address moves onto the bridge, the external host shares the flat wire', async (t) => {
  const p = planOf(await scenario('flatdhcp-single-interface'));
  t.equal(p.fabric.publicBridge, null);
  t.equal(p.nodes[0]!.public!.layout, 'single-interface');
  const lines = p.wiring.nodes.compute1!;
  t.ok(lines.indexOf('addr add 203.0.113.2/24 dev br100') > lines.indexOf('addr add 10.0.0.1/24 brd 10.0.0.255 dev br100'), 'after the pool address, as nova keeps dhcp_server first');
  t.ok(p.wiring.fabric.includes('link set dev external master fabric up'));
  t.match(p.nodes[0]!.firewall, /-j SNAT --to-source 203\.0\.113\.2 -o br100/);
});

t.test('FlatManager with injection: no DHCP, a config file per guest', async (t) => {
  const p = planOf(await scenario('flat-injected'));
  t.ok(p.nodes.every((n) => n.dhcp === null && n.bridgeIp === null && !n.isGateway));
  t.equal(p.network.gateway, '10.0.0.1');
  t.same(p.vms.map((v) => v.ip), ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5'], 'the walk starts after the gateway');
  t.ok(p.vms.every((v) => v.boot === 'injected'));
  t.match(p.vms[2]!.injectedConfig, /iface eth0 inet static\n {8}address 10\.0\.0\.4\n {8}netmask 255\.255\.255\.0\n {8}broadcast 10\.0\.0\.255\n {8}gateway 10\.0\.0\.1\n {8}dns-nameservers 8\.8\.4\.4\n/);
  t.notMatch(p.nodes[0]!.firewall, /--sport 67 --dport 68/, 'no DHCP accept without a dhcp_server (nova-nodhcp)');
  t.same(p.expected.addressSources.vm_1, { kind: 'injected' });
});

t.test('FlatManager with an external DHCP server, and with nothing', async (t) => {
  const text = await scenario('flat-external-dhcp');
  const p = planOf(text);
  t.equal(p.dhcpServer!.ip, '10.0.0.254');
  t.equal(p.dhcpServer!.router, '10.0.0.1');
  t.ok(p.dhcpServer!.argv.includes('--dhcp-option=option:router,10.0.0.1'));
  t.equal(p.dhcpServer!.hostsFileText.split('\n').filter(Boolean).length, 3);
  t.ok(p.wiring.fabric.includes('link set dev dhcp master fabric up'));
  t.ok(p.vms.every((v) => v.boot === 'dhcp'));
  const bare = planOf(text.replace(/^dhcp_server:\n.*\n/m, '').replace(/^variants:[\s\S]*$/m, ''));
  t.equal(bare.dhcpServer, null);
  t.same(bare.expected.leases, { vm_1: null, vm_2: null, vm_3: null });
  t.ok(bare.expected.reach.every((r) => r.expect === 'unreachable' && /has no address/.test(r.reason)));
});

t.test('shape rules are checked with positions', async (t) => {
  t.match(errorsOf(REFERENCE.replace('multi_host: true', 'multi_host: false'))[0], /nova\.multi_host: multi_host: false needs one node with role: network/);
  t.match(errorsOf(REFERENCE.replace('compute1: {}', 'compute1: {role: network}'))[0], /nodes\.compute1\.role: with multi_host every node is its own network host/);
  t.match(errorsOf(REFERENCE.replace('multi_host: true', 'multi_host: false').replace('compute1: {}', 'compute1: {role: network}').replace('compute2: {}', 'compute2: {role: network}'))[0], /nodes\.compute2\.role: multi_host: false has one network host, not 2/);
  t.match(errorsOf(REFERENCE.replace('nova.network.manager.FlatDHCPManager', 'nova.network.manager.FlatManager'))[0], /nova\.multi_host: FlatManager runs no DHCP/);
  t.same(errorsOf(REFERENCE.replace('multi_host: true', 'multi_host: true\n  flat_injected: true')), [], 'flat_injected beside FlatDHCPManager: nova accepted it (a warning, not an error)');
  t.match(warningsOf(REFERENCE.replace('multi_host: true', 'multi_host: true\n  flat_injected: true'))[0], /x\.yaml:\d+:\d+ nova\.flat_injected: warning: has no effect under FlatDHCPManager/);
  const ext = REFERENCE + 'external: {cidr: 203.0.113.0/24}\n';
  t.same(errorsOf(ext), [], 'public_interface = flat_interface: nova built it');
  t.match(warningsOf(ext)[0], /nova\.public_interface: warning: eth0 is flat_interface, enslaved to br100: .*SNAT rule \(-o eth0\) never matches/);
  t.same(warningsOf(ext.replace('name: ref', 'name: ref\nrelease: essex')), [], "Essex's SNAT rule has no -o: no mistake there");
  // Essex's FlatManager got a DHCP accept from the gateway (legacy dhcp_server): built as nova built it
  t.same(errorsOf(REFERENCE.replace('name: ref', 'name: ref\nrelease: essex').replace('nova.network.manager.FlatDHCPManager', 'nova.network.manager.FlatManager').replace('multi_host: true', 'flat_injected: true')), []);
  t.same(errorsOf(ext.replace('flat_interface: eth0', 'flat_interface: eth1')), []);
  t.match(errorsOf(REFERENCE.replace('flat_interface: eth0', 'flat_interface: eth1') + 'external: {cidr: 10.0.0.0/16}\n')[0], /external\.cidr: 10\.0\.0\.0\/16 overlaps the network 10\.0\.0\.0\/24/);
  t.match(errorsOf(REFERENCE.replace('compute1: {}', 'compute1: {my_ip: 203.0.113.5}'))[0], /nodes\.compute1\.my_ip: my_ip needs an external: network/);
  t.match(errorsOf(REFERENCE.replace('vm_1: {host: compute1}', 'vm_1: {host: external}').replace('compute2: {}', 'compute2: {}\n  external: {}'))[0], /nodes\.external: "external" is reserved/);
});

t.test('inputs that can never work are refused at their position, before any lab', async (t) => {
  for (const [cidr, what] of [['127.0.0.0/24', 'loopback'], ['224.0.1.0/24', 'multicast'], ['0.0.0.0/24', '"this network"'], ['169.254.1.0/24', 'link-local'], ['240.0.0.0/24', 'reserved']] as const) {
    t.match(errorsOf(REFERENCE.replace('10.0.0.0/24', cidr))[0], new RegExp(`^x\\.yaml:5:16 nova\\.fixed_range: ${cidr.replace(/\./g, '\\.').replace('/', '\\/')} overlaps \\S+ \\(${what}`), cidr);
  }
  t.match(errorsOf(REFERENCE.replace('compute2: {}', '__proto__: {}'))[0], /^x\.yaml:10:3 "__proto__" cannot be a name or a key here/);
  t.match(errorsOf(REFERENCE + 'expect: {leases: {constructor: 10.0.0.2}}\n')[0], /^x\.yaml:16:19 "constructor" cannot be a name/);
});
