/**
 * What a run should observe, derived from the scenario (the oracle), then overridden or
 * extended by its `expect:` block.
 */
import { EXTERNAL_SOURCE, NODE_SOURCE, type Scenario } from '../scenario/schema.js';
import { deriveProbes, judge, judgeFromExternal, judgeFromNode, probePairs, type OracleInputs, type Probe } from './oracle.js';
import type { AddressSource, EgressExpectation, Expectations, NatPlan, NodePlan, ReachExpectation, ServicePlan } from './types.js';
import { cidrContains, isIpv4, parseCidr } from '../net/ipv4.js';
import { floatingForwardRules, snatRules } from '../nova/iptables.js';
import { effectiveLease } from './dnsmasq.js';

export interface Topology {
  nodes: NodePlan[];
  /** the single network host (multi_host false), if any */
  networkHost: string | null;
  /** FlatManager with an operator's DHCP server on the segment */
  dhcpServer: boolean;
  /** the external host's address (the way out's destination), when there is one */
  externalHost?: string | null;
  /** nodes whose bridge-nf-call-iptables a fault turns off */
  bridgeNfOff?: Set<string>;
}

/**
 * The answer to a guest routed out by another node that has one NIC (its my_ip on the
 * bridge, the outside on the flat wire): it comes back into that node's bridge through
 * flat_interface, and with net.bridge.bridge-nf-call-iptables=1 br_netfilter undoes the
 * SNAT at the bridge (its PREROUTING) and bridges the frame on to the guest's MAC, which
 * lives behind flat_interface too: a bridge never sends a frame back out of the port it
 * came in by, so the answer is dropped there. nova set neither that sysctl nor hairpin
 * mode on flat_interface (ensure_bridge, 2012.1-2013.2). Measured in a lab: hairpin mode
 * on the port lets the bridged answer out (source MAC still the external host's), and
 * bridge-nf-call-iptables=0 lets it be routed. Returns why, or null.
 */
export function answerHairpins(via: NodePlan, vmNode: string, bridgeNfOff: Set<string>): string | null {
  if (!via.public || via.public.layout !== 'single-interface' || via.name === vmNode) return null;
  if (via.sysctls['net.bridge.bridge-nf-call-iptables'] !== '1' || bridgeNfOff.has(via.name)) return null;
  return (
    `the answer to ${via.public.ip} enters ${via.name}'s ${via.bridge} through ${via.uplink}, where net.bridge.bridge-nf-call-iptables=1 undoes the SNAT at the bridge ` +
    `and bridges it on to the guest behind ${via.uplink}, the port it came in by: a bridge never sends a frame back out of its ingress port, so no answer comes back ` +
    `(one NIC on the network host: nova set no hairpin mode on flat_interface and left the sysctl to the distribution)`
  );
}

/** The node holding a VM's floating address, and the address. */
function floatingOf(topo: Topology, vm: string): { holder: NodePlan; ip: string } | null {
  for (const n of topo.nodes) {
    const f = n.floating.find((x) => x.vm === vm);
    if (f) return { holder: n, ip: f.ip };
  }
  return null;
}

/** A check from the external host is sent to the VM's floating address. */
function floatingTarget(topo: Topology, vm: string): { toIp: string } | Record<string, never> {
  const f = floatingOf(topo, vm);
  return f ? { toIp: f.ip } : {};
}

/** The derived checks from outside: an echo request to each floating address. */
function floatingProbes(o: OracleInputs, topo: Topology): Probe[] {
  return o.vms.filter((v) => floatingOf(topo, v.name)).map((v) => ({ from: EXTERNAL_SOURCE, to: v.name, proto: 'icmp' as const }));
}

