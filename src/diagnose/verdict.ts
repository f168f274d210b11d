/**
 * The verdict of a diagnosis, from its evidence alone: where the packets were last seen,
 * where they were first missing, and the rule, setting or missing address that explains
 * the gap. Pure, so it is unit-tested over recorded evidence.
 */
import { cidrContains, parseCidr, type Cidr } from '../net/ipv4.js';
import type { DropCount, Evidence, HopSeen } from './evidence.js';
import { flowLabel, type Hop } from './flow.js';
import { FALLBACK_CHAIN, FALLBACK_DROP, jumpsToFallback, snatRuleParts } from '../nova/iptables.js';

export interface Diagnosis {
  flow: string;
  /** false when every hop saw the request and the reply */
  problem: boolean;
  arp: 'resolved' | 'unresolved' | 'not needed';
  lastSeen: string | null;
  firstMissing: string | null;
  cause: string;
  /** one line, as printed */
  text: string;
}

const list = (hops: HopSeen[]): string => hops.map((h) => h.label).join(', ');

export function diagnose(e: Evidence): Diagnosis {
  const f = e.flow;
  const label = flowLabel(f);
  const hops = e.hops;
  const n = hops.length;
  const pathHops = f.hops;
  const resolved = e.neighbour !== null && e.neighbour.lladdr !== undefined && !/FAILED|INCOMPLETE/.test(e.neighbour.state);
  const arp: Diagnosis['arp'] = resolved ? 'resolved' : 'unresolved';
  const arpText = resolved ? `ARP for ${f.nextHopIp} resolved` : `ARP for ${f.nextHopIp} unresolved`;
  const done: Done = (d, seenText) => ({
    flow: label,
    arp,
    ...d,
    text: `${label}: ${[arpText, seenText].filter(Boolean).join('; ')}${d.problem ? `: ${d.cause}` : ''}`,
  });

  if (e.srcAddresses.length === 0) {
    return done({ problem: true, lastSeen: null, firstMissing: pathHops[0]!.label, cause: `${f.from} has no IPv4 address (it got no lease${whyNoLease(e, f.from, pathHops[1]?.node)})` }, 'nothing sent');
  }
  const reqIdx = hops.map((h, i) => (h.requests > 0 ? i : -1)).filter((i) => i >= 0);
  if (reqIdx.length === 0) return diagnoseArp(e, done);
  const last = Math.max(...reqIdx);
  if (last < n - 1) {
    const seen = hops.filter((h) => h.requests > 0);
    return done(
      { problem: true, lastSeen: hops[last]!.label, firstMissing: hops[last + 1]!.label, cause: explainGap(e, pathHops[last]!, pathHops[last + 1]!, 'request') },
      `request seen on ${list(seen)}; not on ${hops[last + 1]!.label}`,
    );
  }
  // The request arrived. Follow the reply back.
  const repIdx = hops.map((h, i) => (h.replies > 0 ? i : -1)).filter((i) => i >= 0);
  if (repIdx.length === 0) {
    const from = hops[n - 1]!.requestSources ?? [];
    const cause =
      f.to === 'external' && e.snat && from.length > 0 && !from.includes(e.snat.myIp)
        ? `the external host got it from ${from.join(', ')}, not ${e.snat.myIp}: ${e.snat.node}'s SNAT rule "${e.snat.rule}" rewrote ${e.snat.packets} packets${snatMissReason(e.snat.rule, f.srcIp, f.dstIp)}, so it left with its fixed address and nothing routes the answer back to ${f.srcIp}`
        : e.dstAddresses !== null && e.dstAddresses.length === 0
        ? `${f.to} has no IPv4 address: nothing answers ${f.dstIp}`
        : `${f.to} received the request and sent no answer`;
    return done({ problem: true, lastSeen: hops[n - 1]!.label, firstMissing: null, cause }, 'request seen at every hop; no reply');
  }
  const firstReply = Math.min(...repIdx);
  if (firstReply > 0) {
    return done(
      { problem: true, lastSeen: hops[firstReply]!.label, firstMissing: hops[firstReply - 1]!.label, cause: explainGap(e, pathHops[firstReply]!, pathHops[firstReply - 1]!, 'reply') },
      `request seen at every hop; reply seen back to ${hops[firstReply]!.label}, not on ${hops[firstReply - 1]!.label}`,
    );
  }
  if (!e.probeOk) {
    return done({ problem: true, lastSeen: hops[0]!.label, firstMissing: null, cause: `the reply reached ${f.from}, yet the probe failed (${e.probeEvidence})` }, 'request and reply seen at every hop');
  }
  if (e.expected === 'unreachable') {
    // answered where nova's chains should have dropped it
    const off = Object.entries(e.nodes).filter(([, x]) => x.bridgeNf === false).map(([name]) => name);
    const cause = off.length
      ? `net.bridge.bridge-nf-call-iptables=0 on ${off.join(', ')}: bridged frames never pass the node's iptables, so ${e.dstChain?.name ?? 'the instance chain'} and ${FALLBACK_CHAIN} never see them`
      : `nothing dropped it: ${e.dstChain ? `${e.dstChain.name} on ${e.dstChain.node}` : "the target's chain"} let it through`;
    return done({ problem: true, lastSeen: hops[n - 1]!.label, firstMissing: null, cause }, 'request and reply seen at every hop, where a drop was expected');
  }
  return { flow: label, problem: false, arp, lastSeen: hops[n - 1]!.label, firstMissing: null, cause: 'nothing to report', text: `${label}: ${arpText}; request and reply seen at every hop: nothing to report` };
}

