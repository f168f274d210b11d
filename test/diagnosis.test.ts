/** The verdict logic over recorded evidence: no lab, no root. */
import t from 'tap';
import { parseScenario } from '../src/scenario/load.js';
import { plan } from '../src/plan/plan.js';
import { egressFlow, vmFlow, type Flow } from '../src/diagnose/flow.js';
import { classifyLine, droppedBetween, parseEbtablesCounters, parseIptablesCounters, summariseCapture, type Evidence, type HopSeen } from '../src/diagnose/evidence.js';
import { diagnose } from '../src/diagnose/verdict.js';
import { FOLSOM_REFERENCE as REFERENCE } from './helpers.js';
import { readFile } from 'node:fs/promises';
import { assetsIn } from '../src/assets.js';

const OPTS = { runId: 'abc123', runtimeRoot: '/run/flatlab', assets: assetsIn('/x') };
const P = plan(parseScenario(REFERENCE), OPTS);

/** Evidence for a flow where each hop saw what `seen(i)` says. */
function evidence(flow: Flow, seen: (i: number, label: string) => Partial<HopSeen>, more: Partial<Evidence> = {}): Evidence {
  return {
    flow,
    probeOk: false,
    probeEvidence: 'no echo reply',
    hops: flow.hops.map((h, i) => ({ label: h.label, arpRequests: [], arpReplies: [], requests: 0, replies: 0, ...seen(i, h.label) })),
    drops: [],
    fabricAccepts: [],
    neighbour: { state: 'REACHABLE', lladdr: 'fa:16:3e:00:00:05' },
    srcAddresses: ['10.0.0.2'],
    dstAddresses: ['10.0.0.5'],
    nodes: {
      compute1: { uplinkMaster: 'br100', bridgeAddresses: ['10.0.0.1'], ipForward: true },
      compute2: { uplinkMaster: 'br100', bridgeAddresses: ['10.0.0.4'], ipForward: true },
    },
    cidr: '10.0.0.0/24',
    bridge: 'br100',
    flatInterface: 'eth0',
    dstChain: { name: 'nova-compute-inst-3', node: 'compute2', sameNetAccept: true },
    ...more,
  };
}

t.test('the path of a cross-node flow', async (t) => {
  t.same(vmFlow(P, 'vm_1', 'vm_3', 'icmp').hops.map((h) => h.label), [
    'vm_1 eth0', 'compute1 vnet0', 'compute1 eth0', 'fabric port compute1', 'fabric port compute2', 'compute2 eth0', 'compute2 vnet0', 'vm_3 eth0',
  ]);
  t.same(vmFlow(P, 'vm_1', 'vm_2', 'icmp').hops.map((h) => h.label), ['vm_1 eth0', 'compute1 vnet0', 'compute1 vnet1', 'vm_2 eth0']);
});

t.test('the path of a way out through another node (single host)', async (t) => {
  const text = await readFile(new URL('../scenarios/flatdhcp-singlehost.yaml', import.meta.url), 'utf8');
  const p = plan(parseScenario(text), OPTS);
  const f = egressFlow(p, 'vm_1');
  t.equal(f.via, 'controller');
  t.equal(f.nextHopIp, '10.0.0.1');
  t.same(f.hops.map((h) => h.label), [
    'vm_1 eth0', `compute1 ${p.vms[0]!.tap}`, 'compute1 eth1', 'fabric port compute1', 'fabric port controller', 'controller eth1',
    'controller eth0 (public)', 'fabric port pub.0', 'fabric port external', 'external eth0',
  ]);
});

