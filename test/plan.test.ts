import t from 'tap';
import { parseScenario } from '../src/scenario/load.js';
import { plan } from '../src/plan/plan.js';
import { FOLSOM_REFERENCE, REFERENCE } from './helpers.js';
import type { Plan } from '../src/plan/types.js';
import { assetsIn } from '../src/assets.js';

const OPTS = { runId: 'abc123', runtimeRoot: '/run/flatlab', assets: assetsIn('/opt/flatlab/assets') };
const planOf = (text: string): Plan => plan(parseScenario(text), OPTS);

t.test('reference addresses follow flatlab\'s rule (the post\'s diagram)', async (t) => {
  const p = planOf(REFERENCE);
  t.same(Object.fromEntries(p.nodes.map((n) => [n.name, n.bridgeIp])), { compute1: '10.0.0.1', compute2: '10.0.0.4' });
  t.same(Object.fromEntries(p.vms.map((v) => [v.name, v.ip])), { vm_1: '10.0.0.2', vm_2: '10.0.0.3', vm_3: '10.0.0.5', vm_4: '10.0.0.6' });
  t.same(Object.fromEntries(p.vms.map((v) => [v.name, v.gateway])), { vm_1: '10.0.0.1', vm_2: '10.0.0.1', vm_3: '10.0.0.4', vm_4: '10.0.0.4' });
  t.same(p.expected.leases, { vm_1: '10.0.0.2', vm_2: '10.0.0.3', vm_3: '10.0.0.5', vm_4: '10.0.0.6' });
});

t.test('nothing is tailored to the reference: other CIDR, bridge, uplink and a third node', async (t) => {
  const text = FOLSOM_REFERENCE.replace('10.0.0.0/24', '192.168.50.0/24')
    .replace('br100', 'br200')
    .replace('flat_interface: eth0', 'flat_interface: eth1')
    .replace('compute2: {}', 'compute2: {}\n  compute3: {}')
    .concat('  web: {host: compute3}\n  vm_5: {host: compute1}\n');
  const p = planOf(text);
  t.same(p.nodes.map((n) => n.bridgeIp), ['192.168.50.1', '192.168.50.4', '192.168.50.7']);
  t.same(p.vms.map((v) => `${v.name}=${v.ip}`), ['vm_1=192.168.50.2', 'vm_2=192.168.50.3', 'vm_3=192.168.50.5', 'vm_4=192.168.50.6', 'web=192.168.50.8', 'vm_5=192.168.50.9']);
  t.equal(p.vms.find((v) => v.name === 'vm_5')!.tap, 'vnet2', 'taps are numbered per node');
  t.equal(p.vms.find((v) => v.name === 'web')!.gateway, '192.168.50.7');
  t.ok(p.wiring.nodes.compute3!.includes('link set dev eth1 master br200 up'));
  t.ok(p.wiring.nodes.compute3!.includes('addr add 192.168.50.7/24 brd 192.168.50.255 dev br200'));
  t.ok(p.nodes[0]!.dhcp!.argv.includes("--dhcp-range=set:'private',192.168.50.2,static,120s"), "Folsom's range: a quoted tag, no netmask");
  t.ok(p.nodes[0]!.dhcp!.argv.includes('--pid-file=/run/flatlab/fl-abc123/nodes/compute1/nova-br200.pid'));
});

