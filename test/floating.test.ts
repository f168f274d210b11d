/** Floating IPs as nova-network made them: validation, the holder's address and nat rules per release, the oracle. */
import t from 'tap';
import { plan } from '../src/plan/plan.js';
import { parseScenario } from '../src/scenario/load.js';
import { confirmSilences } from '../src/checks/confirm.js';
import { snmpInEchos } from '../src/checks/reach.js';
import type { ReachResult } from '../src/checks/types.js';
import { errorsOf } from './helpers.js';
import { assetsIn } from '../src/assets.js';

const BASE = `name: f
nova:
  network_manager: nova.network.manager.FlatDHCPManager
  multi_host: true
  fixed_range: 10.0.0.0/24
  flat_interface: eth1
  public_interface: eth0
external: {cidr: 203.0.113.0/24, host: 203.0.113.1}
nodes:
  compute1: {my_ip: 203.0.113.11}
  compute2: {my_ip: 203.0.113.12}
vms:
  vm_1: {host: compute1}
  vm_2: {host: compute2}
floating_ips: {vm_1: 203.0.113.101}
`;
const ICMP_OPEN = 'security_groups:\n  default:\n    rules:\n      - {proto: icmp, from: 0.0.0.0/0}\n';
const planOf = (text: string) => plan(parseScenario(text), { runId: 'abc123', runtimeRoot: '/run/flatlab', assets: assetsIn('/x') });

t.test('floating addresses are validated where they are written', async (t) => {
  t.same(errorsOf(BASE), []);
  t.match(errorsOf(BASE.replace('vm_1: 203.0.113.101', 'vm_9: 203.0.113.101'))[0], /^scenarios\/x\.yaml:15:16 floating_ips\.vm_9: no VM "vm_9"/);
  t.match(errorsOf(BASE.replace('vm_1: 203.0.113.101', 'vm_1: 198.51.100.7'))[0], /floating_ips\.vm_1: 198\.51\.100\.7 is not a host address of external 203\.0\.113\.0\/24/);
  t.match(errorsOf(BASE.replace('vm_1: 203.0.113.101', 'vm_1: 203.0.113.12'))[0], /floating_ips\.vm_1: 203\.0\.113\.12 is already taken by nodes\.compute2/);
  t.match(errorsOf(BASE.replace(/external: .*\n/, '').replace(/ \{my_ip: [\d.]+\}/g, ' {}'))[0], /floating_ips\.vm_1: a floating address needs an external: network/);
  t.match(errorsOf(BASE + 'expect:\n  checks:\n    - {from: external, to: vm_2, expect: unreachable}\n')[0], /expect\.checks\[0\]\.to: vm_2 has no floating address: the external host reaches an instance only through one \(floating_ips: vm_1 have one\)/);
  // the defaults of my_ip go around a floating address
  const p = planOf(BASE.replace(/ \{my_ip: [\d.]+\}/g, ' {}').replace('vm_1: 203.0.113.101', 'vm_1: 203.0.113.2'));
  t.same(p.nodes.map((n) => n.public!.ip), ['203.0.113.3', '203.0.113.4']);
});

t.test('multi_host: the instance\'s own node holds it, bound to public_interface, with the release\'s rules', async (t) => {
  const p = planOf(BASE);
  const [c1, c2] = p.nodes;
  t.same(c1!.floating, [{ vm: 'vm_1', ip: '203.0.113.101', fixed: '10.0.0.2', device: 'eth0' }]);
  t.same(c2!.floating, []);
  t.ok(p.wiring.nodes[c1!.name]!.includes('addr add 203.0.113.101/32 dev eth0'), 'linux_net.bind_floating_ip');
  const rules = (release: string): string[] => planOf(BASE.replace('name: f', `name: f\nrelease: ${release}`)).nodes[0]!.firewall.split('\n').filter((l) => /203\.0\.113\.101/.test(l));
  t.same(rules('essex'), [
    '-A nova-network-float-snat -s 10.0.0.2 -j SNAT --to 203.0.113.101',
    '-A nova-network-PREROUTING -d 203.0.113.101 -j DNAT --to 10.0.0.2',
    '-A nova-network-OUTPUT -d 203.0.113.101 -j DNAT --to 10.0.0.2',
  ]);
  t.same(rules('folsom')[0], '-A nova-network-float-snat -s 10.0.0.2 -j SNAT --to 203.0.113.101 -o eth0');
  t.same(rules('grizzly').slice(0, 2), ['-A nova-network-float-snat -s 10.0.0.2 -j SNAT --to 203.0.113.101 -d 10.0.0.2', '-A nova-network-float-snat -s 10.0.0.2 -j SNAT --to 203.0.113.101 -o eth0']);
  t.equal(rules('grizzly').length, 4);
  t.same(rules('havana').at(-1), '-A nova-network-POSTROUTING -s 10.0.0.2 -m conntrack --ctstate DNAT -j SNAT --to-source 203.0.113.101');
  t.equal(c2!.firewall.includes('203.0.113.101'), false, 'the other node knows nothing of it');
});

