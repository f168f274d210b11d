import t from 'tap';
import { parseScenario } from '../src/scenario/load.js';
import { REFERENCE, errorsOf, warningsOf } from './helpers.js';


t.test('the reference scenario loads with nova defaults filled in', async (t) => {
  const s = parseScenario(REFERENCE, 'ref.yaml');
  t.equal(s.nova.allow_same_net_traffic, true);
  t.equal(s.nova.dhcp_lease_time, 120);
  t.equal(s.nova.dhcp_domain, 'novalocal');
  t.same(Object.keys(s.vms), ['vm_1', 'vm_2', 'vm_3', 'vm_4']);
  t.same(s.nodes.compute1, { role: 'compute', uplink_up: true });
  t.equal(s.release, 'havana', 'Havana unless the file says otherwise');
});

t.test('a VM on a missing node names file, line, column and field', async (t) => {
  const text = REFERENCE.replace('vm_3: {host: compute2}', 'vm_3: {host: compute3}');
  t.same(errorsOf(text), ['scenarios/x.yaml:14:16 vms.vm_3.host: no node "compute3" (nodes: compute1, compute2)']);
});

t.test('an unknown key is blamed at the key', async (t) => {
  const text = REFERENCE.replace('  flat_interface: eth0\n', '  flat_interface: eth0\n  flat_intreface: eth1\n');
  t.same(errorsOf(text), ['scenarios/x.yaml:8:3 nova.flat_intreface: unknown key "flat_intreface"']);
  const top = errorsOf(REFERENCE + 'colour: blue\n');
  t.match(top[0], /^scenarios\/x\.yaml:16:1 colour: unknown key "colour"$/);
});