t.test('pinned addresses are kept and skipped by the walk', async (t) => {
  const text = REFERENCE.replace('compute2: {}', 'compute2: {bridge_ip: 10.0.0.1}').replace('vm_1: {host: compute1}', 'vm_1: {host: compute1, ip: 10.0.0.2, mac: "fa:16:3e:00:00:01"}');
  const p = planOf(text);
  t.same(p.nodes.map((n) => n.bridgeIp), ['10.0.0.3', '10.0.0.1']);
  t.same(p.vms.map((v) => v.ip), ['10.0.0.2', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
  t.equal(p.vms[0]!.mac, 'fa:16:3e:00:00:01');
});

t.test('a node without VMs takes no pool address and runs no dnsmasq', async (t) => {
  const p = planOf(REFERENCE.replace('compute2: {}', 'compute2: {}\n  spare: {}'));
  const spare = p.nodes.find((n) => n.name === 'spare')!;
  t.equal(spare.bridgeIp, null);
  t.equal(spare.dhcp, null);
  t.notOk(spare.vms.length);
});

t.test('MACs are nova-style and stable', async (t) => {
  const a = planOf(REFERENCE);
  const b = planOf(REFERENCE);
  t.same(a.vms.map((v) => v.mac), b.vms.map((v) => v.mac));
  for (const v of a.vms) {
    t.match(v.mac, /^fa:16:3e:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$/);
    t.equal(v.tapMac, `fe${v.mac.slice(2)}`, 'libvirt tap MAC: first byte 0xfe');
  }
  t.equal(new Set(a.vms.map((v) => v.mac)).size, 4);
});

t.test('names: run prefix, namespaces, interface lengths, hostnames', async (t) => {
  const p = planOf(REFERENCE);
  t.equal(p.prefix, 'fl-abc123');
  t.same(p.wiring.namespaces, ['fl-abc123-fabric', 'fl-abc123-compute1', 'fl-abc123-compute2', 'fl-abc123-vm_1', 'fl-abc123-vm_2', 'fl-abc123-vm_3', 'fl-abc123-vm_4']);
  for (const v of p.vms) t.ok(v.tap.length <= 15 && v.nic.length <= 15);
  t.same(p.vms.map((v) => v.hostname), ['vm-1', 'vm-2', 'vm-3', 'vm-4'], "nova's sanitize_hostname");
});

t.test('dnsmasq as nova started it, with only the node\'s own VMs', async (t) => {
  const p = planOf(REFERENCE);
  const c1 = p.nodes[0]!.dhcp!;
  const dir = '/run/flatlab/fl-abc123/nodes/compute1';
  t.same(c1.argv.slice(0, 15), [
    '--strict-order',
    '--bind-interfaces',
    '--conf-file=',
    `--pid-file=${dir}/nova-br100.pid`,
    '--listen-address=10.0.0.1',
    '--except-interface=lo',
    '--dhcp-range=set:private,10.0.0.2,static,255.255.255.0,120s',
    '--dhcp-lease-max=256',
    `--dhcp-hostsfile=${dir}/nova-br100.conf`,
    '--dhcp-script=/opt/flatlab/assets/nova-dhcpbridge',
    '--leasefile-ro',
    '--domain=novalocal',
    '--no-hosts',
    `--addn-hosts=${dir}/nova-br100.hosts`,
    '--no-resolv',
  ]);
  const [m1, m2] = [p.vms[0]!.mac, p.vms[1]!.mac];
  t.equal(c1.hostsFileText, `${m1},vm-1.novalocal,10.0.0.2\n${m2},vm-2.novalocal,10.0.0.3\n`);
  t.notMatch(c1.hostsFileText, p.vms[2]!.mac, "compute2's VMs are not in compute1's hosts file");
  t.equal(c1.addnHostsText.split('\n').filter(Boolean).length, 4, 'DNS names of every VM');
  t.equal(c1.env.FLATLAB_LEASE_LOG, `${dir}/leases.log`);
});

t.test('wiring: veths created straight into their namespaces, fabric first', async (t) => {
  const p = planOf(FOLSOM_REFERENCE);
  const [m1, m2] = [p.nodes[0]!.uplinkMac, p.nodes[1]!.uplinkMac];
  t.match(m1, /^52:54:00:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$/);
  t.not(m1, m2);
  t.same(p.wiring.fabric, [
    'link add name fabric type bridge forward_delay 0 stp_state 0',
    'link set dev fabric up',
    `link add name compute1 type veth peer name eth0 address ${m1} netns fl-abc123-compute1`,
    'link set dev compute1 master fabric up',
    `link add name compute2 type veth peer name eth0 address ${m2} netns fl-abc123-compute2`,
    'link set dev compute2 master fabric up',
  ]);
  const vm1 = p.vms[0]!;
  t.same(p.wiring.nodes.compute1, [
    'link set dev lo up',
    'link add name br100 type bridge forward_delay 0 stp_state 0',
    'link set dev br100 up',
    'link set dev eth0 master br100 up',
    'addr add 10.0.0.1/24 brd 10.0.0.255 dev br100',
    `link add name vnet0 address ${vm1.tapMac} type veth peer name eth0 address ${vm1.mac} netns fl-abc123-vm_1`,
    'link set dev vnet0 master br100 up',
    `link add name vnet1 address ${p.vms[1]!.tapMac} type veth peer name eth0 address ${p.vms[1]!.mac} netns fl-abc123-vm_2`,
    'link set dev vnet1 master br100 up',
  ]);
});

t.test('expectations: derived matrix, overridden and extended by expect:', async (t) => {
  const base = planOf(REFERENCE);
  t.equal(base.expected.reach.length, 12, 'every ordered pair');
  t.ok(base.expected.reach.every((r) => r.expect === 'reachable' && r.source === 'derived'));
  const text = REFERENCE + 'expect:\n  leases: {vm_1: 10.0.0.9}\n  gateways: {vm_3: 10.0.0.1}\n  checks:\n    - {from: vm_1, to: vm_3, expect: unreachable}\n    - {from: vm_1, to: vm_1, expect: reachable}\n';
  const p = planOf(text);
  t.equal(p.expected.leases.vm_1, '10.0.0.9');
  t.equal(p.expected.gateways.vm_3, '10.0.0.1');
  t.equal(p.expected.reach.length, 13);
  t.match(p.expected.reach.find((r) => r.from === 'vm_1' && r.to === 'vm_3'), { expect: 'unreachable', source: 'scenario' });
});

t.test('plan is pure: same input, same output', async (t) => {
  t.same(planOf(REFERENCE), planOf(REFERENCE));
});

t.test("Havana's taps are libvirt's vnetN per node (nova-network names none); Folsom leaves flat_interface down without uplink_up", async (t) => {
  const h = planOf(REFERENCE);
  t.same(h.vms.map((v) => `${v.node}/${v.tap}`), ['compute1/vnet0', 'compute1/vnet1', 'compute2/vnet0', 'compute2/vnet1']);
  t.ok(h.wiring.nodes.compute1!.includes('link set dev eth0 master br100 up'));
  const f = planOf(FOLSOM_REFERENCE.replace('compute2: {}', 'compute2: {uplink_up: false}'));
  t.ok(f.wiring.nodes.compute1!.includes('link set dev eth0 master br100 up'), 'uplink_up (default): the OS brought it up');
  t.ok(f.wiring.nodes.compute2!.includes('link set dev eth0 master br100'), 'no stanza on Folsom: enslaved, left down');
  const hv = planOf(REFERENCE.replace('compute2: {}', 'compute2: {uplink_up: false}'));
  t.ok(hv.wiring.nodes.compute2!.includes('link set dev eth0 master br100 up'), "Havana's ensure_bridge brings it up itself");
});

t.test("addressing: nova's order, an instance's fixed IP before its host's, .1 kept as the network's gateway", async (t) => {
  const p = planOf(REFERENCE.replace('name: ref', 'name: ref\naddressing: nova'));
  t.same(p.vms.map((v) => `${v.name}=${v.ip}`), ['vm_1=10.0.0.2', 'vm_2=10.0.0.4', 'vm_3=10.0.0.5', 'vm_4=10.0.0.7']);
  t.same(p.nodes.map((n) => `${n.name}=${n.bridgeIp}`), ['compute1=10.0.0.3', 'compute2=10.0.0.6']);
  t.equal(p.vms[2]!.gateway, '10.0.0.6');
});

t.test("a node's own nova.conf: its uplink, its way out and its chains follow it", async (t) => {
  const text = (await import('node:fs')).readFileSync(new URL('../scenarios/heterogeneous-nodes.yaml', import.meta.url), 'utf8');
  const p = planOf(text);
  const [c1, c2, c3] = p.nodes;
  t.equal(c1!.uplink, 'eth1');
  t.equal(c2!.uplink, 'eth2');
  t.equal(c2!.public!.iface, 'eth1');
  t.ok(p.wiring.fabric.some((l) => l.includes('peer name eth2') && l.endsWith('netns fl-abc123-compute2')), "compute2's flat NIC is eth2");
  t.ok(p.wiring.nodes.compute2!.includes('link set dev eth2 master br100 up'));
  t.match(c1!.firewall, /-A nova-compute-inst-1 -s 10\.0\.0\.0\/24 -j ACCEPT/);
  t.notMatch(c3!.firewall, /-s 10\.0\.0\.0\/24 -j ACCEPT/, "compute3's file says allow_same_net_traffic=False");
  const into3 = p.expected.reach.find((r) => r.from === 'vm_1' && r.to === 'vm_3')!;
  t.equal(into3.expect, 'unreachable');
  t.match(into3.reason, /allow_same_net_traffic is off on compute3/);
  t.equal(p.expected.reach.find((r) => r.from === 'vm_3' && r.to === 'vm_1')!.expect, 'reachable', "compute1's chains accept the same net");
});

t.test('the new faults as kernel changes: bridge-nf off, dnsmasq without its address (before it starts), forged transmits rejected', async (t) => {
  const p = planOf(REFERENCE + 'faults:\n  - {type: bridge-nf-off, node: compute2}\n  - {type: dnsmasq-no-address, node: compute2}\n  - {type: forged-transmit-deny, node: compute1}\n');
  const [nf, dn, fg] = p.faults;
  t.same(nf!.actions, [{ kind: 'exec', target: 'fl-abc123-compute2', argv: ['sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=0'] }]);
  t.equal(dn!.phase, 'before-dhcp', 'applied before the node starts its dnsmasq');
  t.match((dn!.actions[0] as { input: string }).input, /^addr del 10\.0\.0\.4\/24 dev br100\n$/);
  t.same(fg!.actions.map((a) => (a as { argv: string[] }).argv.join(' ')), [
    `ebtables -t filter -A FORWARD -i compute1 -s ${p.nodes[0]!.uplinkMac} -j ACCEPT`,
    'ebtables -t filter -A FORWARD -i compute1 -j DROP',
  ]);
});

t.test("nwfilter: libvirt's nova-base on each tap, as ebtables in the node", async (t) => {
  const p = planOf(REFERENCE.replace('name: ref', 'name: ref\nnwfilter: true'));
  const vm = p.vms[0]!;
  const rules = p.nodes[0]!.nwfilter.map((a) => a.join(' '));
  t.same(rules.slice(0, 7), [
    `ebtables -t nat -N libvirt-I-${vm.tap}`,
    `ebtables -t nat -A PREROUTING -i ${vm.tap} -j libvirt-I-${vm.tap}`,
    `ebtables -t nat -A libvirt-I-${vm.tap} -s ! ${vm.mac} -j DROP`,
    `ebtables -t nat -A libvirt-I-${vm.tap} -p IPv4 --ip-src 0.0.0.0 --ip-proto udp --ip-sport 68 --ip-dport 67 -j RETURN`,
    `ebtables -t nat -A libvirt-I-${vm.tap} -p IPv4 --ip-src ! 10.0.0.2 -j DROP`,
    `ebtables -t nat -A libvirt-I-${vm.tap} -p ARP --arp-mac-src ! ${vm.mac} -j DROP`,
    `ebtables -t nat -A libvirt-I-${vm.tap} -p ARP --arp-ip-src ! 10.0.0.2 -j DROP`,
  ]);
  t.equal(rules.length, 14, 'compute1: two guests');
  t.same(planOf(REFERENCE).nodes[0]!.nwfilter, [], 'off unless the scenario says nwfilter: true');
  const spoof = planOf(REFERENCE + 'faults:\n  - {type: guest-spoofs-address, vm: vm_2}\n').faults[0]!;
  t.equal(spoof.phase, 'after-boot');
  t.match((spoof.actions[0] as { input: string }).input, /addr add 10\.0\.0\.254\/24 dev eth0/, 'default: the last host address');
});

t.test('plan text shows dnsmasq as a command line a shell reads back into the same words', async (t) => {
  const { shellWord, commandLine } = await import('../src/report/shell-words.js');
  t.equal(shellWord('--conf-file='), '--conf-file=');
  t.equal(shellWord('["/etc/nova/nova-dhcpbridge.conf"]'), `'["/etc/nova/nova-dhcpbridge.conf"]'`);
  t.equal(shellWord("it's"), `'it'\\''s'`);
  t.equal(shellWord(''), "''");
  t.equal(commandLine({ CONFIG_FILE: '["/x"]', NETWORK_ID: '1' }, ['dnsmasq', '--a=b c']), `CONFIG_FILE='["/x"]' NETWORK_ID=1 dnsmasq '--a=b c'`);
});

t.test('the plan lists every process a lab starts, with its whole argv, from the assets it is given', async (t) => {
  const p = planOf(REFERENCE.replace('  vm_4: {host: compute2}', "  vm_4: {host: compute2, services: ['tcp/80', 'udp/53']}"));
  const roles = (role: string) => p.processes.filter((x) => x.role === role);
  t.same(roles('dnsmasq').map((x) => [x.owner, x.target, x.argv[0]]), [['compute1', 'fl-abc123-compute1', 'dnsmasq'], ['compute2', 'fl-abc123-compute2', 'dnsmasq']], "nova's dnsmasq on each multi_host node");
  t.same(roles('dnsmasq')[0]!.argv.slice(1), p.nodes[0]!.dhcp!.argv, 'the argv nova built, after the program');
  t.same(roles('dnsmasq')[0]!.listens, { proto: 'udp', port: 67 }, 'ready once bound to DHCP');
  t.same(roles('dhcp-client').map((x) => x.owner), ['vm_1', 'vm_2', 'vm_3', 'vm_4'], 'a DHCP client per guest');
  t.same(roles('dhcp-client')[0]!.argv, ['busybox', 'udhcpc', '-f', '-i', 'eth0', '-t', '3', '-T', '1', '-A', '2', '-s', '/opt/flatlab/assets/udhcpc.script', '-x', 'hostname:vm-1']);
  t.same(roles('service').filter((x) => x.owner === 'vm_4').map((x) => x.argv.join(' ')), ['socat TCP4-LISTEN:80,fork,reuseaddr PIPE', 'socat -T 1 UDP4-RECVFROM:53,fork PIPE'], "a guest's declared services");
  t.same(roles('service').filter((x) => x.owner === 'vm_1').map((x) => `${x.listens!.proto}/${x.listens!.port}`), p.vms[0]!.services.map((s) => `${s.proto}/${s.port}`), 'undeclared: every port a probe aims at');
  t.same(roles('external-echo'), [], 'no way out, no echo host');
  const injected = planOf('name: i\nnova: {network_manager: nova.network.manager.FlatManager, fixed_range: 10.0.0.0/24, flat_injected: true}\nnodes: {c1: {}}\nvms: {vm_1: {host: c1}}\n');
  t.same(injected.processes.map((x) => [x.role, x.argv, x.execs]), [['guest-init', ['/opt/flatlab/assets/guest-init', 'eth0'], ['sleep', 'infinity']]], 'an injected guest: its init, and what it stays as');
});
