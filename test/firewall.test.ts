import t from 'tap';
import { parseScenario } from '../src/scenario/load.js';
import { plan } from '../src/plan/plan.js';
import { securityGroupRuleLines } from '../src/plan/firewall.js';
import { REFERENCE } from './helpers.js';
import { assetsIn } from '../src/assets.js';

const OPTS = { runId: 'abc123', runtimeRoot: '/run/flatlab', assets: assetsIn('/x') };

t.test("compute2's filter table: nova's chains, in nova's order", async (t) => {
  const text = REFERENCE.replace('  flat_interface: eth0\n', '  flat_interface: eth0\n  allow_same_net_traffic: true\n')
    .concat('security_groups:\n  ssh:\n    rules:\n      - {proto: tcp, port: 22, from: group ssh}\n      - {proto: tcp, port: "1000-2000", from: 10.1.0.0/16}\n      - {proto: icmp, type: 8, code: 0}\n      - {proto: icmp}\n')
    .replace('vm_3: {host: compute2}', 'vm_3: {host: compute2, security_groups: [ssh]}')
    .replace('vm_1: {host: compute1}', 'vm_1: {host: compute1, security_groups: [ssh, default]}');
  const p = plan(parseScenario(text), OPTS);
  t.equal(
    p.nodes[1]!.firewall,
    `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:nova-filter-top - [0:0]
:nova-network-INPUT - [0:0]
:nova-network-OUTPUT - [0:0]
:nova-network-FORWARD - [0:0]
:nova-network-local - [0:0]
:nova-compute-INPUT - [0:0]
:nova-compute-OUTPUT - [0:0]
:nova-compute-FORWARD - [0:0]
:nova-compute-local - [0:0]
:nova-compute-provider - [0:0]
:nova-compute-sg-fallback - [0:0]
:nova-compute-inst-3 - [0:0]
:nova-compute-inst-4 - [0:0]
-A FORWARD -j nova-filter-top
-A OUTPUT -j nova-filter-top
-A nova-filter-top -j nova-network-local
-A INPUT -j nova-network-INPUT
-A OUTPUT -j nova-network-OUTPUT
-A FORWARD -j nova-network-FORWARD
-A nova-filter-top -j nova-compute-local
-A INPUT -j nova-compute-INPUT
-A OUTPUT -j nova-compute-OUTPUT
-A FORWARD -j nova-compute-FORWARD
-A nova-network-FORWARD -i br100 -j ACCEPT
-A nova-network-FORWARD -o br100 -j ACCEPT
-A nova-network-INPUT -i br100 -p udp -m udp --dport 67 -j ACCEPT
-A nova-network-INPUT -i br100 -p tcp -m tcp --dport 67 -j ACCEPT
-A nova-network-INPUT -i br100 -p udp -m udp --dport 53 -j ACCEPT
-A nova-network-INPUT -i br100 -p tcp -m tcp --dport 53 -j ACCEPT
-A nova-compute-INPUT -s 0.0.0.0/32 -d 255.255.255.255/32 -p udp -m udp --sport 68 --dport 67 -j ACCEPT
-A nova-compute-FORWARD -s 0.0.0.0/32 -d 255.255.255.255/32 -p udp -m udp --sport 68 --dport 67 -j ACCEPT
-A nova-compute-local -d 10.0.0.5 -j nova-compute-inst-3
-A nova-compute-inst-3 -m state --state INVALID -j DROP
-A nova-compute-inst-3 -m state --state ESTABLISHED,RELATED -j ACCEPT
-A nova-compute-inst-3 -j nova-compute-provider
-A nova-compute-inst-3 -s 10.0.0.4 -p udp --sport 67 --dport 68 -j ACCEPT
-A nova-compute-inst-3 -s 10.0.0.0/24 -j ACCEPT
-A nova-compute-inst-3 -j ACCEPT -p tcp --dport 22 -s 10.0.0.2
-A nova-compute-inst-3 -j ACCEPT -p tcp --dport 22 -s 10.0.0.5
-A nova-compute-inst-3 -j ACCEPT -p tcp -m multiport --dports 1000:2000 -s 10.1.0.0/16
-A nova-compute-inst-3 -j ACCEPT -p icmp -m icmp --icmp-type 8/0 -s 0.0.0.0/0
-A nova-compute-inst-3 -j ACCEPT -p icmp -s 0.0.0.0/0
-A nova-compute-inst-3 -j nova-compute-sg-fallback
-A nova-compute-local -d 10.0.0.6 -j nova-compute-inst-4
-A nova-compute-inst-4 -m state --state INVALID -j DROP
-A nova-compute-inst-4 -m state --state ESTABLISHED,RELATED -j ACCEPT
-A nova-compute-inst-4 -j nova-compute-provider
-A nova-compute-inst-4 -s 10.0.0.4 -p udp --sport 67 --dport 68 -j ACCEPT
-A nova-compute-inst-4 -s 10.0.0.0/24 -j ACCEPT
-A nova-compute-inst-4 -j nova-compute-sg-fallback
-A nova-compute-sg-fallback -j DROP
COMMIT
`,
  );
});

t.test('allow_same_net_traffic off drops the same-net accept, nothing else', async (t) => {
  const on = plan(parseScenario(REFERENCE), OPTS).nodes[0]!.firewall;
  const off = plan(parseScenario(REFERENCE.replace('multi_host: true', 'multi_host: true\n  allow_same_net_traffic: false')), OPTS).nodes[0]!.firewall;
  const diff = on.split('\n').filter((l) => !off.split('\n').includes(l));
  t.same(diff, ['-A nova-compute-inst-1 -s 10.0.0.0/24 -j ACCEPT', '-A nova-compute-inst-2 -s 10.0.0.0/24 -j ACCEPT']);
});

t.test('security group rule text as nova built it', async (t) => {
  const members = (): string[] => ['10.0.0.2', '10.0.0.3'];
  t.same(securityGroupRuleLines({ proto: 'udp', fromPort: 53, toPort: 53, cidr: '0.0.0.0/0' }, members), ['-j ACCEPT -p udp --dport 53 -s 0.0.0.0/0']);
  t.same(securityGroupRuleLines({ proto: 'tcp', fromPort: 80, toPort: 80, group: 'web' }, members), [
    '-j ACCEPT -p tcp --dport 80 -s 10.0.0.2',
    '-j ACCEPT -p tcp --dport 80 -s 10.0.0.3',
  ]);
  t.same(securityGroupRuleLines({ proto: 'icmp', icmpType: 0, cidr: '10.0.0.0/8' }, members), ['-j ACCEPT -p icmp -m icmp --icmp-type 0 -s 10.0.0.0/8']);
});
