/**
 * What a run should observe, derived from the scenario (the oracle), then overridden or
 * extended by its `expect:` block.
 */
import type { Scenario } from '../scenario/schema.js';
import { deriveProbes, judge, probePairs, type OracleInputs, type Probe } from './oracle.js';
import type { AddressSource, EgressExpectation, Expectations, NodePlan, ReachExpectation, ServicePlan } from './types.js';

export interface Topology {
  nodes: NodePlan[];
  /** the single network host (multi_host false), if any */
  networkHost: string | null;
  /** FlatManager with an operator's DHCP server on the segment */
  dhcpServer: boolean;
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
  const vmsOf = (name: string): string[] => (name in s.vms ? [name] : o.vms.filter((v) => v.node === name).map((v) => v.name));
  const stated = (s.expect?.checks ?? []).flatMap((c) =>
    vmsOf(c.from).flatMap((from) => vmsOf(c.to).filter((to) => to !== from || (c.from === c.to && c.from in s.vms)).map((to) => ({ ...c, from, to }))),
  );
  for (const c of stated) {
    const probe: Probe = { from: c.from, to: c.to, proto: c.proto, ...(c.port !== undefined ? { port: c.port } : {}) };
    const oracle = c.from === c.to ? undefined : judge(o, probe);
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
 * multi_host, else the network host), whose SNAT rule rewrites the source to the
 * node's my_ip.
 */
function deriveEgress(o: OracleInputs, topo: Topology, unaddressed: Set<string>): EgressExpectation[] {
  if (!topo.nodes.some((n) => n.public)) return [];
  const out: EgressExpectation[] = [];
  for (const vm of o.vms) {
    if (unaddressed.has(vm.name)) continue;
    const via = o.network.multiHost ? vm.node : topo.networkHost;
    const node = topo.nodes.find((n) => n.name === via);
    if (!node?.public) continue;
    if (node.public.snatNeverMatches) {
      // public_interface = flat_interface: the SNAT rule's -o names a port of the bridge,
      // routed traffic leaves through the bridge itself, so the SYN gets out with the
      // guest's fixed address and the external host has no route back to it
      out.push({
        vm: vm.name,
        via: node.name,
        source: null,
        captured: vm.ip,
        reason: `nova-network-snat -o ${node.public.iface} never matches (${node.public.iface} is flat_interface, a port of ${o.network.bridge}): ${vm.name} leaves unSNATed as ${vm.ip} and no answer comes back`,
      });
    } else out.push({ vm: vm.name, via: node.name, source: node.public.ip });
  }
  return out;
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
