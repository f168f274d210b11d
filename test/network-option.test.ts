/**
 * The option and the network (scenario/network.ts), the nat table nova-network built from
 * them (firewall.ts renderNat) and what the oracle derives from it (expect.ts natVerdict);
 * the other options nova's flat code read, each in the release it appeared.
 */
import t from 'tap';
import { natVerdict } from '../src/plan/expect.js';
import { plan } from '../src/plan/plan.js';
import type { NatPlan, Plan } from '../src/plan/types.js';
import { parseScenario } from '../src/scenario/load.js';
import { snatRangeOf } from '../src/scenario/network.js';
import { planVariant } from '../src/plan/variant.js';
import { errorsOf, REFERENCE, warningsOf } from './helpers.js';
import { assetsIn } from '../src/assets.js';

const OPTS = { runId: 'abc123', runtimeRoot: '/run/flatlab', assets: assetsIn('/x') };
const EXT = 'external: {cidr: 203.0.113.0/24}\n';
const TWO_NICS = REFERENCE.replace('flat_interface: eth0', 'flat_interface: eth0\n  public_interface: eth1');
const planOf = (text: string): Plan => plan(parseScenario(text), OPTS);
const nat = (p: Plan): string[] => {
  const fw = p.nodes[0]!.firewall.split('\n');
  return fw.slice(fw.indexOf('*nat')).filter((l) => /^-A nova-network-(snat|POSTROUTING|PREROUTING) -s/.test(l));
};

t.test('the range of the nat rules per release: the option, the option unless empty, the network', async (t) => {
  const s = (release: string, fixed: string | null, cidr = '192.168.100.0/24') =>
    parseScenario(`name: x\nrelease: ${release}\nnova: {multi_host: true${fixed === null ? '' : `, fixed_range: "${fixed}"`}}\nnetwork: {cidr: ${cidr}}\nnodes: {c1: {}}\n`);
  t.equal(snatRangeOf(s('essex', '10.0.0.0/24'), 'essex').cidr, '10.0.0.0/24');
  t.equal(snatRangeOf(s('folsom', null), 'folsom').cidr, '10.0.0.0/8', "no option line: nova's default");
  t.equal(snatRangeOf(s('grizzly', '10.0.0.0/24'), 'grizzly').cidr, '10.0.0.0/24');
  t.equal(snatRangeOf(s('grizzly', ''), 'grizzly').cidr, '192.168.100.0/24', 'empty: each network');
  t.equal(snatRangeOf(s('havana', '10.0.0.0/24'), 'havana').cidr, '192.168.100.0/24', 'Havana: the network, the option ignored');
  t.equal(snatRangeOf(s('folsom', '172.31.248.32/23', '172.31.248.0/23'), 'folsom').cidr, '172.31.248.0/23', 'host bits: the block iptables took');
});

t.test('a Folsom network outside its fixed_range: the SNAT rule names the option, the oracle expects no way out', async (t) => {
  const text = TWO_NICS.replace('name: ref', 'name: ref\nrelease: folsom') + 'network: {cidr: 192.168.100.0/24}\n' + EXT;
  const p = planOf(text);
  t.same(nat(p), [
    '-A nova-network-snat -s 10.0.0.0/24 -j SNAT --to-source 203.0.113.2 -o eth1',
    '-A nova-network-POSTROUTING -s 10.0.0.0/24 -d 203.0.113.2/32 -j ACCEPT',
    '-A nova-network-POSTROUTING -s 10.0.0.0/24 -d 10.0.0.0/24 -m conntrack ! --ctstate DNAT -j ACCEPT',
    '-A nova-network-PREROUTING -s 0.0.0.0/0 -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 203.0.113.2:8775',
  ]);
  t.equal(p.vms[0]!.ip.startsWith('192.168.100.'), true, 'addresses from the network');
  t.match(p.nodes[0]!.dhcp!.argv.join(' '), /--dhcp-range=set:'private',192\.168\.100\.2,static,120s/, "dnsmasq's range from the network");
  for (const e of p.expected.egress) {
    t.equal(e.source, null, `${e.vm}: no way out`);
    t.equal(e.captured, p.vms.find((v) => v.name === e.vm)!.ip, `${e.vm}: leaves unSNATed`);
    t.match(e.reason!, /matches nothing from 192\.168\.100\.\d+: nova built it from the fixed_range option \(10\.0\.0\.0\/24\)/);
  }
  // the same file under Havana works: the rules come from the network
  const h = planOf(text.replace('release: folsom', 'release: havana'));
  t.ok(h.expected.egress.every((e) => e.source !== null), 'Havana: every guest gets out');
  t.match(warningsOf(text.replace('release: folsom', 'release: havana')).join('\n'), /Havana removed this option/);
});

