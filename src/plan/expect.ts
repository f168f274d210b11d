/**
 * What a run should observe, derived from the scenario (the oracle), then overridden or
 * extended by its `expect:` block.
 */
import { NODE_SOURCE, type Scenario } from '../scenario/schema.js';
import { deriveProbes, judge, judgeFromNode, probePairs, type OracleInputs, type Probe } from './oracle.js';
import type { AddressSource, EgressExpectation, Expectations, NatPlan, NodePlan, ReachExpectation, ServicePlan } from './types.js';
import { cidrContains, isIpv4, parseCidr } from '../net/ipv4.js';
import { snatRules } from '../nova/iptables.js';

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
  const vmsOf = (name: string): string[] => (name in s.vms || NODE_SOURCE.test(name) ? [name] : o.vms.filter((v) => v.node === name).map((v) => v.name));
  const stated = (s.expect?.checks ?? []).flatMap((c) =>
    vmsOf(c.from).flatMap((from) => vmsOf(c.to).filter((to) => to !== from || (c.from === c.to && c.from in s.vms)).map((to) => ({ ...c, from, to }))),
  );
  const judgeAny = (probe: Probe): ReturnType<typeof judge> => {
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
  return { leases, addressSources, gateways, reach, egress, sampling: probePairs(o.vms).sampling };
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
    const hairpin = v && v.seen === nat!.myIp ? answerHairpins(node, vm.node, topo.bridgeNfOff ?? new Set()) : null;
    if (hairpin) out.push({ vm: vm.name, via: node.name, source: null, captured: v!.seen, reason: `${v!.reason}, but ${hairpin}` });
    else if (!v || v.seen === nat!.myIp) out.push({ vm: vm.name, via: node.name, source: node.public.ip, ...(v ? { reason: v.reason } : {}) });
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