t.test('the oracle: dropped by the empty default group, answered once ICMP is open; the instance leaves as its floating address', async (t) => {
  const closed = planOf(BASE);
  const r = closed.expected.reach.find((x) => x.from === 'external')!;
  t.same({ to: r.to, toIp: r.toIp, expect: r.expect }, { to: 'vm_1', toIp: '203.0.113.101', expect: 'unreachable' });
  t.match(r.reason, /^nova-network-PREROUTING on compute1 DNATs 203\.0\.113\.101 to 10\.0\.0\.2; from the external host's 203\.0\.113\.1: no rule of nova-compute-inst-1 accepts it: nova-compute-sg-fallback drops on compute1$/);
  const open = planOf(BASE + ICMP_OPEN);
  t.match(open.expected.reach.find((x) => x.from === 'external')!.reason, /nova-compute-inst-1 accepts: security group default allows icmp from 0\.0\.0\.0\/0/);
  t.equal(open.expected.reach.find((x) => x.from === 'external')!.expect, 'reachable');
  t.same(open.expected.egress.map((e) => [e.vm, e.source]), [['vm_1', '203.0.113.101'], ['vm_2', '203.0.113.12']]);
  t.match(open.expected.egress[0]!.reason, /nova-network-float-snat -s 10\.0\.0\.2 -j SNAT --to 203\.0\.113\.101 -o eth0" rewrites it to its floating address/);
  // allow_same_net_traffic never lets an outsider in
  t.equal(planOf(BASE.replace('public_interface: eth0', 'public_interface: eth0\n  allow_same_net_traffic: true')).expected.reach.find((x) => x.from === 'external')!.expect, 'unreachable');
});

t.test('single host: the network host holds every floating address; on one NIC it cannot send the DNATed request back out', async (t) => {
  const single = BASE.replace('multi_host: true', 'multi_host: false').replace('compute1: {my_ip: 203.0.113.11}', 'compute1: {my_ip: 203.0.113.11, role: network}').replace('vm_1: 203.0.113.101', 'vm_1: 203.0.113.101, vm_2: 203.0.113.102') + ICMP_OPEN;
  const p = planOf(single);
  t.same(p.nodes[0]!.floating.map((f) => f.vm), ['vm_1', 'vm_2']);
  t.same(p.nodes[1]!.floating, []);
  t.same(p.expected.reach.filter((x) => x.from === 'external').map((x) => x.expect), ['reachable', 'reachable']);
  const oneNic = planOf(single.replace('flat_interface: eth1', 'flat_interface: eth0').replace('public_interface: eth0', 'public_interface: br100'));
  const [r1, r2] = oneNic.expected.reach.filter((x) => x.from === 'external');
  t.equal(r1!.expect, 'reachable', "the network host's own guest");
  t.equal(r2!.expect, 'unreachable');
  t.match(r2!.reason, /net\.bridge\.bridge-nf-call-iptables=1 DNATs it at the bridge and bridges it on to vm_2 behind eth0, the port it came in by/);
  t.ok(oneNic.wiring.nodes[oneNic.nodes[0]!.name]!.includes('addr add 203.0.113.102/32 dev br100'));
});

t.test("an expected silence is confirmed when the target's kernel counted no echo request", async (t) => {
  t.equal(snmpInEchos('Ip: a b\nIp: 1 2\nIcmp: InMsgs InErrors InCsumErrors InDestUnreachs InTimeExcds InParmProbs InSrcQuenchs InRedirects InEchos InEchoReps\nIcmp: 9 0 0 1 0 0 0 0 7 1\n'), 7);
  t.equal(snmpInEchos('Ip: a\nIp: 1\n'), null);
  const p = planOf(BASE);
  const r: ReachResult = { from: 'external', to: 'vm_1', proto: 'icmp', toIp: '203.0.113.101', expected: 'unreachable', observed: 'unreachable', reason: '', evidence: 'no reply', durationMs: 1, source: 'derived' };
  const none = confirmSilences(p, [r], { drops: [], unresolved: {}, addressless: new Set() });
  t.equal(none.confirmed.get(0), null, 'silence alone proves nothing');
  const seen = confirmSilences(p, [r], { drops: [], unresolved: {}, addressless: new Set(), neverArrived: new Set(['vm_1']) });
  t.equal(seen.confirmed.get(0)?.by, 'not-received');
});

t.test("nova's --to and iptables-save's spelled-out option are one rule", async (t) => {
  const { parseIptablesSave } = await import('../src/net/iptables-save.js');
  const key = (line: string): string => parseIptablesSave(`*nat\n${line}\nCOMMIT\n`).get('nat')!.rules[0]!.key;
  t.equal(key('-A nova-network-PREROUTING -d 203.0.113.101 -j DNAT --to 10.0.0.2'), key('-A nova-network-PREROUTING -d 203.0.113.101/32 -j DNAT --to-destination 10.0.0.2'));
  t.equal(key('-A nova-network-float-snat -s 10.0.0.2 -j SNAT --to 203.0.113.101 -o eth0'), key('-A nova-network-float-snat -s 10.0.0.2/32 -o eth0 -j SNAT --to-source 203.0.113.101'));
  t.not(key('-A x -j DNAT --to 10.0.0.2'), key('-A x -j SNAT --to 10.0.0.2'));
});
