/**
 * A missing lease, traced on the path DHCP really takes: from the guest through its tap,
 * its node's bridge and, where another node serves it (single host: the network host's
 * dnsmasq; nova-network.md §3), across the fabric to that node's bridge, where dnsmasq
 * listens. Pure: the path from the plan, the verdict from what each hop's capture showed
 * (DISCOVER from the guest's MAC, the server's reply), the dnsmasq log lines for that MAC
 * and the drop counters. A no-lease is never blamed on a dnsmasq the guest's node does
 * not run.
 */
import type { DropCount } from '../checks/counters.js';
import type { Plan } from '../plan/types.js';
import type { NodeFacts } from './evidence.js';
import type { Hop } from './flow.js';
import { explainGap } from './verdict.js';

export interface DhcpPath {
  vm: string;
  mac: string;
  /** the node whose dnsmasq serves the guest (its own with multi_host, else the network host) */
  server: string;
  hops: Hop[];
}

/** The path of a guest's DHCP exchange, or null when no nova dnsmasq serves it. */
export function dhcpPath(plan: Plan, vmName: string): DhcpPath | null {
  const vm = plan.vms.find((v) => v.name === vmName)!;
  const source = plan.expected.addressSources[vmName];
  if (source?.kind !== 'dnsmasq') return null;
  const own = plan.nodes.find((n) => n.name === vm.node)!;
  const server = plan.nodes.find((n) => n.name === source.node)!;
  const hops: Hop[] = [
    // a vm guest: no capture inside it, its tap carries what its NIC does (flow.ts)
    ...(vm.machine ? [] : [{ label: `${vm.name} ${vm.nic}`, target: vm.netns, iface: vm.nic, kind: 'guest' as const }]),
    { label: `${own.name} ${vm.tap}`, target: own.netns, iface: vm.tap, node: own.name, kind: 'tap' },
  ];
  if (server !== own) {
    hops.push(
      { label: `${own.name} ${own.uplink}`, target: own.netns, iface: own.uplink, node: own.name, kind: 'uplink' },
      { label: `fabric port ${own.fabricPort}`, target: own.fabricNetns, iface: own.fabricPort, node: own.name, kind: 'fabric' },
      { label: `fabric port ${server.fabricPort}`, target: server.fabricNetns, iface: server.fabricPort, node: server.name, kind: 'fabric' },
      { label: `${server.name} ${server.uplink}`, target: server.netns, iface: server.uplink, node: server.name, kind: 'uplink' },
    );
  }
  hops.push({ label: `${server.name} ${server.bridge} (dnsmasq)`, target: server.netns, iface: server.bridge, node: server.name, kind: 'tap' });
  return { vm: vmName, mac: vm.mac, server: server.name, hops };
}


export interface DhcpHopSeen {
  label: string;
  /** requests (DISCOVER, REQUEST) sent by the guest */
  requests: number;
  /** replies (OFFER, ACK) toward the guest: to its MAC, or broadcast */
  replies: number;
  unavailable?: string;
}

/** Counts one hop's `tcpdump -n -e` lines of the guest's DHCP exchange. */
export function summariseDhcpCapture(label: string, text: string, mac: string): DhcpHopSeen {
  let requests = 0;
  let replies = 0;
  for (const line of text.split('\n')) {
    if (!/BOOTP\/DHCP/.test(line)) continue;
    const m = /^\S+ ([0-9a-f:]{17}) > ([0-9a-f:]{17})/.exec(line);
    if (/Request from ([0-9a-f:]{17})/.exec(line)?.[1] === mac) requests++;
    else if (/Reply/.test(line) && m && (m[2] === mac || m[2] === 'ff:ff:ff:ff:ff:ff')) replies++;
  }
  return { label, requests, replies };
}

/** What the serving dnsmasq logged for the guest's MAC (`--log-dhcp`): DISCOVER seen, OFFER sent, or why not. */
export function dnsmasqSaid(log: string, mac: string): { discover: boolean; offer: string | null; refusal: string | null } {
  const mine = log.split('\n').filter((l) => l.toLowerCase().includes(mac));
  const offer = mine.filter((l) => /DHCPOFFER|DHCPACK/.test(l)).pop() ?? null;
  const refusal = mine.filter((l) => /no address available|ignored|not found|wrong network|no address configured/i.test(l)).pop() ?? null;
  return { discover: mine.some((l) => /DHCPDISCOVER|DHCPREQUEST/.test(l)), offer: offer ? offer.replace(/^.*?dnsmasq-dhcp\[\d+\]: /, '').replace(/^\d+ /, '').trim() : null, refusal };
}

export interface DhcpEvidence {
  path: DhcpPath;
  hops: DhcpHopSeen[];
  drops: DropCount[];
  fabricAccepts: string[];
  nodes: Record<string, NodeFacts>;
  /** the serving dnsmasq's log lines for the guest, read after the exchange */
  log: ReturnType<typeof dnsmasqSaid>;
  /** whether the guest's own client got a lease meanwhile */
  leased: boolean;
  cidr: string;
  bridge: string;
  flatInterface: string;
}

