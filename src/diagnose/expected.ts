/**
 * What a live lab expects of the flow `diagnose` traces, so that tracing a drop the lab
 * was built to show (an isolation variant, a reproduced bug) is not reported as a
 * failure. Pure: read from the plan's expectations.
 */
import type { Plan, Protocol } from '../plan/types.js';

export interface FlowExpectation {
  /** true: the lab expects the flow to stop somewhere; false: to get through */
  stops: boolean;
  /** in words, with the oracle's (or the scenario's) reason */
  text: string;
}

/** The lab's expectation of a flow; null when the lab says nothing of it. */
export function expectationOf(plan: Plan, from: string, to: string, proto: Protocol = 'icmp', port?: number): FlowExpectation | null {
  if (to === 'dhcp') {
    if (!(from in plan.expected.leases)) return null;
    const ip = plan.expected.leases[from];
    return ip === null ? { stops: true, text: `${from} gets no lease` } : { stops: false, text: `${from} leases ${ip}` };
  }
  if (to === 'external') {
    const e = plan.expected.egress.find((x) => x.vm === from);
    if (!e) return null;
    const why = e.reason ? `: ${e.reason}` : '';
    return e.source === null ? { stops: true, text: `no way out for ${from}${why}` } : { stops: false, text: `${from} gets out as ${e.source}${why}` };
  }
  const r = plan.expected.reach.find((x) => x.from === from && x.to === to && x.proto === proto && (proto === 'icmp' || x.port === port));
  if (!r) return null;
  return { stops: r.expect !== 'reachable', text: `${from} -> ${to} ${proto}${port !== undefined ? `/${port}` : ''} ${r.expect}${r.reason ? `: ${r.reason}` : ''}` };
}

/**
 * diagnose's exit: 0 when what it traced is what the lab expects (a drop where one is
 * expected, a flow through where one is expected), 1 when it differs; without an
 * expectation, 1 for a problem found.
 */
export function diagnoseExit(problem: boolean, expectation: FlowExpectation | null): 0 | 1 {
  if (!expectation) return problem ? 1 : 0;
  return problem === expectation.stops ? 0 : 1;
}
