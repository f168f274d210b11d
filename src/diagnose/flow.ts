/**
 * The path a flow takes through the lab, hop by hop, as interfaces to capture on. Pure:
 * derived from the plan. Bridges are not capture points (a bridge device only sees what
 * is delivered to it, not what it forwards between its ports); the ports on both sides
 * of a bridge are, and a loss between them happened inside that bridge.
 */
import type { NodePlan, Plan, Protocol, VmPlan } from '../plan/types.js';

export interface Hop {
  /** `vm_1 eth0`, `compute2 vnet0`, `fabric port compute2` */
  label: string;
  target: string;
  iface: string;
  /** the node whose bridge or routing sits right after this hop, if any */
  node?: string;
  kind: 'guest' | 'tap' | 'uplink' | 'fabric' | 'public' | 'external';
  /** a VXLAN device of the fabric: the engines it joins and its VNI (a lab across engines) */
  across?: { from: string; to: string; vni: number };
}

export interface Flow {
  from: string;
  /** a VM, or `external` for the way out */
  to: string;
  proto: Protocol;
  port?: number;
  srcIp: string;
  /** the source guest's MAC: ARP answers meant for it are sent to it */
  srcMac: string;
  dstIp: string;
  /** the address the source must resolve by ARP: the destination, or its gateway */
  nextHopIp: string;
  /** the node that routes it out (egress) */
  via?: string;
  /** egress through another node with one NIC: the answer must leave that node's bridge by the port it came in by */
  hairpin?: { node: string; port: string; bridge: string };
  hops: Hop[];
}

/**
 * The guest's own NIC, captured inside it; none for a vm guest (no capture runs inside
 * one): its tap, the next hop, carries every frame its virtio NIC sends and receives.
 */
const guest = (vm: VmPlan): Hop[] => (vm.machine ? [] : [{ label: `${vm.name} ${vm.nic}`, target: vm.netns, iface: vm.nic, kind: 'guest' }]);
const tap = (vm: VmPlan, node: NodePlan): Hop => ({ label: `${node.name} ${vm.tap}`, target: node.netns, iface: vm.tap, node: node.name, kind: 'tap' });
const uplink = (node: NodePlan): Hop => ({ label: `${node.name} ${node.uplink}`, target: node.netns, iface: node.uplink, node: node.name, kind: 'uplink' });
/** a port of the fabric, in the share holding it (a node's engine's, when the lab spans engines) */
const fabricPort = (netns: string, port: string, node?: string): Hop => ({ label: `fabric port ${port}`, target: netns, iface: port, kind: 'fabric', ...(node ? { node } : {}) });

/**
 * Between two shares of the fabric on different engines (plan.span): the VXLAN device
 * in each, where a frame leaves one machine and arrives at the other. None within a share.
 */
function acrossEngines(plan: Plan, from: string, to: string, bridge: string): Hop[] {
  const span = plan.span;
  if (!span || from === to) return [];
  const seg = span.segments.find((g) => g.bridge === bridge);
  if (!seg) return [];
  const engineOf = (ns: string): string => (ns === plan.fabric.netns ? span.engines[0]! : span.sites.find((x) => x.netns === ns)!.engine);
  const across = { from: engineOf(from), to: engineOf(to), vni: seg.vni };
  return [
    { label: `VXLAN ${seg.dev} on engine ${across.from}`, target: from, iface: seg.dev, kind: 'fabric', across },
    { label: `VXLAN ${seg.dev} on engine ${across.to}`, target: to, iface: seg.dev, kind: 'fabric', across },
  ];
}

function nodeOf(plan: Plan, name: string): NodePlan {
  return plan.nodes.find((n) => n.name === name)!;
}

/** From one node's bridge to another's, across the fabric. */
function crossing(plan: Plan, a: NodePlan, b: NodePlan): Hop[] {
  return [uplink(a), fabricPort(a.fabricNetns, a.fabricPort, a.name), ...acrossEngines(plan, a.fabricNetns, b.fabricNetns, plan.fabric.bridge), fabricPort(b.fabricNetns, b.fabricPort, b.name), uplink(b)];
}

export function vmFlow(plan: Plan, from: string, to: string, proto: Protocol, port?: number): Flow {
  const src = plan.vms.find((v) => v.name === from)!;
  const dst = plan.vms.find((v) => v.name === to)!;
  const a = nodeOf(plan, src.node);
  const b = nodeOf(plan, dst.node);
  const hops = [...guest(src), tap(src, a), ...(a === b ? [] : crossing(plan, a, b)), tap(dst, b), ...guest(dst)];
  return { from, to, proto, ...(port !== undefined ? { port } : {}), srcIp: src.ip, srcMac: src.mac, dstIp: dst.ip, nextHopIp: dst.ip, hops };
}

/** A guest's way out: to its gateway node, routed (and SNATed) out, to the external host. */
export function egressFlow(plan: Plan, from: string): Flow {
  const ext = plan.external!;
  const src = plan.vms.find((v) => v.name === from)!;
  const e = plan.expected.egress.find((x) => x.vm === from);
  const a = nodeOf(plan, src.node);
  const via = nodeOf(plan, e?.via ?? src.node);
  const hops: Hop[] = [...guest(src), tap(src, a)];
  if (via !== a) hops.push(...crossing(plan, a, via));
  const pub = via.public!;
  if (pub.layout === 'two-nics') {
    hops.push({ label: `${via.name} ${pub.iface} (public)`, target: via.netns, iface: pub.iface, node: via.name, kind: 'public' }, fabricPort(via.fabricNetns, pub.fabricPort!));
  } else {
    hops.push({ ...uplink(via), label: `${via.name} ${via.uplink} (out)`, kind: 'public' }, fabricPort(via.fabricNetns, via.fabricPort, via.name));
  }
  // the external host is on the first engine's share: from another engine, across the VXLAN of its segment
  const extBridge = ext.segment === 'public' ? plan.fabric.publicBridge! : plan.fabric.bridge;
  hops.push(...acrossEngines(plan, via.fabricNetns, plan.fabric.netns, extBridge));
  hops.push(fabricPort(plan.fabric.netns, ext.fabricPort), { label: `external ${ext.nic}`, target: ext.netns, iface: ext.nic, kind: 'external' });
  const hairpin = via !== a && pub.layout === 'single-interface' ? { node: via.name, port: via.uplink, bridge: via.bridge } : undefined;
  return { from, to: 'external', proto: 'tcp', port: ext.echoPort, srcIp: src.ip, srcMac: src.mac, dstIp: ext.ip, nextHopIp: src.gateway ?? ext.ip, via: via.name, ...(hairpin ? { hairpin } : {}), hops };
}

export function flowLabel(f: Pick<Flow, 'from' | 'to' | 'proto' | 'port'>): string {
  return `${f.from} -> ${f.to} ${f.proto}${f.port !== undefined ? `/${f.port}` : ''}`;
}