export interface DhcpDiagnosis {
  flow: string;
  problem: boolean;
  lastSeen: string | null;
  firstMissing: string | null;
  cause: string;
  text: string;
}

export function diagnoseDhcp(e: DhcpEvidence): DhcpDiagnosis {
  const { path, hops } = e;
  const label = `${path.vm} DHCP (served by ${path.server}'s dnsmasq)`;
  const done = (d: Omit<DhcpDiagnosis, 'flow' | 'text'>, seen: string): DhcpDiagnosis => ({ flow: label, ...d, text: `${label}: ${seen}: ${d.cause}` });
  // explainGap reads drops, node facts and the fabric's accepts: the same evidence as a flow's
  const gap = (a: number, b: number, what: string): string =>
    explainGap(
      {
        flow: { from: path.vm, to: path.server, proto: 'udp', srcIp: '0.0.0.0', srcMac: path.mac, dstIp: '255.255.255.255', nextHopIp: '255.255.255.255', hops: path.hops },
        probeOk: false,
        probeEvidence: '',
        hops: [],
        drops: e.drops,
        fabricAccepts: e.fabricAccepts,
        neighbour: null,
        srcAddresses: [],
        dstAddresses: null,
        nodes: e.nodes,
        cidr: e.cidr,
        bridge: e.bridge,
        flatInterface: e.flatInterface,
      },
      path.hops[a]!,
      path.hops[b]!,
      what,
    );
  if (e.leased && hops.every((h) => h.replies > 0)) {
    return { flow: label, problem: false, lastSeen: hops.at(-1)!.label, firstMissing: null, cause: 'the exchange went through: the guest holds its lease now', text: `${label}: request and answer seen at every hop: nothing to report` };
  }
  const n = hops.length;
  if (hops[0]!.requests === 0) {
    return done({ problem: true, lastSeen: null, firstMissing: hops[0]!.label, cause: `${path.vm} sent no DHCP request on its NIC` }, 'nothing sent');
  }
  const lastReq = hops.map((h) => h.requests > 0).lastIndexOf(true);
  const server = e.nodes[path.server];
  if (lastReq < n - 1) {
    const seen = hops.slice(0, lastReq + 1).map((h) => h.label).join(', ');
    return done({ problem: true, lastSeen: hops[lastReq]!.label, firstMissing: hops[lastReq + 1]!.label, cause: gap(lastReq, lastReq + 1, 'DHCP request') }, `request seen on ${seen}; not on ${hops[lastReq + 1]!.label}`);
  }
  // the request reached the server's bridge
  if (server?.dhcpListening === false) {
    return done({ problem: true, lastSeen: hops[n - 1]!.label, firstMissing: null, cause: `${path.server}'s dnsmasq is not running${server.dhcpLog ? ` ("${server.dhcpLog}")` : ''}` }, 'request seen at every hop up to the server');
  }
  if (!e.log.offer) {
    const why = e.log.refusal ? `its log says "${e.log.refusal.replace(/^.*?dnsmasq-dhcp\[\d+\]: /, '')}"` : e.log.discover ? 'its log shows the request and no offer' : 'its log shows nothing from this MAC';
    const noAddress = server && !server.bridgeAddresses.length ? `; ${path.server}'s ${e.bridge} holds no address from ${e.cidr}, so its dnsmasq has no range to serve` : '';
    return done({ problem: true, lastSeen: hops[n - 1]!.label, firstMissing: null, cause: `${path.server}'s dnsmasq sent no offer: ${why}${noAddress}` }, 'request seen at every hop up to the server');
  }
  const offered = `${path.server}'s dnsmasq answered (its log: "${e.log.offer}")`;
  const firstRep = hops.map((h) => h.replies > 0).indexOf(true);
  if (firstRep < 0) {
    return done({ problem: true, lastSeen: hops[n - 1]!.label, firstMissing: hops[n - 1]!.label, cause: `${offered}, yet no reply was captured on its own bridge (a capture that did not catch it)` }, 'request seen at every hop');
  }
  if (firstRep > 0) {
    return done(
      { problem: true, lastSeen: hops[firstRep]!.label, firstMissing: hops[firstRep - 1]!.label, cause: `${offered}; ${gap(firstRep, firstRep - 1, 'DHCP reply')}` },
      `request seen at every hop; reply seen back to ${hops[firstRep]!.label}, not on ${hops[firstRep - 1]!.label}`,
    );
  }
  return done({ problem: true, lastSeen: hops[0]!.label, firstMissing: null, cause: `${offered} and the reply reached ${path.vm}'s NIC, yet it holds no lease` }, 'request and reply seen at every hop');
}
