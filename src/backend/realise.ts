/**
 * The one realiser of a plan's topology (plan.wiring), for every backend. It decides the
 * order and what runs at once; a backend supplies only where each target lives and how a
 * batch of iproute2 lines or sysctls reaches it there (TopologyOps). The plan's wiring is
 * applied as planned, never rewritten: a backend that keeps a node somewhere else (a
 * container) makes the node's namespace name resolve to it.
 */
import type { Plan } from '../plan/types.js';

export interface TopologyOps {
  /** Makes every target of the plan exist, empty: namespaces, containers, namespaces inside containers. */
  createTargets(plan: Plan): Promise<void>;
  /** Runs iproute2 lines inside one target (one process). */
  batch(target: string, lines: string[]): Promise<void>;
  /** Sets sysctls in several targets at once (as few processes as the backend can). */
  setSysctls(entries: [target: string, values: Record<string, string>][]): Promise<void>;
  /**
   * Joins the fabric's shares on several machines into one segment (plan.span: VXLAN over
   * the underlay, whose addresses only the backend can learn). Absent: the backend
   * builds labs on one machine only.
   */
  joinFabric?(plan: Plan): Promise<void>;
}

/** The order every backend builds in; see WiringPlan for what each step holds. */
export async function realiseTopology(plan: Plan, ops: TopologyOps): Promise<void> {
  // 1. every namespace (and whatever holds it)
  await ops.createTargets(plan);
  // 2. their sysctls, before any link exists in them
  await ops.setSysctls(plan.wiring.namespaces.map((ns) => [ns, plan.wiring.sysctls]));
  // 3. the fabric bridge and each node's uplink (node end created inside the node), in
  // every share of the fabric at once when the lab spans engines
  await Promise.all([ops.batch(plan.fabric.netns, plan.wiring.fabric), ...Object.entries(plan.wiring.sites ?? {}).map(([ns, lines]) => ops.batch(ns, lines))]);
  // 4. every node and host at once: bridge, uplink into it, bridge address, VM veths;
  // beside them the shares of the fabric joined across machines
  const hosts = [plan.external, plan.dhcpServer].flatMap((h) => (h ? [h] : []));
  if (plan.span && !ops.joinFabric) throw new Error('this backend builds labs on one machine only (no --engine)');
  await Promise.all([
    ...(plan.span ? [ops.joinFabric!(plan)] : []),
    ...plan.nodes.map((n) => ops.batch(n.netns, plan.wiring.nodes[n.name] ?? [])),
    ...hosts.map((h) => ops.batch(h.netns, plan.wiring.hosts[h.name] ?? [])),
  ]);
  // 5. device sysctls, now that every device exists
  await ops.setSysctls(Object.entries(plan.wiring.deviceSysctls));
}
