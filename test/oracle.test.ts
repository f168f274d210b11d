/** The oracle on its own table of cases. */
import t from 'tap';
import { judge, deriveProbes, type OracleInputs, type Probe } from '../src/plan/oracle.js';
import type { NetworkPlan, RulePlan, VmPlan } from '../src/plan/types.js';
import { assetsIn } from '../src/assets.js';

const network = (allowSameNetTraffic: boolean): NetworkPlan => ({
  label: 'private',
  manager: 'FlatDHCPManager',
  gateway: null,
  injected: false,
  dns: '8.8.4.4',
  dns2: null,
  dhcpStart: '10.0.0.2',
  snatRange: { cidr: '10.0.0.0/24', from: 'the network' },
  cidr: '10.0.0.0/24',
  netmask: '255.255.255.0',
  prefixLength: 24,
  broadcast: '10.0.0.255',
  bridge: 'br100',
  flatInterface: 'eth0',
  multiHost: true,
  allowSameNetTraffic,
  leaseTime: 120,
  domain: 'novalocal',
  singleDefaultGateway: false,
});

let id = 0;
const vm = (name: string, node: string, ip: string, securityGroups: string[] = ['default'], declaredServices: VmPlan['declaredServices'] = null): VmPlan => ({
  name,
  hostname: name,
  node,
  netns: `fl-x-${name}`,
  nic: 'eth0',
  mac: 'fa:16:3e:00:00:00',
  tap: 'vnet0',
  tapMac: 'fe:16:3e:00:00:00',
  ip,
  gateway: null,
  dir: '/tmp',
  instanceId: ++id,
  securityGroups,
  services: [],
  declaredServices,
  boot: 'dhcp',
  injectedConfig: null,
  guest: "namespace",
  machine: null,
});

const VMS = [
  vm('a1', 'c1', '10.0.0.2', ['ssh']),
  vm('a2', 'c1', '10.0.0.3'),
  vm('b1', 'c2', '10.0.0.5', ['ssh', 'web']),
  vm('b2', 'c2', '10.0.0.6', ['web', 'ping']),
  vm('outsider', 'c2', '10.0.0.200', ['ssh-range']),
];
const GROUPS: Record<string, RulePlan[]> = {
  default: [],
  ssh: [{ proto: 'tcp', fromPort: 22, toPort: 22, group: 'ssh' }],
  web: [
    { proto: 'tcp', fromPort: 8000, toPort: 8100, cidr: '10.0.0.0/29' },
    { proto: 'udp', fromPort: 53, toPort: 53, cidr: '10.0.0.3/32' },
  ],
  ping: [{ proto: 'icmp', icmpType: 8, cidr: '0.0.0.0/0' }],
  'ssh-range': [{ proto: 'icmp', icmpType: 0, cidr: '0.0.0.0/0' }],
};

const inputs = (allow: boolean): OracleInputs => ({ network: network(allow), vms: VMS, groups: GROUPS });

