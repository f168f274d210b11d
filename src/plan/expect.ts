/**
 * What a run should observe, derived from the scenario (the oracle), then overridden or
 * extended by its `expect:` block.
 */
import type { Scenario } from '../scenario/schema.js';
import { deriveProbes, judge, type OracleInputs, type Probe } from './oracle.js';
import type { Expectations, ReachExpectation, ServicePlan } from './types.js';

const probeKey = (r: Probe): string => `${r.from}>${r.to}/${r.proto}${r.port !== undefined ? `/${r.port}` : ''}`;

export function deriveExpectations(s: Scenario, o: OracleInputs): Expectations {
  const leases: Record<string, string> = {};
  const gateways: Record<string, string | null> = {};
  for (const vm of o.vms) {
    leases[vm.name] = vm.ip;
    gateways[vm.name] = vm.gateway;
  }
  Object.assign(leases, s.expect?.leases ?? {});
  Object.assign(gateways, s.expect?.gateways ?? {});

  const reach: ReachExpectation[] = deriveProbes(o).map((p) => {
    const v = judge(o, p);
    return { ...p, expect: v.expect, source: 'derived', reason: v.reason };
  });
  const index = new Map(reach.map((r, i) => [probeKey(r), i]));
  for (const c of s.expect?.checks ?? []) {
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
  return { leases, gateways, reach };
}

/** The tcp/udp sockets each VM must open: every port some probe targets at it. */
export function servicesFor(vm: string, reach: ReachExpectation[]): ServicePlan[] {
  const seen = new Map<string, ServicePlan>();
  for (const r of reach) {
    if (r.to === vm && r.proto !== 'icmp' && r.port !== undefined) seen.set(`${r.proto}/${r.port}`, { proto: r.proto, port: r.port });
  }
  return [...seen.values()];
}
