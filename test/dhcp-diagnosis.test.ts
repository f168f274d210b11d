/** A missing lease traced on its DHCP path (diagnose/dhcp.ts): the path, the reading of captures and logs, the verdict. */
import t from 'tap';
import { dhcpPath, diagnoseDhcp, dnsmasqSaid, summariseDhcpCapture, type DhcpEvidence } from '../src/diagnose/dhcp.js';
import { plan } from '../src/plan/plan.js';
import { parseScenario } from '../src/scenario/load.js';
import { assetsIn } from '../src/assets.js';

const SINGLE = `name: s\nnova: {multi_host: false, fixed_range: 10.0.0.0/24, flat_interface: eth1}\nnodes: {controller: {role: network}, compute01: {}}\nvms: {vm_1: {host: controller}, vm_2: {host: compute01}}\n`;
const P = plan(parseScenario(SINGLE), { runId: 'abc123', runtimeRoot: '/run/flatlab', assets: assetsIn('/x') });
const MAC = P.vms[1]!.mac;

t.test("the path: the guest's node, across the fabric, to the network host's dnsmasq (single host); its own node with multi_host", async (t) => {
  t.same(dhcpPath(P, 'vm_2')!.hops.map((h) => h.label), ['vm_2 eth0', 'compute01 vnet0', 'compute01 eth1', 'fabric port compute01', 'fabric port controller', 'controller eth1', 'controller br100 (dnsmasq)']);
  t.same(dhcpPath(P, 'vm_1')!.hops.map((h) => h.label), ['vm_1 eth0', 'controller vnet0', 'controller br100 (dnsmasq)']);
  const multi = plan(parseScenario(SINGLE.replace('multi_host: false', 'multi_host: true').replace('{role: network}', '{}')), { runId: 'abc123', runtimeRoot: '/r', assets: assetsIn('/x') });
  t.equal(dhcpPath(multi, 'vm_2')!.server, 'compute01');
});

t.test('captures and dnsmasq logs', async (t) => {
  const text = [
    `12:00:00.1 ${MAC} > ff:ff:ff:ff:ff:ff, ethertype IPv4 (0x0800), length 342: 0.0.0.0.68 > 255.255.255.255.67: BOOTP/DHCP, Request from ${MAC}, length 300`,
    `12:00:00.2 52:54:00:aa:bb:cc > ${MAC}, ethertype IPv4 (0x0800), length 342: 10.0.0.1.67 > 10.0.0.3.68: BOOTP/DHCP, Reply, length 300`,
    `12:00:00.3 52:54:00:aa:bb:cc > fa:16:3e:00:00:99, ethertype IPv4 (0x0800), length 342: 10.0.0.1.67 > 10.0.0.9.68: BOOTP/DHCP, Reply, length 300`,
  ].join('\n');
  t.same(summariseDhcpCapture('x', text, MAC), { label: 'x', requests: 1, replies: 1 }, "another guest's reply does not count");
  const log = `Dec  3 05:58:54 dnsmasq-dhcp[123]: 42 DHCPDISCOVER(br100) ${MAC}\nDec  3 05:58:54 dnsmasq-dhcp[123]: 42 DHCPOFFER(br100) 10.0.0.3 ${MAC}\n`;
  t.same(dnsmasqSaid(log, MAC), { discover: true, offer: `DHCPOFFER(br100) 10.0.0.3 ${MAC}`, refusal: null });
  t.same(dnsmasqSaid(`dnsmasq-dhcp[1]: DHCPDISCOVER(br100) ${MAC} no address available\n`, MAC).offer, null);
});

const evidence = (over: Partial<DhcpEvidence>): DhcpEvidence => {
  const path = dhcpPath(P, 'vm_2')!;
  return {
    path,
    hops: path.hops.map((h) => ({ label: h.label, requests: 1, replies: 1 })),
    drops: [],
    fabricAccepts: [],
    nodes: {
      compute01: { uplinkMaster: 'br100', bridgeAddresses: [], ipForward: true },
      controller: { uplinkMaster: 'br100', bridgeAddresses: ['10.0.0.1'], ipForward: true, dhcpListening: true },
    },
    log: { discover: true, offer: `DHCPOFFER(br100) 10.0.0.3 ${MAC}`, refusal: null },
    leased: false,
    cidr: '10.0.0.0/24',
    bridge: 'br100',
    flatInterface: 'eth1',
    ...over,
  };
};

t.test('the verdict: the offer lost at the compute node\'s NIC filter is named with its counter, never a dnsmasq the node does not run', async (t) => {
  const e = evidence({});
  e.hops = e.hops.map((h, i) => ({ ...h, replies: i >= 4 ? 1 : 0 }));
  e.drops = [{ where: 'fabric', target: 'fl-abc123-fabric', rule: 'FORWARD -o compute01 -j DROP', packets: 3 }];
  const d = diagnoseDhcp(e);
  t.equal(d.lastSeen, 'fabric port controller');
  t.equal(d.firstMissing, 'fabric port compute01');
  t.match(d.cause, /controller's dnsmasq answered \(its log: "DHCPOFFER\(br100\) 10\.0\.0\.3/);
  t.match(d.cause, /dropped at fabric port to compute01 .*promiscuous mode denied\) \[3 dropped by ebtables FORWARD -o compute01 -j DROP\]/);
  t.notMatch(d.text, /compute01's br100 holds no address|compute01's dnsmasq/);
});

t.test('the verdict: a request that never reached the server, a server that is not running, one that sent no offer', async (t) => {
  const lost = evidence({});
  lost.hops = lost.hops.map((h, i) => ({ ...h, requests: i <= 3 ? 1 : 0, replies: 0 }));
  t.equal(diagnoseDhcp(lost).firstMissing, 'fabric port controller');
  const down = evidence({ log: { discover: false, offer: null, refusal: null } });
  down.nodes.controller = { ...down.nodes.controller!, dhcpListening: false, dhcpLog: 'dnsmasq: failed to create listening socket for 10.0.0.1: Cannot assign requested address' };
  t.match(diagnoseDhcp(down).cause, /controller's dnsmasq is not running \("dnsmasq: failed to create listening socket/);
  const refused = evidence({ log: { discover: true, offer: null, refusal: `DHCPDISCOVER(br100) ${MAC} no address available` } });
  t.match(diagnoseDhcp(refused).cause, /sent no offer: its log says "DHCPDISCOVER\(br100\) .* no address available"/);
  const fine = evidence({ leased: true });
  t.equal(diagnoseDhcp(fine).problem, false);
});
