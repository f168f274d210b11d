/**
 * The symptom of a run as an operator would describe it ("same node works, across nodes
 * ARP but no ping"), classified from observations alone. Pure. A bug scenario's
 * variants show which candidate fault produces which symptom.
 */
import type { Plan } from '../plan/types.js';
import type { EgressResult, Observations, ReachResult } from './types.js';

export type SymptomCode = 'healthy' | 'no-lease' | 'no-address' | 'foreign-gateway' | 'same-node-blocked' | 'cross-node-arp-no-ping' | 'cross-node-no-arp' | 'no-way-out' | 'floating-no-answer';

export interface Symptom {
  code: SymptomCode;
  text: string;
  /**
   * every observation behind it is what the scenario expects (an isolation variant's
   * dropped pairs, a bug scenario's reproduced failure): reported as expected, not as a
   * symptom of something wrong
   */
  expected: boolean;
}

export function classifySymptoms(plan: Plan, obs: Observations, reach: ReachResult[], egress: EgressResult[]): Symptom[] {
  const out: Symptom[] = [];
  const node = new Map(plan.vms.map((v) => [v.name, v.node]));
  const addressed = (vm: string): boolean => (obs.vms[vm]?.addresses.length ?? 0) > 0;
  // against what the network should do (the plan), not what a scenario asserts
  const served = (vm: string): boolean => ['dnsmasq', 'dhcp-server', 'injected'].includes(plan.expected.addressSources[vm]?.kind ?? 'none');
  const unleased = plan.vms.filter((v) => served(v.name) && !addressed(v.name));
  if (unleased.length) {
    const nodes = [...new Set(unleased.map((v) => v.node))];
    out.push({ code: 'no-lease', text: `no lease for ${unleased.map((v) => v.name).join(', ')} (on ${nodes.join(', ')})`, expected: unleased.every((v) => plan.expected.leases[v.name] === null) });
  }
  // guests nothing configures (FlatManager without a DHCP server or injection): bare, as nova left them
  const bare = plan.vms.filter((v) => !served(v.name) && !addressed(v.name));
  if (bare.length) out.push({ code: 'no-address', text: `no address for ${bare.map((v) => v.name).join(', ')}: nothing configures them (no DHCP server, no injection)`, expected: bare.every((v) => plan.expected.leases[v.name] === null) });
  const foreign = plan.vms.filter((v) => addressed(v.name) && v.gateway !== null && obs.vms[v.name]?.defaultGateway !== v.gateway);
  if (foreign.length) {
    out.push({
      code: 'foreign-gateway',
      text: `wrong gateway: ${foreign.map((v) => `${v.name} (on ${v.node}) uses ${obs.vms[v.name]?.defaultGateway ?? 'none'}, not ${v.gateway}`).join(', ')}`,
      expected: foreign.every((v) => plan.expected.gateways[v.name] !== undefined && (plan.expected.gateways[v.name] ?? null) === (obs.vms[v.name]?.defaultGateway ?? null)),
    });
  }
  // between guests only: a node's own probes (node:NAME) are not a guest pair
  const icmp = reach.filter((r) => r.proto === 'icmp' && r.from !== r.to && !r.from.startsWith('node:') && addressed(r.from) && addressed(r.to));
  const failed = icmp.filter((r) => r.observed !== 'reachable');
  const same = icmp.filter((r) => node.get(r.from) === node.get(r.to));
  const sameFailed = failed.filter((r) => node.get(r.from) === node.get(r.to));
  const crossFailed = failed.filter((r) => node.get(r.from) !== node.get(r.to));
  const asExpected = (rs: ReachResult[]): boolean => rs.every((r) => r.expected === r.observed);
  if (sameFailed.length) out.push({ code: 'same-node-blocked', text: `same node: ${sameFailed.length} of ${same.length} pairs get no answer`, expected: asExpected(sameFailed) });
  const dstIp = (vm: string): string => plan.vms.find((v) => v.name === vm)!.ip;
  const arpOk = crossFailed.filter((r) => obs.arpAfterProbes?.[r.from]?.[dstIp(r.to)] !== undefined);
  const noArp = crossFailed.filter((r) => obs.arpAfterProbes?.[r.from]?.[dstIp(r.to)] === undefined);
  // "same node fine" once, after the last thing said of the cross-node pairs
  const fine = (last: boolean): string => (last && !sameFailed.length && same.length > 0 ? '; same node fine' : '');
  if (arpOk.length) out.push({ code: 'cross-node-arp-no-ping', text: `across nodes: ARP resolves but no ping (${arpOk.length} pairs)${fine(noArp.length === 0)}`, expected: asExpected(arpOk) });
  if (noArp.length) out.push({ code: 'cross-node-no-arp', text: `across nodes: no ARP at all (${noArp.length} pairs)${fine(true)}`, expected: asExpected(noArp) });
  const lost = egress.filter((e) => e.observedSource === null);
  if (lost.length) out.push({ code: 'no-way-out', text: `no way out for ${lost.map((e) => e.vm).join(', ')} (via ${[...new Set(lost.map((e) => e.via))].join(', ')})`, expected: lost.every((e) => e.expectedSource === null) });
  // the reports' "can't ping the floating IP": the external host's probes that got no answer
  const floating = reach.filter((r) => r.from === 'external' && r.proto === 'icmp' && r.observed !== 'reachable');
  if (floating.length) out.push({ code: 'floating-no-answer', text: `no answer from outside to the floating address of ${floating.map((r) => `${r.to}${r.toIp ? ` (${r.toIp})` : ''}`).join(', ')}`, expected: asExpected(floating) });
  return out.length ? out : [{ code: 'healthy', text: 'healthy: every lease, every pair, every way out', expected: true }];
}

/**
 * The words of a run's symptoms: what differs from the scenario's expectation as the
 * "symptom", what the scenario expects apart ("as expected"), so that an isolation
 * variant's dropped pairs or a bug scenario's reproduced failure never read as a fault.
 */
export function symptomLines(symptoms: Symptom[]): { label: 'symptom' | 'as expected'; text: string }[] {
  const said = (xs: Symptom[]): string => xs.map((x) => x.text).join('; ');
  // results written before `expected` existed read as symptoms, as they were shown then
  const apart = symptoms.filter((x) => x.code !== 'healthy' && x.expected === true);
  const rest = symptoms.filter((x) => !apart.includes(x));
  return [
    ...(rest.length ? [{ label: 'symptom' as const, text: said(rest) }] : []),
    ...(apart.length ? [{ label: 'as expected' as const, text: said(apart) }] : []),
  ];
}