t.test('tcpdump lines', async (t) => {
  const f = { dstIp: '10.0.0.5', srcIp: '10.0.0.2', srcMac: 'fa:16:3e:1a:81:73' };
  t.same(classifyLine('12:00:00.1 fa:16:3e:1a:81:73 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: Request who-has 10.0.0.5 tell 10.0.0.2, length 28', f), { arpRequest: '10.0.0.5' });
  t.same(classifyLine('12:00:00.1 fa:16:3e:43:b4:bf > fa:16:3e:1a:81:73, ethertype ARP (0x0806), length 42: Reply 10.0.0.5 is-at fa:16:3e:43:b4:bf, length 28', f), { arpReply: '10.0.0.5' });
  t.same(classifyLine('12:00:00.1 52:54:00:01:02:03 > fa:16:3e:43:b4:bf, ethertype ARP (0x0806), length 42: Request who-has 10.0.0.5 tell 10.0.0.4, length 28', f), {}, "a node's own neighbour probe is not the flow's");
  t.same(classifyLine('12:00:00.1 fa:16:3e:43:b4:bf > 52:54:00:01:02:03, ethertype ARP (0x0806), length 42: Reply 10.0.0.5 is-at fa:16:3e:43:b4:bf, length 28', f), {}, "nor the answer to it");
  t.same(classifyLine('12:00:00.2 a > b, ethertype IPv4 (0x0800), length 98: 10.0.0.2 > 10.0.0.5: ICMP echo request, id 7, seq 1, length 64', f), { request: true, from: '10.0.0.2' });
  t.same(classifyLine('12:00:00.2 a > b, ethertype IPv4 (0x0800), length 74: 10.0.0.5.22 > 10.0.0.2.40000: Flags [S.], seq 1', f), { reply: true });
  t.same(classifyLine('listening on eth0, link-type EN10MB', f), {});
  // the flow's own protocol and port only: the destination's DHCP renewal is not its request or answer
  const icmp = { ...f, proto: 'icmp' as const };
  const dhcpOut = '07:00:47.3 fa:16:3e:4f:63:88 > 52:54:00:30:16:4f, ethertype IPv4 (0x0800), length 342: 10.0.0.5.68 > 10.0.0.4.67: BOOTP/DHCP, Request from fa:16:3e:4f:63:88, length 300';
  const dhcpIn = '07:00:47.3 52:54:00:30:16:4f > fa:16:3e:4f:63:88, ethertype IPv4 (0x0800), length 351: 10.0.0.4.67 > 10.0.0.5.68: BOOTP/DHCP, Reply, length 309';
  t.same(classifyLine(dhcpOut, icmp), {}, "the destination's DHCP request is not an answer to the flow");
  t.same(classifyLine(dhcpIn, icmp), {}, "its node's DHCP reply is not the flow's request");
  t.same(classifyLine('12:00:00.2 a > b, ethertype IPv4 (0x0800), length 98: 10.0.0.2 > 10.0.0.5: ICMP echo request, id 7, seq 1, length 64', icmp), { request: true, from: '10.0.0.2' });
  t.same(classifyLine('12:00:00.2 a > b, ethertype IPv4 (0x0800), length 98: 10.0.0.5 > 10.0.0.2: ICMP echo reply, id 7, seq 1, length 64', icmp), { reply: true });
  const tcp = { ...f, proto: 'tcp' as const, port: 22 };
  t.same(classifyLine('12:00:00.2 a > b, ethertype IPv4 (0x0800), length 74: 10.0.0.2.40000 > 10.0.0.5.22: Flags [S], seq 1', tcp), { request: true, from: '10.0.0.2' });
  t.same(classifyLine('12:00:00.2 a > b, ethertype IPv4 (0x0800), length 74: 10.0.0.5.22 > 10.0.0.2.40000: Flags [R.], seq 0', tcp), { reply: true }, 'a reset answers');
  t.same(classifyLine(dhcpIn, { ...tcp, port: 22 }), {}, 'another port is another flow');
  t.same(classifyLine('12:00:00.2 a > b, ethertype IPv4 (0x0800), length 70: 10.0.0.5 > 10.0.0.2: ICMP 10.0.0.5 udp port 5000 unreachable, length 36', { ...f, proto: 'udp' as const, port: 5000 }), { reply: true }, 'an ICMP error from the destination answers a udp probe');
  const s = summariseCapture('x', 'a ethertype ARP, Request who-has 10.0.0.5 tell 10.0.0.2\nb IPv4: 10.0.0.2 > 10.0.0.5: ICMP echo request\nc IPv4: 10.0.0.2 > 10.0.0.5: ICMP echo request\n', f);
  t.same(s, { label: 'x', arpRequests: ['10.0.0.5'], arpReplies: [], requests: 2, replies: 0, requestSources: ['10.0.0.2'] });
});

t.test('counters', async (t) => {
  const before = parseIptablesCounters('[0:0] -A nova-compute-sg-fallback -j DROP\n[5:300] -A nova-compute-inst-3 -s 10.0.0.0/24 -j ACCEPT\n');
  const after = parseIptablesCounters('[2:168] -A nova-compute-sg-fallback -j DROP\n[9:500] -A nova-compute-inst-3 -s 10.0.0.0/24 -j ACCEPT\n');
  t.same(droppedBetween(before, after, 'ns', 'compute2'), [{ target: 'ns', where: 'compute2', rule: '-A nova-compute-sg-fallback -j DROP', packets: 2 }]);
  const eb = parseEbtablesCounters('Bridge table: filter\n\nBridge chain: FORWARD, entries: 3, policy: ACCEPT\n-o compute2 -d Multicast -j ACCEPT , pcnt = 4 -- bcnt = 168\n-o compute2 -j DROP , pcnt = 2 -- bcnt = 196\n');
  t.equal(eb.get('FORWARD -o compute2 -j DROP'), 2);
});