const cases: [string, boolean, Probe, 'reachable' | 'unreachable', RegExp][] = [
  ['same node, allowed by same-net', true, { from: 'a1', to: 'a2', proto: 'icmp' }, 'reachable', /allow_same_net_traffic/],
  ['cross node, allowed by same-net', true, { from: 'a1', to: 'b1', proto: 'icmp' }, 'reachable', /allow_same_net_traffic, 10\.0\.0\.2 is in 10\.0\.0\.0\/24/],
  ['same-net also opens tcp', true, { from: 'a2', to: 'b1', proto: 'tcp', port: 9 }, 'reachable', /allow_same_net_traffic/],
  ['same node, blocked', false, { from: 'a1', to: 'a2', proto: 'icmp' }, 'unreachable', /sg-fallback drops/],
  ['cross node, blocked', false, { from: 'a2', to: 'b1', proto: 'icmp' }, 'unreachable', /allow_same_net_traffic is off/],
  ['group source: member reaches member', false, { from: 'a1', to: 'b1', proto: 'tcp', port: 22 }, 'reachable', /security group ssh allows tcp 22 from group ssh/],
  ['group source: non-member does not', false, { from: 'a2', to: 'b1', proto: 'tcp', port: 22 }, 'unreachable', /drops/],
  ['group grant is per port', false, { from: 'a1', to: 'b1', proto: 'tcp', port: 23 }, 'unreachable', /drops/],
  ['group grant is per protocol', false, { from: 'a1', to: 'b1', proto: 'udp', port: 22 }, 'unreachable', /drops/],
  ['group grant does not open icmp', false, { from: 'a1', to: 'b1', proto: 'icmp' }, 'unreachable', /drops/],
  ['cidr source inside, port range', false, { from: 'a2', to: 'b2', proto: 'tcp', port: 8050 }, 'reachable', /web allows tcp 8000-8100 from 10\.0\.0\.0\/29/],
  ['cidr source outside', false, { from: 'outsider', to: 'b2', proto: 'tcp', port: 8050 }, 'unreachable', /drops/],
  ['range upper bound', false, { from: 'a2', to: 'b2', proto: 'tcp', port: 8100 }, 'reachable', /web/],
  ['range beyond', false, { from: 'a2', to: 'b2', proto: 'tcp', port: 8101 }, 'unreachable', /drops/],
  ['udp /32 source', false, { from: 'a2', to: 'b1', proto: 'udp', port: 53 }, 'reachable', /udp 53 from 10\.0\.0\.3\/32/],
  ['udp /32 other source', false, { from: 'a1', to: 'b1', proto: 'udp', port: 53 }, 'unreachable', /drops/],
  ['icmp echo-request rule', false, { from: 'a1', to: 'b2', proto: 'icmp' }, 'reachable', /ping allows icmp type 8/],
  ['icmp echo-reply rule does not admit a ping', false, { from: 'a1', to: 'outsider', proto: 'icmp' }, 'unreachable', /drops/],
  ['rules are the target\'s: outbound is not filtered', false, { from: 'b2', to: 'a1', proto: 'icmp' }, 'unreachable', /inst-1/],
];

for (const [name, allow, probe, want, why] of cases) {
  t.test(`${name} (allow_same_net_traffic=${allow})`, async (t) => {
    const v = judge(inputs(allow), probe);
    t.equal(v.expect, want);
    t.match(v.reason, why);
  });
}

t.test('an address outside the fixed range is not same-net', async (t) => {
  const far = vm('far', 'c1', '10.9.0.1');
  const v = judge({ network: network(true), vms: [...VMS, far], groups: GROUPS }, { from: 'far', to: 'a1', proto: 'icmp' });
  t.equal(v.expect, 'unreachable');
});

t.test('probes: icmp for every pair, plus every tcp/udp port some group opens', async (t) => {
  const probes = deriveProbes(inputs(false));
  const pairs = VMS.length * (VMS.length - 1);
  const kinds = new Set(probes.map((p) => `${p.proto}${p.port ?? ''}`));
  t.same([...kinds].sort(), ['icmp', 'tcp22', 'tcp8000', 'udp53']);
  t.equal(probes.length, pairs * 4);
  t.equal(deriveProbes({ network: network(true), vms: VMS.slice(0, 2), groups: { default: [] } }).length, 2, 'no groups: icmp only');
});