function judgeExternal(o: OracleInputs, topo: Topology, probe: Probe): ReturnType<typeof judge> {
  const f = floatingOf(topo, probe.to);
  const vm = o.vms.find((v) => v.name === probe.to)!;
  if (!f) return { expect: 'unreachable', reason: `${probe.to} has no floating address: the external host has no route to ${o.network.cidr}` };
  // one NIC on the holder: the DNAT happens at its bridge (br_netfilter), which then
  // bridges the request on towards a guest behind flat_interface, the port it came in by
  const hairpin = answerHairpins(f.holder, vm.node, topo.bridgeNfOff ?? new Set());
  const blocked = hairpin
    ? `the request enters ${f.holder.name}'s ${f.holder.bridge} through ${f.holder.uplink}, where net.bridge.bridge-nf-call-iptables=1 DNATs it at the bridge and bridges it on to ${vm.name} behind ${f.holder.uplink}, the port it came in by: a bridge never sends a frame back out of its ingress port (nova set no hairpin mode on flat_interface)`
    : null;
  return judgeFromExternal(o, { ip: topo.externalHost ?? '', floating: f.ip, holder: f.holder.name, blocked }, probe);
}

const probeKey = (r: Probe): string => `${r.from}>${r.to}/${r.proto}${r.port !== undefined ? `/${r.port}` : ''}`;

/** Who gives a VM its address under the scenario's manager. */
function addressSource(vmNode: string, o: OracleInputs, topo: Topology): AddressSource {
  if (o.network.manager === 'FlatDHCPManager') {
    return { kind: 'dnsmasq', node: o.network.multiHost ? vmNode : topo.networkHost! };
  }
  if (o.network.injected) return { kind: 'injected' };
  return topo.dhcpServer ? { kind: 'dhcp-server' } : { kind: 'none' };
}

export function deriveExpectations(s: Scenario, oracle: OracleInputs, topo: Topology): Expectations {
  const leases: Record<string, string | null> = {};
  const addressSources: Record<string, AddressSource> = {};
  const gateways: Record<string, string | null> = {};
  const unaddressed = new Set<string>();
  for (const vm of oracle.vms) {
    const source = addressSource(vm.node, oracle, topo);
    addressSources[vm.name] = source;
    leases[vm.name] = source.kind === 'none' ? null : vm.ip;
    gateways[vm.name] = source.kind === 'none' ? null : vm.gateway;
    if (source.kind === 'none') unaddressed.add(vm.name);
  }
  const o: OracleInputs = { ...oracle, unaddressed };
  const noneToNull = (v: string): string | null => (v === 'none' ? null : v);
  for (const [vm, node] of Object.entries(s.expect?.leased_by ?? {})) {
    if (addressSources[vm]?.kind === 'dnsmasq') addressSources[vm] = { kind: 'dnsmasq', node };
  }
  for (const [vm, ip] of Object.entries(s.expect?.leases ?? {})) leases[vm] = noneToNull(ip);
  for (const [vm, ip] of Object.entries(s.expect?.gateways ?? {})) gateways[vm] = noneToNull(ip);

  const reach: ReachExpectation[] = deriveProbes(o).map((p) => {
    const v = judge(o, p);
    return { ...p, expect: v.expect, source: 'derived', reason: v.reason };
  });
  const index = new Map(reach.map((r, i) => [probeKey(r), i]));
  // a node in a check stands for each of its VMs
  // `node:NAME` stays one source: the node's own stack
  const vmsOf = (name: string): string[] => (name in s.vms || NODE_SOURCE.test(name) || name === EXTERNAL_SOURCE ? [name] : o.vms.filter((v) => v.node === name).map((v) => v.name));
  const stated = (s.expect?.checks ?? []).flatMap((c) =>
    vmsOf(c.from).flatMap((from) => vmsOf(c.to).filter((to) => to !== from || (c.from === c.to && c.from in s.vms)).map((to) => ({ ...c, from, to }))),
  );
  // the external host to each floating address (nova floating-ip-associate): derived, icmp
  for (const p of floatingProbes(o, topo)) {
    const v = judgeExternal(o, topo, p);
    reach.push({ ...p, ...floatingTarget(topo, p.to), expect: v.expect, source: 'derived', reason: v.reason });
    index.set(probeKey(p), reach.length - 1);
  }
  const judgeAny = (probe: Probe): ReturnType<typeof judge> => {
    if (probe.from === EXTERNAL_SOURCE) return judgeExternal(o, topo, probe);
    const node = NODE_SOURCE.exec(probe.from)?.[1];
    if (node === undefined) return judge(o, probe);
    const n = topo.nodes.find((x) => x.name === node)!;
    return judgeFromNode(o, { name: n.name, bridgeIp: n.bridgeIp }, probe);
  };
  for (const c of stated) {
    const probe: Probe = { from: c.from, to: c.to, proto: c.proto, ...(c.port !== undefined ? { port: c.port } : {}) };
    const oracle = c.from === c.to ? undefined : judgeAny(probe);
    const r: ReachExpectation = {
      ...probe,
      ...(c.from === EXTERNAL_SOURCE ? floatingTarget(topo, c.to) : {}),
      expect: c.expect,
      source: 'scenario',
      reason: `stated in expect.checks${oracle ? ` (the oracle says ${oracle.expect}: ${oracle.reason})` : ''}`,
    };
    const at = index.get(probeKey(r));
    if (at === undefined) {
      index.set(probeKey(r), reach.length);
      reach.push(r);
    } else {
      reach[at] = r;
    }
  }
  const egress = deriveEgress(o, topo, unaddressed).map((e) => {
    const stated = s.expect?.egress?.[e.vm];
    return stated === undefined ? e : { ...e, source: noneToNull(stated) };
  });
  // expect.renewals: the guests nova's dnsmasq serves and should hold a lease
  const renewals = s.expect?.renewals
    ? { vms: o.vms.filter((v) => addressSources[v.name]?.kind === 'dnsmasq' && leases[v.name] !== null).map((v) => v.name), leaseSeconds: effectiveLease(o.network.leaseTime) }
    : undefined;
  return { leases, addressSources, gateways, reach, egress, sampling: probePairs(o.vms).sampling, ...(renewals ? { renewals } : {}) };
}