t.test('natVerdict walks the accepts before the SNAT, as the kernel does', async (t) => {
  const n: NatPlan = {
    range: '10.0.0.0/8',
    rangeFrom: "fixed_range's default",
    toSource: '203.0.113.2',
    myIp: '203.0.113.2',
    outInterface: 'eth1',
    destinations: ['0.0.0.0/0'],
    metadataHost: '203.0.113.2',
    metadataPort: 8775,
    metadataForward: 'dnat',
    dmz: ['198.51.100.0/24'],
    floating: [],
    floatingForm: 'device-fixed-postrouting',
  };
  t.equal(natVerdict(n, '10.0.0.5', '203.0.113.1', false, 'br100').seen, '203.0.113.2', 'SNATed');
  t.equal(natVerdict(n, '10.0.0.5', '10.1.0.1', false, 'br100').seen, '10.0.0.5', 'inside the range: the accept, no SNAT');
  t.match(natVerdict(n, '10.0.0.5', '198.51.100.7', false, 'br100').reason, /dmz_cidr/);
  t.match(natVerdict(n, '10.0.0.5', '203.0.113.2', false, 'br100').reason, /metadata_host/);
  t.match(natVerdict({ ...n, destinations: ['198.18.0.0/15'] }, '10.0.0.5', '203.0.113.1', false, 'br100').reason, /no SNAT rule names 203\.0\.113\.1 .*force_snat_range/);
  t.match(natVerdict(n, '10.0.0.5', '203.0.113.1', true, 'br100').reason, /never matches \(eth1 is flat_interface/);
  t.equal(natVerdict({ ...n, outInterface: null }, '10.0.0.5', '203.0.113.1', true, 'br100').seen, '203.0.113.2', "Essex's rule has no -o");
  const other = natVerdict({ ...n, toSource: '203.0.113.9' }, '10.0.0.5', '203.0.113.1', false, 'br100');
  t.equal(other.seen, '203.0.113.9');
  t.match(other.reason, /routing_source_ip 203\.0\.113\.9, not the node's my_ip/);
});

t.test("routing_source_ip, metadata_host, dmz_cidr, force_snat_range in each node's nat table", async (t) => {
  const p = planOf(TWO_NICS.replace('compute1: {}', 'compute1: {nova: {routing_source_ip: 203.0.113.50, metadata_host: 127.0.0.1}}') + EXT);
  const c1 = nat(p);
  t.ok(c1.includes('-A nova-network-snat -s 10.0.0.0/24 -d 0.0.0.0/0 -j SNAT --to-source 203.0.113.50 -o eth1'));
  t.ok(c1.includes('-A nova-network-PREROUTING -s 0.0.0.0/0 -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 8775'));
  t.equal(p.expected.egress.find((e) => e.vm === 'vm_1')!.captured, '203.0.113.50', "compute1's guests leave as routing_source_ip, unanswered");
  t.equal(p.expected.egress.find((e) => e.vm === 'vm_3')!.source, p.nodes[1]!.public!.ip, 'compute2 keeps its own my_ip');
  const essex = planOf(TWO_NICS.replace('name: ref', 'name: ref\nrelease: essex').replace('compute1: {}', 'compute1: {nova: {metadata_host: 127.0.0.1}}') + EXT);
  t.ok(nat(essex).includes('-A nova-network-POSTROUTING -s 10.0.0.0/24 -d 10.128.0.0/24 -j ACCEPT'), "Essex's dmz_cidr default");
  t.ok(nat(essex).some((l) => l.endsWith('-j DNAT --to-destination 127.0.0.1:8775')), 'Essex: DNAT even to 127.0.0.1');
  const forced = planOf(TWO_NICS.replace('fixed_range: 10.0.0.0/24', 'fixed_range: 10.0.0.0/24\n  force_snat_range: [198.18.0.0/15, 203.0.113.0/24]') + EXT);
  t.same(nat(forced).filter((l) => l.includes('-j SNAT')), [
    '-A nova-network-snat -s 10.0.0.0/24 -d 198.18.0.0/15 -j SNAT --to-source 203.0.113.2 -o eth1',
    '-A nova-network-snat -s 10.0.0.0/24 -d 203.0.113.0/24 -j SNAT --to-source 203.0.113.2 -o eth1',
  ]);
  t.match(warningsOf(TWO_NICS.replace('name: ref', 'name: ref\nrelease: grizzly').replace('fixed_range: 10.0.0.0/24', 'fixed_range: 10.0.0.0/24\n  force_snat_range: [198.18.0.0/15]') + EXT).join('\n'), /force_snat_range: warning: grizzly's add_snat_rule names no destination/);
});

t.test("dnsmasq's upstream servers: Essex/Folsom's one dns_server as -h -R, Grizzly on a list, use_network_dns_servers", async (t) => {
  const argv = (release: string, nova: string, network = ''): string[] =>
    planOf(REFERENCE.replace('name: ref', `name: ref\nrelease: ${release}`).replace('flat_interface: eth0', `flat_interface: eth0\n  ${nova}`) + network).nodes[0]!.dhcp!.argv;
  const f = argv('folsom', 'dns_server: [8.8.8.8]');
  t.same(f.slice(f.indexOf('-h'), f.indexOf('-h') + 3), ['-h', '-R', '--server=8.8.8.8']);
  t.equal(f.filter((a) => a === '--no-resolv').length, 0, '-R already said it: no second --no-resolv');
  const h = argv('havana', 'use_network_dns_servers: true', 'network: {dns1: 192.0.2.53, dns2: 192.0.2.54}\n');
  t.same(h.filter((a) => a.startsWith('--server=')), ['--server=192.0.2.53', '--server=192.0.2.54']);
  t.equal(h.filter((a) => a === '--no-resolv').length, 1);
  t.match(warningsOf(REFERENCE.replace('name: ref', 'name: ref\nrelease: folsom').replace('flat_interface: eth0', 'flat_interface: eth0\n  use_network_dns_servers: true')).join('\n'), /folsom's restart_dhcp does not read it/);
});

t.test("hosts lines keep nova's dot when dhcp_domain is empty", async (t) => {
  const p = planOf(REFERENCE.replace('flat_interface: eth0', 'flat_interface: eth0\n  dhcp_domain: ""'));
  t.match(p.nodes[0]!.dhcp!.hostsFileText, /^fa:16:3e:[0-9a-f:]+,vm-1\.,10\.0\.0\.2$/m);
  t.match(p.nodes[0]!.dhcp!.addnHostsText, /^10\.0\.0\.2\tvm-1\.$/m);
});

t.test('validation: a full pool under addressing: nova, the network fields, an empty option', async (t) => {
  // a /29 holds 6 addresses: 2 nodes and 4 VMs fit flatlab's rule, not nova's order that keeps .1
  const small = REFERENCE.replace('10.0.0.0/24', '10.0.0.0/29');
  t.same(errorsOf(small), []);
  t.match(errorsOf(small.replace('name: ref', 'name: ref\naddressing: nova'))[0], /^scenarios\/x\.yaml:\d+:\d+ addressing: 10\.0\.0\.0\/29 has 6 host addresses but the scenario needs 7 \(addressing: nova keeps 10\.0\.0\.1 reserved/);
  t.match(errorsOf(REFERENCE + 'network: {cidr: 10.0.0.0/24, gateway: 10.9.0.1}\n')[0], /network\.gateway: 10\.9\.0\.1 is outside the network 10\.0\.0\.0\/24/);
  t.match(errorsOf(REFERENCE.replace('fixed_range: 10.0.0.0/24', 'fixed_range: ""'))[0], /nova\.fixed_range: is empty, so nova took each network's cidr/);
  t.match(errorsOf(REFERENCE.replace('name: ref', 'name: ref\nrelease: folsom').replace('fixed_range: 10.0.0.0/24', 'fixed_range: ""') + 'network: {cidr: 10.0.0.0/24}\n')[0], /an empty fixed_range is taken from 2013\.1 on/);
  t.same(errorsOf(REFERENCE.replace('name: ref', 'name: ref\nrelease: grizzly').replace('fixed_range: 10.0.0.0/24', 'fixed_range: ""') + 'network: {cidr: 10.0.0.0/24}\n'), []);
});

t.test('--release runs the rules that release: in the file runs', async (t) => {
  const text = REFERENCE.replace('fixed_range: 10.0.0.0/24', 'fixed_range: ""') + 'network: {cidr: 10.0.0.0/24}\n';
  const variant = { name: 'default', scenario: parseScenario(text) };
  t.ok(planVariant(variant, { ...OPTS, release: 'grizzly' }));
  t.throws(() => planVariant(variant, { ...OPTS, release: 'folsom' }), /--release folsom: nova\.fixed_range: an empty fixed_range is taken from 2013\.1 on/);
});

t.test('single host on one NIC: the oracle expects the answer to another node\'s guest dropped in the network host\'s bridge', async (t) => {
  const text = `name: x\nrelease: grizzly\nnova: {multi_host: false, flat_interface: eth0, public_interface: br100, fixed_range: 10.0.0.0/24}\nexternal: {cidr: 203.0.113.0/24}\nnodes: {controller: {role: network}, compute1: {}}\nvms: {vm_1: {host: controller}, vm_2: {host: compute1}}\n`;
  const p = planOf(text);
  const by = Object.fromEntries(p.expected.egress.map((e) => [e.vm, e]));
  t.equal(by.vm_1!.source, '203.0.113.2', "the network host's own guest gets out");
  t.equal(by.vm_2!.source, null);
  t.equal(by.vm_2!.captured, '203.0.113.2', 'its SYN leaves SNATed');
  t.match(by.vm_2!.reason!, /enters controller's br100 through eth0, where net\.bridge\.bridge-nf-call-iptables=1 undoes the SNAT/);
  const off = planOf(text + 'faults: [{type: bridge-nf-off, node: controller}]\n');
  t.ok(off.expected.egress.every((e) => e.source === '203.0.113.2'), 'bridge-nf-call-iptables=0 on the network host: routed, answered');
  const two = planOf(text.replace('public_interface: br100', 'public_interface: eth1'));
  t.ok(two.expected.egress.every((e) => e.source === '203.0.113.2'), 'a second NIC for the outside: answered');
  const multi = planOf(text.replace('multi_host: false', 'multi_host: true').replace('controller: {role: network}', 'controller: {}'));
  t.ok(multi.expected.egress.every((e) => e.source !== null), 'multi_host: each guest routed by its own node');
});

t.test('share_dhcp_address (Grizzly on): every node is its guests\' gateway, the copies isolated on flat_interface', async (t) => {
  const text = REFERENCE.replace('name: ref', 'name: ref\nrelease: grizzly').replace('multi_host: true', 'multi_host: true\n  share_dhcp_address: true');
  const p = planOf(text);
  t.same(p.nodes.map((n) => n.bridgeIp), ['10.0.0.1', '10.0.0.1']);
  t.same(p.vms.map((v) => v.gateway), ['10.0.0.1', '10.0.0.1', '10.0.0.1', '10.0.0.1']);
  t.same(p.vms.map((v) => v.ip), ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5'], 'the nodes take no pool address');
  t.equal(p.nodes[1]!.dhcp!.listenAddress, '10.0.0.1');
  t.same(p.nodes[0]!.novaEbtables[0], ['ebtables', '-t', 'filter', '-I', 'INPUT', '-p', 'ARP', '-i', 'eth0', '--arp-ip-dst', '10.0.0.1', '-j', 'DROP']);
  const fwd = p.nodes[0]!.firewall.split('\n').filter((l) => l.startsWith('-A nova-network-FORWARD'));
  t.equal(fwd[0], '-A nova-network-FORWARD -m physdev --physdev-in eth0 -d 255.255.255.255 -p udp --dport 67 -j DROP', 'the isolation first, as added with top=True');
  t.match(p.nodes[0]!.firewall, /-A nova-compute-inst-1 -s 10\.0\.0\.1 -p udp --sport 67 --dport 68 -j ACCEPT/);
  const folsom = text.replace('release: grizzly', 'release: folsom');
  t.match(warningsOf(folsom).join('\n'), /share_dhcp_address: warning: folsom does not read it/);
  t.same(planOf(folsom).nodes.map((n) => n.bridgeIp), ['10.0.0.1', '10.0.0.4'], "Folsom: each node's own address");
  t.match(errorsOf(text.replace('compute1: {}', 'compute1: {bridge_ip: 10.0.0.9}'))[0], /a node's own bridge_ip does not apply/);
});