/** The verdict in words: what was seen (ARP, hops) and, for a problem, its cause. */
type Done = (d: Omit<Diagnosis, 'flow' | 'text' | 'arp'>, seenText: string) => Diagnosis;

/**
 * Nothing left the source: the ARP exchange for the next hop failed. Follow it to where
 * it is answered: the destination guest, or (way out) the gateway's bridge.
 */
function diagnoseArp(e: Evidence, done: Done): Diagnosis {
  const f = e.flow;
  const hops = e.hops;
  const n = hops.length;
  const pathHops = f.hops;
  const target = f.to === 'external' ? Math.max(0, pathHops.findIndex((h) => h.node === f.via && (h.kind === 'tap' || h.kind === 'uplink'))) : n - 1;
  const reqSeen = hops.map((h) => h.arpRequests.includes(f.nextHopIp));
  const lastReq = reqSeen.lastIndexOf(true);
  const whoHas = `who-has seen on ${list(hops.filter((_, i) => reqSeen[i])) || 'no hop'}`;
  if (lastReq < target) {
    const at = Math.max(lastReq, 0);
    return done(
      { problem: true, lastSeen: lastReq >= 0 ? hops[lastReq]!.label : null, firstMissing: hops[lastReq + 1]!.label, cause: explainGap(e, pathHops[at]!, pathHops[lastReq + 1]!, 'ARP request') },
      `${whoHas}; not on ${hops[lastReq + 1]!.label}`,
    );
  }
  const repSeen = hops.map((h) => h.arpReplies.includes(f.nextHopIp));
  const firstRep = repSeen.indexOf(true);
  if (firstRep < 0) {
    return done({ problem: true, lastSeen: hops[lastReq]!.label, firstMissing: null, cause: noArpReply(e, pathHops[lastReq]!) }, `${whoHas}; no answer`);
  }
  if (firstRep > 0) {
    return done(
      { problem: true, lastSeen: hops[firstRep]!.label, firstMissing: hops[firstRep - 1]!.label, cause: explainGap(e, pathHops[firstRep]!, pathHops[firstRep - 1]!, 'ARP reply') },
      `${whoHas}; is-at seen on ${list(hops.filter((_, i) => repSeen[i]))}, not on ${hops[firstRep - 1]!.label}`,
    );
  }
  return done({ problem: true, lastSeen: hops[0]!.label, firstMissing: null, cause: 'the ARP reply reached the source, yet it sent nothing' }, whoHas);
}

