/**
 * What a run should observe, derived from the scenario, then overridden or extended by
 * its `expect:` block.
 */
import type { Scenario } from '../scenario/schema.js';
import type { Expectations, ReachExpectation, VmPlan } from './types.js';

/** Every ordered pair of distinct VMs. */
export function orderedPairs<T>(items: T[]): [T, T][] {
  const out: [T, T][] = [];
  for (const a of items) for (const b of items) if (a !== b) out.push([a, b]);
  return out;
}

/**
 * The oracle: every VM reaches every other. In a flat network all VMs share one L2
 * segment, and nothing in the foundation's wiring filters between them.
 */
export function deriveReach(vms: VmPlan[]): ReachExpectation[] {
  return orderedPairs(vms).map(([a, b]) => ({ from: a.name, to: b.name, proto: 'icmp', expect: 'reachable', source: 'derived' }));
}

export function deriveExpectations(s: Scenario, vms: VmPlan[]): Expectations {
  const leases: Record<string, string> = {};
  const gateways: Record<string, string | null> = {};
  for (const vm of vms) {
    leases[vm.name] = vm.ip;
    gateways[vm.name] = vm.gateway;
  }
  Object.assign(leases, s.expect?.leases ?? {});
  Object.assign(gateways, s.expect?.gateways ?? {});

  const reach = deriveReach(vms);
  const key = (r: { from: string; to: string; proto: string }): string => `${r.from}>${r.to}/${r.proto}`;
  const index = new Map(reach.map((r, i) => [key(r), i]));
  for (const c of s.expect?.checks ?? []) {
    const r: ReachExpectation = { from: c.from, to: c.to, proto: c.proto, expect: c.expect, source: 'scenario' };
    const at = index.get(key(r));
    if (at === undefined) {
      index.set(key(r), reach.length);
      reach.push(r);
    } else {
      reach[at] = r;
    }
  }
  return { leases, gateways, reach };
}