t.test('bad CIDRs are refused with the reason', async (t) => {
  t.match(errorsOf(REFERENCE.replace('10.0.0.0/24', '10.0.0.0/33'))[0], /:5:16 nova\.fixed_range: "\/33" is not a prefix length/);
  t.match(errorsOf(REFERENCE.replace('10.0.0.0/24', '10.0.0.300/24'))[0], /nova\.fixed_range: "10\.0\.0\.300" is not an IPv4 address/);
  // nova-manage's netaddr took a CIDR with host bits as the block that holds it: built, with a warning
  t.same(errorsOf(REFERENCE.replace('10.0.0.0/24', '10.0.0.5/24')), []);
  t.match(warningsOf(REFERENCE.replace('10.0.0.0/24', '10.0.0.5/24'))[0], /nova\.fixed_range: warning: 10\.0\.0\.5\/24 has host bits set: nova-manage's netaddr took the block that holds it, 10\.0\.0\.0\/24/);
  t.match(errorsOf(REFERENCE.replace('10.0.0.0/24', '10.0.0.0'))[0], /is not a CIDR/);
  t.match(errorsOf(REFERENCE.replace('10.0.0.0/24', '10.0.0.0/31'))[0], /too small/);
});

t.test('addresses: outside fixed_range, duplicated, network or broadcast', async (t) => {
  t.same(errorsOf(REFERENCE.replace('vm_1: {host: compute1}', 'vm_1: {host: compute1, ip: 10.0.1.7}')), [
    'scenarios/x.yaml:12:30 vms.vm_1.ip: 10.0.1.7 is outside the network 10.0.0.0/24',
  ]);
  const dup = REFERENCE.replace('vm_1: {host: compute1}', 'vm_1: {host: compute1, ip: 10.0.0.9}').replace(
    'vm_2: {host: compute1}',
    'vm_2: {host: compute1, ip: 10.0.0.9}',
  );
  t.same(errorsOf(dup), ['scenarios/x.yaml:13:30 vms.vm_2.ip: 10.0.0.9 is already taken by vms.vm_1']);
  t.match(errorsOf(REFERENCE.replace('compute1: {}', 'compute1: {bridge_ip: 10.0.0.255}'))[0], /nodes\.compute1\.bridge_ip: 10\.0\.0\.255 is the broadcast address/);
  t.match(errorsOf(REFERENCE.replace('compute1: {}', 'compute1: {bridge_ip: 10.0.0.2}').replace('vm_1: {host: compute1}', 'vm_1: {host: compute1, ip: 10.0.0.2}'))[0], /^scenarios\/x\.yaml:12:30 vms\.vm_1\.ip: 10\.0\.0\.2 is already taken by nodes\.compute1/);
  t.same(errorsOf(REFERENCE.replace('compute1: {}', 'compute1: {bridge_ip: 10.0.0.2}')), [], 'a pinned bridge is skipped by the walk, not a clash');
});

t.test('MAC syntax, multicast and duplicates', async (t) => {
  t.match(errorsOf(REFERENCE.replace('vm_1: {host: compute1}', 'vm_1: {host: compute1, mac: "fa:16:3e:zz:00:01"}'))[0], /vms\.vm_1\.mac: is not a MAC address/);
  t.match(errorsOf(REFERENCE.replace('vm_1: {host: compute1}', 'vm_1: {host: compute1, mac: "01:16:3e:00:00:01"}'))[0], /multicast/);
  const dup = REFERENCE.replace('vm_1: {host: compute1}', 'vm_1: {host: compute1, mac: "FA:16:3E:00:00:01"}').replace(
    'vm_2: {host: compute1}',
    'vm_2: {host: compute1, mac: "fa:16:3e:00:00:01"}',
  );
  t.match(errorsOf(dup)[0], /vms\.vm_2\.mac: fa:16:3e:00:00:01 is already used by vms\.vm_1/);
});

t.test('names that cannot become interface or namespace names', async (t) => {
  t.match(errorsOf(REFERENCE.replace('compute2: {}', 'compute-number-two: {}').replace(/host: compute2/g, 'host: compute-number-two'))[0], /^scenarios\/x\.yaml:10:3 nodes\.compute-number-two: name must start with a letter and hold at most 15/);
  t.match(errorsOf(REFERENCE.replace('vm_4: {', '"vm 4": {'))[0], /vms\.vm 4: name must start with a letter/);
  t.match(errorsOf(REFERENCE.replace('vm_4: {', '"../etc": {'))[0], /name must start with a letter/);
  t.match(errorsOf(REFERENCE.replace('flat_network_bridge: br100', 'flat_network_bridge: "br100; rm -rf /"'))[0], /nova\.flat_network_bridge: is not a valid interface name/);
  t.same(errorsOf(REFERENCE.replace('flat_interface: eth0', 'flat_interface: br100')), [
    'scenarios/x.yaml:7:19 nova.flat_interface: "br100" is flat_network_bridge too: ensure_bridge would enslave the bridge to itself (flat_interface is the node\'s NIC, eth1 in nova\'s examples)',
  ]);
  // the bridge renamed after the NIC is blamed on the bridge's own line, not flat_interface's (nor fixed_range's)
  t.match(errorsOf(REFERENCE.replace('flat_network_bridge: br100', 'flat_network_bridge: eth0'))[0], /^scenarios\/x\.yaml:6:24 nova\.flat_network_bridge: "eth0" is flat_interface too/);
  t.match(errorsOf(REFERENCE.replace('vm_4: {', 'compute1: {'))[0], /vms\.compute1: "compute1" is already used by nodes\.compute1/);
  t.match(errorsOf(REFERENCE.replace('compute2: {}', 'compute2: {}\n  fabric: {}'))[0], /nodes\.fabric: "fabric" is reserved/);
});

t.test('types, enums and missing fields', async (t) => {
  t.match(errorsOf(REFERENCE.replace('multi_host: true', 'multi_host: sometimes'))[0], /nova\.multi_host: must be a boolean/);
  t.match(errorsOf(REFERENCE.replace('nova.network.manager.FlatDHCPManager', 'nova.network.manager.VlanManager'))[0], /nova\.network_manager: must be one of/);
  t.match(errorsOf(REFERENCE.replace('  fixed_range: 10.0.0.0/24\n', ''))[0], /^scenarios\/x\.yaml:3:3 nova: no network: set network\.cidr \(what nova-manage network create --fixed_range_v4 made\) or nova\.fixed_range$/);
  t.match(errorsOf(REFERENCE.replace('name: ref\n', ''))[0], /^scenarios\/x\.yaml:1:1 name: is required$/);
  t.match(errorsOf(REFERENCE.replace('vm_1: {host: compute1}', 'vm_1: {}'))[0], /vms\.vm_1\.host: is required/);
  t.match(errorsOf(REFERENCE + 'expect:\n  checks:\n    - {from: vm_1, to: vm_9, expect: reachable}\n')[0], /^scenarios\/x\.yaml:18:24 expect\.checks\[0\]\.to: no VM or node "vm_9"$/);
  t.match(errorsOf(REFERENCE + 'expect:\n  checks:\n    - {from: vm_1, to: vm_2, expect: maybe}\n')[0], /expect\.checks\[0\]\.expect: must be one of reachable, unreachable/);
});

t.test('YAML syntax errors and duplicate keys carry positions', async (t) => {
  t.match(errorsOf('name: x\nnova: [\n')[0], /^scenarios\/x\.yaml:\d+:\d+ /);
  t.match(errorsOf(REFERENCE.replace('vm_2: {host: compute1}', 'vm_1: {host: compute1}'))[0], /^scenarios\/x\.yaml:13:3 Map keys must be unique/);
  t.same(errorsOf('- a\n- b\n'), ['scenarios/x.yaml:1:1 a scenario must be a mapping (name:, nova:, nodes:, vms:)']);
});

t.test('every problem is reported, one line each', async (t) => {
  const text = REFERENCE.replace('vm_3: {host: compute2}', 'vm_3: {host: compute3}').replace('vm_4: {host: compute2}', 'vm_4: {host: compute2, ip: 10.9.9.9}');
  t.equal(errorsOf(text).length, 2);
});

t.test('the pool must hold every node bridge and VM', async (t) => {
  t.same(errorsOf(REFERENCE.replace('10.0.0.0/24', '10.0.0.0/29')), [], 'six addresses for two bridges and four VMs');
  t.match(errorsOf(REFERENCE.replace('10.0.0.0/24', '10.0.0.0/30'))[0], /10\.0\.0\.0\/30 has 2 host addresses but the scenario needs 6/);
});

t.test('aliases: a missing anchor and a billion laughs are refused with a position', async (t) => {
  t.match(errorsOf(REFERENCE.replace('vm_4: {host: compute2}', 'vm_4: {host: *nowhere}'))[0], /^scenarios\/x\.yaml:15:16 Unresolved alias/);
  const laughs = 'a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n';
  t.match(errorsOf(laughs)[0], /^scenarios\/x\.yaml:\d+:\d+ /);
});

t.test('a second YAML document is named in the file\'s words, not the library\'s', async (t) => {
  t.same(errorsOf('name: a\n---\nname: b\n'), ['scenarios/x.yaml:2:1 a second YAML document starts here: a scenario file holds one (put variants under variants:)']);
});