/** Why an ARP request that went out got no answer. */
function noArpReply(e: Evidence, at: Hop): string {
  const f = e.flow;
  if (f.to === 'external' && f.via) {
    const facts = e.nodes[f.via];
    const net = parseCidr(e.cidr) as Cidr;
    if (facts && !facts.bridgeAddresses.some((a) => cidrContains(net, a))) {
      return `${f.via}'s ${e.bridge} holds no address from ${e.cidr}: nothing answers ARP for the gateway ${f.nextHopIp}`;
    }
  }
  if (e.dstAddresses !== null && e.dstAddresses.length > 0 && !e.dstAddresses.includes(f.dstIp)) {
    return `${f.to} does not hold ${f.dstIp} (it holds ${e.dstAddresses.join(', ')}): nothing answers ARP for it`;
  }
  if (e.dstAddresses !== null && e.dstAddresses.length === 0) {
    const dstNode = [...e.flow.hops].reverse().find((h) => h.kind === 'tap')?.node;
    return `${f.to} has no IPv4 address (it got no lease${whyNoLease(e, f.to, dstNode)}): nothing answers ARP for ${f.dstIp}`;
  }
  return `no ARP answer for ${f.nextHopIp} (last seen at ${at.label})`;
}

/**
 * Why a guest has no lease, from the node that serves it: its own (multi_host), whose
 * bridge may lack the pool address dnsmasq listens on; or, with one network host, that
 * host's dnsmasq across the fabric, never a dnsmasq the guest's node does not run (its
 * DHCP trace says where the exchange stopped).
 */
function whyNoLease(e: Evidence, vm: string, vmNode: string | undefined): string {
  const server = e.servedBy?.[vm];
  if (server && server !== vmNode) return `: its DHCP server is ${server}'s dnsmasq across the fabric (multi_host is false: ${vmNode ?? 'its node'} runs none); its DHCP trace says where the exchange stopped`;
  const node = vmNode;
  const facts = node ? e.nodes[node] : undefined;
  if (!facts) return '';
  const net = parseCidr(e.cidr) as Cidr;
  const noAddress = !facts.bridgeAddresses.some((a) => cidrContains(net, a));
  if (facts.dhcpListening === false) {
    return `: ${node}'s dnsmasq is not running${facts.dhcpLog ? ` ("${facts.dhcpLog}")` : ''}${noAddress ? `; ${node}'s ${e.bridge} holds no address from ${e.cidr}, the --listen-address dnsmasq was started with` : ''}`;
  }
  return noAddress ? `: ${node}'s ${e.bridge} holds no address from ${e.cidr}, so its dnsmasq has no range to serve` : '';
}

function describeDrop(d: DropCount, e: Evidence): string {
  if (d.where === 'fabric' && / -i (\S+)/.test(` ${d.rule}`)) {
    const port = / -i (\S+)/.exec(` ${d.rule}`)![1];
    return `dropped at fabric port from ${port} (a frame whose source MAC is not the NIC's own: the node's NIC rejects forged transmits, so its guests' frames never reach the segment) [${d.packets} dropped by ebtables ${d.rule}]`;
  }
  if (d.where === 'fabric') {
    const port = /-o (\S+)/.exec(d.rule)?.[1] ?? '?';
    const mac = e.fabricAccepts.map((r) => /-d ([0-9a-f:]{17})/.exec(r)?.[1]).find(Boolean);
    return `dropped at fabric port to ${port} (frame not addressed to the NIC's MAC${mac ? ` ${mac}` : ''}: the port passes only its own MAC and broadcast/multicast, as a NIC with promiscuous mode denied) [${d.packets} dropped by ebtables ${d.rule}]`;
  }
  if (jumpsToFallback(d.rule) || d.rule === FALLBACK_DROP) {
    const c = e.dstChain;
    const why = c && !c.sameNetAccept ? ` (allow_same_net_traffic is off: ${c.name} has no "-s ${e.cidr} -j ACCEPT", and no security group rule matches)` : ' (no security group rule matches)';
    return `dropped on ${d.where} by ${FALLBACK_CHAIN}: no rule of ${c?.name ?? 'the instance chain'} accepts it${why} [${d.packets} packets: ${d.rule}]`;
  }
  if (d.rule.startsWith('libvirt-I-')) {
    const what = /--arp-ip-src|--ip-src/.test(d.rule) ? 'a source address that is not its own' : /--arp-mac-src| -s /.test(` ${d.rule}`) ? 'a source MAC that is not its own' : 'a frame nova-base does not allow';
    return `dropped on ${d.where} by libvirt's nwfilter on ${d.rule.split(' ')[0]!.slice('libvirt-I-'.length)} (nova-base: the guest sent ${what}) [${d.packets} dropped by ebtables ${d.rule}]`;
  }
  return `dropped on ${d.where} by iptables rule "${d.rule}" [${d.packets} packets]`;
}