t.test('verdict: a healthy flow has nothing to report', async (t) => {
  const f = vmFlow(P, 'vm_1', 'vm_3', 'icmp');
  const d = diagnose(evidence(f, () => ({ requests: 1, replies: 1 }), { probeOk: true }));
  t.equal(d.problem, false);
  t.match(d.text, /vm_1 -> vm_3 icmp: ARP for 10\.0\.0\.5 resolved; request and reply seen at every hop: nothing to report/);
});

t.test('verdict: dropped at the fabric port of a NIC that is not promiscuous', async (t) => {
  const f = vmFlow(P, 'vm_1', 'vm_3', 'icmp');
  const e = evidence(f, (i) => ({ requests: i <= 3 ? 2 : 0 }), {
    drops: [{ target: 'fabric', where: 'fabric', rule: 'FORWARD -o compute2 -j DROP', packets: 2 }],
    fabricAccepts: ['-o compute2 -d Multicast -j ACCEPT , pcnt = 4', '-o compute2 -d 52:54:00:aa:bb:cc -j ACCEPT , pcnt = 0'],
  });
  const d = diagnose(e);
  t.equal(d.lastSeen, 'fabric port compute1');
  t.equal(d.firstMissing, 'fabric port compute2');
  t.match(d.text, /ARP for 10\.0\.0\.5 resolved; request seen on vm_1 eth0, compute1 vnet0, compute1 eth0, fabric port compute1; not on fabric port compute2: dropped at fabric port to compute2 \(frame not addressed to the NIC's MAC 52:54:00:aa:bb:cc/);
});

t.test('verdict: dropped by the firewall inside the destination node', async (t) => {
  const f = vmFlow(P, 'vm_1', 'vm_3', 'icmp');
  const e = evidence(f, (i) => ({ requests: i <= 5 ? 1 : 0 }), {
    drops: [{ target: 'x', where: 'compute2', rule: '-A nova-compute-sg-fallback -j DROP', packets: 2 }],
    dstChain: { name: 'nova-compute-inst-3', node: 'compute2', sameNetAccept: false },
  });
  const d = diagnose(e);
  t.equal(d.lastSeen, 'compute2 eth0');
  t.equal(d.firstMissing, 'compute2 vnet0');
  t.match(d.cause, /dropped on compute2 by nova-compute-sg-fallback: no rule of nova-compute-inst-3 accepts it \(allow_same_net_traffic is off/);
});

t.test('verdict: ARP never crosses a node whose uplink is outside the bridge', async (t) => {
  const f = vmFlow(P, 'vm_1', 'vm_3', 'icmp');
  const e = evidence(f, (i) => ({ arpRequests: i <= 5 ? ['10.0.0.5'] : [] }), {
    neighbour: { state: 'FAILED' },
    nodes: {
      compute1: { uplinkMaster: 'br100', bridgeAddresses: ['10.0.0.1'], ipForward: true },
      compute2: { uplinkMaster: null, bridgeAddresses: ['10.0.0.4'], ipForward: true },
    },
  });
  const d = diagnose(e);
  t.equal(d.arp, 'unresolved');
  t.match(d.text, /who-has seen on .*compute2 eth0; not on compute2 vnet0: compute2's eth0 is not enslaved to br100/);
});

t.test('verdict: no lease, no answer', async (t) => {
  const f = vmFlow(P, 'vm_3', 'vm_1', 'icmp');
  const noSrc = diagnose(evidence(f, () => ({}), {
    srcAddresses: [],
    nodes: { compute2: { uplinkMaster: 'br100', bridgeAddresses: [], ipForward: true }, compute1: { uplinkMaster: 'br100', bridgeAddresses: ['10.0.0.1'], ipForward: true } },
  }));
  t.match(noSrc.cause, /vm_3 has no IPv4 address \(it got no lease: compute2's br100 holds no address from 10\.0\.0\.0\/24/);
  const g = vmFlow(P, 'vm_1', 'vm_3', 'icmp');
  const noDst = diagnose(evidence(g, () => ({ arpRequests: ['10.0.0.5'] }), { neighbour: { state: 'FAILED' }, dstAddresses: [] }));
  t.match(noDst.cause, /vm_3 has no IPv4 address .*nothing answers ARP for 10\.0\.0\.5/);
});

t.test('verdict: a gateway that does not forward', async (t) => {
  const text = await readFile(new URL('../scenarios/flatdhcp-multihost-external.yaml', import.meta.url), 'utf8');
  const p = plan(parseScenario(text), OPTS);
  const f = egressFlow(p, 'vm_3');
  const e = evidence(f, (i) => ({ requests: i <= 1 ? 1 : 0 }), {
    dstAddresses: null,
    nodes: { compute2: { uplinkMaster: 'br100', bridgeAddresses: ['10.0.0.4'], ipForward: false } },
  });
  const d = diagnose(e);
  t.equal(d.firstMissing, 'compute2 eth0 (public)');
  t.match(d.cause, /compute2 does not forward: net\.ipv4\.ip_forward=0/);
});
