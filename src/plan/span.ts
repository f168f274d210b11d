/**
 * A lab spread over several engines (machines): where each node runs, and how the flat
 * segment stays one broadcast domain across them. Pure: engine names in, plain data out;
 * the underlay's addresses are learnt by the backend when it builds (vxlanCommands).
 *
 * The segment: the first engine's share of the fabric is the plan's fabric namespace
 * (on this machine, with the external host and an operator's DHCP server); every other
 * engine gets a fabric namespace of its own holding the same bridges and its nodes'
 * ports. The shares are joined by kernel VXLAN, one device per bridge in each share:
 * learning on, and a static flood list (an all-zeros FDB entry per other machine) so
 * broadcast (ARP, DHCP) reaches every node, as containerlab's vxlan links and an
 * operator's multicast-free VXLAN underlay do. nova never did this: its flat segment
 * was a physical switch (nova-network.md §1); VXLAN here stands for the cables between
 * machines and must be as transparent as they were (same MTU, every frame, no filter).
 */
import type { SpanPlan } from './types.js';
import { netnsName, runPrefix } from './names.js';

/** IANA's VXLAN port (RFC 7348); Linux's own default is 8472. */
export const VXLAN_PORT = 4789;
/** outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14) */
export const VXLAN_OVERHEAD = 50;
/** the segment's MTU as nova's nodes had it (network_device_mtu unset) */
export const SEGMENT_MTU = 1500;

/**
 * Places nodes on engines: a placement the scenario gives, else the engine with the
 * fewest nodes so far (the first of them on a tie), in the scenario's node order, so
 * the same scenario and engines always give the same placement.
 */
export function placeNodes(nodes: string[], engines: string[], explicit: Record<string, string> = {}): Record<string, string> {
  const count = new Map(engines.map((e) => [e, 0]));
  const out: Record<string, string> = {};
  for (const n of nodes) {
    const e = explicit[n];
    if (e !== undefined && count.has(e)) {
      out[n] = e;
      count.set(e, count.get(e)! + 1);
    }
  }
  for (const n of nodes) {
    if (out[n] !== undefined) continue;
    let best = engines[0]!;
    for (const e of engines) if (count.get(e)! < count.get(best)!) best = e;
    out[n] = best;
    count.set(best, count.get(best)! + 1);
  }
  return out;
}

/**
 * One VNI per run, from its id (6 hex digits, unique among the machine's live runs), so
 * two labs across the same engines never share a segment; the public segment, when
 * there is one, takes the id's other half of the 24-bit space.
 */
export function vniFor(runId: string, segment: 0 | 1): number {
  const id = parseInt(runId, 16) & 0x7fffff;
  return (segment === 0 ? id : id | 0x800000) || 1;
}

/** The span of a lab over engines, or null when it runs on one. */
export function planSpan(runId: string, nodes: string[], fabric: { bridge: string; publicBridge: string | null }, engines: string[], explicit: Record<string, string> = {}): SpanPlan | null {
  if (engines.length < 2) return null;
  const placement = placeNodes(nodes, engines, explicit);
  const bridges = [fabric.bridge, ...(fabric.publicBridge ? [fabric.publicBridge] : [])];
  return {
    engines,
    placement,
    dstport: VXLAN_PORT,
    segments: bridges.map((bridge, i) => ({ bridge, vni: vniFor(runId, i as 0 | 1), dev: `vx${runId}${i === 0 ? '' : 'p'}` })),
    sites: engines.slice(1).map((engine) => ({ engine, netns: netnsName(runPrefix(runId), `fabric-${engine}`), nodes: nodes.filter((n) => placement[n] === engine) })),
  };
}

/** One machine's end of a segment, as the backend found its underlay. */
export interface VtepEnd {
  /** its underlay address: the VXLAN's local address and the others' flood target */
  address: string;
  /** the MTU of its underlay device */
  underlayMtu: number;
}

/** The iproute2 and bridge commands that join one fabric share to the others, for one segment. */
export interface VxlanCommands {
  /** in the machine's underlay namespace: create the device (its UDP socket stays there) and move it into the share */
  underlay: string[];
  /** in the fabric share: MTU, into the bridge, up */
  fabric: string[];
  /** in the fabric share: the static flood list (`bridge fdb append` argv, without `bridge`) */
  fdb: string[][];
  /** the MTU the device carries; below SEGMENT_MTU frames larger than it are lost between machines */
  mtu: number;
}

/**
 * The commands for one share of one segment. The device is created in the underlay's
 * namespace and then moved (`link set ... netns`): a VXLAN device keeps its socket where
 * it was made, so the fabric namespace needs no address, route or link of the underlay.
 */
export function vxlanCommands(seg: SpanPlan['segments'][number], dstport: number, self: VtepEnd, others: VtepEnd[], fabricNetns: string): VxlanCommands {
  const mtu = Math.min(SEGMENT_MTU, self.underlayMtu - VXLAN_OVERHEAD, ...others.map((o) => o.underlayMtu - VXLAN_OVERHEAD));
  return {
    underlay: [`link add name ${seg.dev} type vxlan id ${seg.vni} local ${self.address} dstport ${dstport} learning`, `link set dev ${seg.dev} netns ${fabricNetns}`],
    fabric: [`link set dev ${seg.dev} mtu ${mtu} master ${seg.bridge} up`],
    fdb: others.map((o) => ['fdb', 'append', '00:00:00:00:00:00', 'dev', seg.dev, 'dst', o.address]),
    mtu,
  };
}

/** The namespace holding a node's fabric port: its engine's share, or the plan's fabric. */
export function fabricNetnsOf(span: SpanPlan | null | undefined, fabricNetns: string, node: string): string {
  const site = span?.sites.find((s) => s.nodes.includes(node));
  return site ? site.netns : fabricNetns;
}

/** Every fabric namespace of a plan: its own, then each engine's share. */
export function fabricNamespaces(p: { fabric: { netns: string }; span?: SpanPlan | null }): string[] {
  return [p.fabric.netns, ...(p.span?.sites.map((s) => s.netns) ?? [])];
}