/**
 * The way out: each addressed VM leaves through its gateway node (its own with
 * multi_host, else the network host), whose nat table decides the source the external
 * host sees (natVerdict).
 */
function deriveEgress(o: OracleInputs, topo: Topology, unaddressed: Set<string>): EgressExpectation[] {
  if (!topo.nodes.some((n) => n.public)) return [];
  const out: EgressExpectation[] = [];
  for (const vm of o.vms) {
    if (unaddressed.has(vm.name)) continue;
    const via = o.network.multiHost ? vm.node : topo.networkHost;
    const node = topo.nodes.find((n) => n.name === via);
    if (!node?.public) continue;
    const nat = node.firewallInputs.nat;
    const v = nat ? natVerdict(nat, vm.ip, topo.externalHost ?? '', node.public.snatNeverMatches === true, o.network.bridge) : null;
    // answers come back to the node's my_ip, or to a floating address it holds
    const comesBack = v !== null && (v.seen === nat!.myIp || nat!.floating.some((f) => f.ip === v.seen));
    const hairpin = comesBack ? answerHairpins(node, vm.node, topo.bridgeNfOff ?? new Set()) : null;
    if (hairpin) out.push({ vm: vm.name, via: node.name, source: null, captured: v!.seen, reason: `${v!.reason}, but ${hairpin}` });
    else if (!v || comesBack) out.push({ vm: vm.name, via: node.name, source: v ? v.seen : node.public.ip, ...(v ? { reason: v.reason } : {}) });
    // the SYN gets out as `seen` (unSNATed, or as a routing_source_ip that is not the
    // node's my_ip) and the external host's answer never comes back to the guest
    else out.push({ vm: vm.name, via: node.name, source: null, captured: v.seen, reason: v.reason });
  }
  return out;
}

/**
 * What nova-network's nat table does to a guest's connection to `dst`, walked as the
 * kernel walks it: nova-network-POSTROUTING's accepts (metadata_host, dmz_cidr, inside
 * the range) come before nova-postrouting-bottom -> nova-network-snat; a SNAT rule
 * matches when the source is in its -s range, the destination in its -d and the packet
 * leaves through its -o. Returns the source the external host sees and why.
 */