/** The reason packets seen at `a` were not seen at `b`. */
export function explainGap(e: Evidence, a: Hop, b: Hop, what: string): string {
  // 1. a rule that dropped packets meanwhile, where the gap is
  const where = a.kind === 'fabric' && b.kind === 'fabric' ? 'fabric' : (b.node ?? a.node);
  const touchesFabric = a.kind === 'fabric' || b.kind === 'fabric';
  const drop = e.drops.find((d) => d.where === where) ?? (touchesFabric ? e.drops.find((d) => d.where === 'fabric') : e.drops.find((d) => d.where !== 'fabric'));
  if (drop) return describeDrop(drop, e);
  // 2. between two machines: in the VXLAN that joins their shares of the fabric
  if (a.across && b.across) {
    return `the ${what} left engine ${a.across.from} on ${a.iface} (VNI ${a.across.vni}) and never arrived on engine ${b.across.to}: lost on the underlay between the engines (no flood entry or learnt address for the other machine, the underlay's route, firewall or MTU), not in anything nova built`;
  }
  // 3. a node whose uplink is down, or not a bridge port
  const down = [a.node, b.node].find((x) => x && e.nodes[x]?.uplinkUp === false);
  if (down && [a.kind, b.kind].some((k) => k === 'uplink' || k === 'fabric')) {
    // a veth whose peer is down has no carrier: the fabric's port to that node forwards nothing either
    return `${down}'s ${e.nodes[down]!.uplink ?? e.flatInterface} is down: enslaved to ${e.bridge} but never brought up (before Havana nova's ensure_bridge did not bring flat_interface up, and no stanza of the node's OS did), so nothing crosses it`;
  }
  const node = [a.node, b.node].find((x) => x && e.nodes[x]?.uplinkMaster !== e.bridge);
  if (node && (a.kind === 'uplink' || b.kind === 'uplink')) {
    return `${node}'s ${e.nodes[node]!.uplink ?? e.flatInterface} is not enslaved to ${e.bridge}: frames between its guests and the fabric never cross the bridge`;
  }
  // 4. the answer to a guest routed out by a one-NIC node, undone at that node's bridge
  // and owed back out of the port it came in by (plan/expect.ts answerHairpins)
  const h = e.flow.hairpin;
  if (what === 'reply' && h && e.nodes[h.node]?.bridgeNf !== false) {
    return `the answer came into ${h.node}'s ${h.bridge} through ${h.port}; net.bridge.bridge-nf-call-iptables=1 there undoes the SNAT at the bridge and bridges it on to ${e.flow.from}, whose MAC lives behind ${h.port} too: a bridge never sends a frame back out of its ingress port, so ${h.node}'s ${h.bridge} drops it (nova set no hairpin mode on flat_interface and left the sysctl to the distribution; with it 0 the answer is routed)`;
  }
  // 5. a node that does not route
  if (b.kind === 'public' || (a.node && a.node === e.flow.via && b.kind !== 'tap' && b.kind !== 'guest')) {
    const via = e.flow.via;
    if (via && e.nodes[via] && !e.nodes[via]!.ipForward) return `${via} does not forward: net.ipv4.ip_forward=0 on a node that routes its guests out`;
  }
  return `the ${what} was lost between ${a.label} and ${b.label}; no counter or setting that flatlab reads explains it`;
}

/**
 * Why a SNAT rule rewrote nothing of a flow, read from the rule's own -s, -d and -o: a
 * source outside its range (nova built the range from the fixed_range option, not the
 * network: scenario/network.ts), a destination outside its -d, or an -o the routed
 * traffic does not leave through.
 */
export function snatMissReason(rule: string, src: string, dst: string): string {
  const parts = snatRuleParts(rule);
  const holds = (cidr: string, ip: string): boolean => {
    const c = parseCidr(cidr);
    return typeof c !== 'string' && cidrContains(c, ip);
  };
  if (parts.source && !holds(parts.source, src)) return ` (its -s ${parts.source} does not hold ${src}: nova built it from the fixed_range option, not from the network)`;
  if (parts.destination && !holds(parts.destination, dst)) return ` (its -d ${parts.destination} does not hold ${dst})`;
  if (parts.out) return ` (routed traffic does not leave through ${parts.out})`;
  return '';
}