t.test('refused: the firewall accepts, nothing listens', async (t) => {
  const web = vm('w', 'c2', '10.0.0.9', ['ssh'], [{ proto: 'tcp', port: 80 }]);
  const client = vm('c', 'c1', '10.0.0.8', ['ssh']);
  const i = (allow: boolean): OracleInputs => ({ network: network(allow), vms: [client, web], groups: GROUPS });
  // same-net accepts tcp/22; w declares only tcp/80: its kernel resets the SYN
  const ssh = judge(i(true), { from: 'c', to: 'w', proto: 'tcp', port: 22 });
  t.equal(ssh.expect, 'refused');
  t.match(ssh.reason, /accepts: allow_same_net_traffic.*but nothing listens on tcp\/22 in w \(its services: tcp\/80\)/);
  t.equal(judge(i(true), { from: 'c', to: 'w', proto: 'tcp', port: 80 }).expect, 'reachable', 'a declared service answers');
  t.equal(judge(i(true), { from: 'c', to: 'w', proto: 'icmp' }).expect, 'reachable', 'icmp has no listener to miss');
  t.equal(judge(i(true), { from: 'c', to: 'w', proto: 'udp', port: 53 }).expect, 'refused', 'udp: port unreachable');
  // the group grants tcp/22 without same-net: still refused, the grant is the reason
  const grant = judge(i(false), { from: 'c', to: 'w', proto: 'tcp', port: 22 });
  t.equal(grant.expect, 'refused');
  t.match(grant.reason, /security group ssh allows tcp 22 from group ssh, but nothing listens/);
  // what the firewall drops is a drop, listener or not
  t.equal(judge(i(false), { from: 'c', to: 'w', proto: 'tcp', port: 80 }).expect, 'unreachable');
  // a VM that declares nothing listens on every probed port, as before
  t.equal(judge(i(true), { from: 'w', to: 'c', proto: 'tcp', port: 22 }).expect, 'reachable');
  // declared services are probed too
  t.ok(deriveProbes(i(true)).some((p) => p.proto === 'tcp' && p.port === 80 && p.to === 'c'), 'tcp/80 is probed between every pair');
});

t.test("a node's own probe (node:NAME): its bridge address meets the instance chain, in OUTPUT for its own instances", async (t) => {
  const { judgeFromNode } = await import('../src/plan/oracle.js');
  const { plan } = await import('../src/plan/plan.js');
  const { parseScenario } = await import('../src/scenario/load.js');
  const text = `name: n\nnova: {multi_host: true, fixed_range: 10.0.0.0/24, allow_same_net_traffic: false}\nnodes: {compute1: {}, compute2: {}}\nvms: {vm_1: {host: compute1}, vm_3: {host: compute2}}\n`;
  const p = plan(parseScenario(text), { runId: 'abc123', runtimeRoot: '/r', assets: assetsIn('/x') });
  const o = { network: p.network, vms: p.vms, groups: p.securityGroups };
  const local = judgeFromNode(o, { name: 'compute1', bridgeIp: '10.0.0.1' }, { from: 'node:compute1', to: 'vm_1', proto: 'icmp' });
  t.equal(local.expect, 'unreachable');
  t.match(local.reason, /refused locally: compute1's OUTPUT passes nova-filter-top -> nova-compute-local -> nova-compute-inst-1 .*"Operation not permitted"/);
  const remote = judgeFromNode(o, { name: 'compute2', bridgeIp: '10.0.0.4' }, { from: 'node:compute2', to: 'vm_1', proto: 'icmp' });
  t.match(remote.reason, /on compute1$/);
  const open = judgeFromNode({ ...o, groups: { default: [{ proto: 'icmp', cidr: '0.0.0.0/0' }] } }, { name: 'compute1', bridgeIp: '10.0.0.1' }, { from: 'node:compute1', to: 'vm_1', proto: 'icmp' });
  t.equal(open.expect, 'reachable');
  const same = judgeFromNode({ ...o, network: { ...o.network, allowSameNetTraffic: true } }, { name: 'compute1', bridgeIp: '10.0.0.1' }, { from: 'node:compute1', to: 'vm_1', proto: 'icmp' });
  t.match(same.reason, /from compute1's own 10\.0\.0\.1: nova-compute-inst-1 accepts: allow_same_net_traffic/);
  t.match(judgeFromNode(o, { name: 'compute9', bridgeIp: null }, { from: 'node:compute9', to: 'vm_1', proto: 'icmp' }).reason, /holds no address in 10\.0\.0\.0\/24 .*no route/);
  const { errorsOf } = await import('./helpers.js');
  t.match(errorsOf(text + 'expect: {checks: [{from: "node:compute7", to: vm_1, expect: reachable}]}\n')[0], /expect\.checks\[0\]\.from: no node "compute7"/);
  t.match(errorsOf(text + 'expect: {checks: [{from: "node:", to: vm_1, expect: reachable}]}\n')[0], /must be a VM, a node \(each of its VMs\), node:NAME \(the node itself\) or external/);
});