export function natVerdict(nat: NatPlan, src: string, dst: string, outNeverMatches: boolean, bridge: string): { seen: string; reason: string } {
  const inRange = cidrHolds(nat.range, src);
  const post = `nova-network-POSTROUTING -s ${nat.range}`;
  if (inRange && dst === nat.metadataHost) return { seen: src, reason: `${post} -d ${nat.metadataHost}/32 -j ACCEPT (metadata_host) exempts it from SNAT: it leaves as ${src} and no answer comes back` };
  const dmz = inRange ? nat.dmz.find((d) => cidrHolds(d, dst)) : undefined;
  if (dmz) return { seen: src, reason: `${post} -d ${dmz} -j ACCEPT (dmz_cidr) exempts it from SNAT: it leaves as ${src} and no answer comes back` };
  if (inRange && cidrHolds(nat.range, dst)) {
    return { seen: src, reason: `${post} -d ${nat.range} -j ACCEPT: the external host ${dst} lies in ${nat.range} (${nat.rangeFrom}), so nothing is SNATed: it leaves as ${src} and no answer comes back` };
  }
  // nova-network-snat jumps to nova-network-float-snat first: an instance with a floating
  // address leaves as that address (floating_forward_rules; Essex's rule names no -o)
  const float = nat.floating.find((f) => f.fixed === src);
  if (float) {
    const rule = floatingForwardRules(nat.floatingForm, float.ip, float.fixed, float.device).filter((r) => r.includes('-float-snat ')).pop()!;
    if (!(outNeverMatches && nat.floatingForm !== 'no-device')) return { seen: float.ip, reason: `"${rule}" rewrites it to its floating address ${float.ip}` };
  }
  const rules = snatRules(nat.range, nat.toSource, nat.outInterface, nat.destinations);
  if (!inRange) {
    return {
      seen: src,
      reason: `"${rules[0]}" matches nothing from ${src}: nova built it from ${nat.rangeFrom}, and the network's addresses lie outside ${nat.range}; the guest leaves unSNATed as ${src} and no answer comes back`,
    };
  }
  if (nat.destinations && !nat.destinations.some((d) => cidrHolds(d, dst))) {
    return { seen: src, reason: `no SNAT rule names ${dst} (-d ${nat.destinations.join(', ')}: force_snat_range): the guest leaves unSNATed as ${src} and no answer comes back` };
  }
  if (outNeverMatches && nat.outInterface) {
    return {
      seen: src,
      reason: `nova-network-snat -o ${nat.outInterface} never matches (${nat.outInterface} is flat_interface, a port of ${bridge}): the guest leaves unSNATed as ${src} and no answer comes back`,
    };
  }
  if (nat.toSource !== nat.myIp) {
    return { seen: nat.toSource, reason: `"${rules[0]}" rewrites it to routing_source_ip ${nat.toSource}, not the node's my_ip ${nat.myIp}: the answer goes to ${nat.toSource} and never comes back` };
  }
  return { seen: nat.toSource, reason: `"${rules[0]}" rewrites it to ${nat.toSource}` };
}

function cidrHolds(cidr: string, ip: string): boolean {
  const c = parseCidr(cidr);
  return typeof c !== 'string' && isIpv4(ip) && cidrContains(c, ip);
}

/** The tcp/udp sockets each VM must open: every port some probe targets at it. */
export function servicesFor(vm: string, reach: ReachExpectation[]): ServicePlan[] {
  const seen = new Map<string, ServicePlan>();
  for (const r of reach) {
    if (r.to === vm && r.proto !== 'icmp' && r.port !== undefined) seen.set(`${r.proto}/${r.port}`, { proto: r.proto, port: r.port });
  }
  return [...seen.values()];
}

/** `tcp/22` -> {proto: tcp, port: 22} (validated by the schema). */
export function parseService(text: string): ServicePlan {
  const [proto, port] = text.split('/') as ['tcp' | 'udp', string];
  return { proto, port: Number(port) };
}
