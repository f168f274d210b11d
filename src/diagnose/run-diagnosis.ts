/**
 * Diagnosing a flow on a running lab: short captures on every hop at once (tcpdump in
 * each namespace), the dropping rules' counters before and after (iptables in the nodes,
 * ebtables in the fabric), the source's neighbour entry and the settings that decide the
 * path; then the pure verdict. A few seconds per flow at most.
 */
import { EXTERNAL_SOURCE } from '../scenario/schema.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Backend } from '../backend/backend.js';
import { dropsBetween, readCounters } from '../checks/counters.js';
import type { EgressResult, Explains, Observations, ReachResult } from '../checks/types.js';
import { instanceChain, isSameNetAcceptLine } from '../nova/iptables.js';
import type { Plan } from '../plan/types.js';
import { flowCaptureFilter } from '../plan/captures.js';
import { summariseCapture, type Evidence } from './evidence.js';
import { captureHops, nodeFacts } from './capture-hops.js';
import { diagnoseLease, type DhcpTrace } from './run-dhcp.js';
import { egressFlow, flowLabel, vmFlow, type Flow } from './flow.js';
import { diagnose, type Diagnosis } from './verdict.js';

export interface FlowDiagnosis extends Diagnosis {
  /** the verdict it explains: a reach check's (its subject is the flow's label), or a VM's way out */
  explains: Explains;
  /** where the captures of this flow were saved */
  captures: string;
  evidence: Evidence;
}

async function neighbour(backend: Backend, target: string, ip: string): Promise<Evidence['neighbour']> {
  const r = await backend.exec(target, ['ip', '-j', 'neigh', 'show', ip]);
  try {
    const e = (JSON.parse(r.stdout || '[]') as { lladdr?: string; state?: string[] }[])[0];
    return e ? { state: (e.state ?? []).join(','), ...(e.lladdr ? { lladdr: e.lladdr } : {}) } : null;
  } catch {
    return null;
  }
}

export async function diagnoseFlow(backend: Backend, plan: Plan, flow: Flow, dir: string, expected?: Evidence['expected']): Promise<FlowDiagnosis> {
  const name = flowLabel(flow).replace(/[^\w.-]+/g, '_');
  const captures = join(dir, name);
  const nodes = [...new Set(flow.hops.flatMap((h) => (h.node ? [h.node] : [])).concat(flow.via ? [flow.via] : []))];
  const before = await readCounters(backend, plan, nodes);
  let probeOk = false;
  let probeEvidence = '';
  const src = plan.vms.find((v) => v.name === flow.from)!;
  const { texts, complete, unavailable } = await captureHops(backend, plan, flow.hops, flowCaptureFilter(flow.srcIp, flow.dstIp), name, captures, async () => {
    // forget what the source knew of its next hop, so the captures see a fresh ARP
    // exchange rather than an entry still failing from the checks
    await backend.exec(src.netns, ['ip', 'neigh', 'flush', 'to', flow.nextHopIp]);
    // two attempts: the first may only resolve ARP
    for (let i = 0; i < 2 && !probeOk; i++) {
      const r = await backend.probe(src.netns, flow.dstIp, flow.proto, flow.port, 400);
      probeOk = r.observed === 'reachable';
      probeEvidence = r.evidence;
    }
  });
  const dst = plan.vms.find((v) => v.name === flow.to);
  const [after, neigh, facts, srcState, dstState] = await Promise.all([
    readCounters(backend, plan, nodes),
    neighbour(backend, src.netns, flow.nextHopIp),
    Promise.all(nodes.map(async (n) => [n, await nodeFacts(backend, plan, n)] as const)),
    backend.readVmState(src),
    dst ? backend.readVmState(dst) : Promise.resolve(null),
  ]);
  const dstChainName = dst ? instanceChain(dst) : undefined;
  // the way out: what the routing node's SNAT rule did meanwhile
  const via = flow.via ? plan.nodes.find((n) => n.name === flow.via) : undefined;
  const snatRule = via?.public ? [...(after.get(via.name)?.keys() ?? [])].find((r) => /-j SNAT --to-source/.test(r)) : undefined;
  const snat =
    via?.public && snatRule
      ? { node: via.name, rule: snatRule, packets: (after.get(via.name)?.get(snatRule) ?? 0) - (before.get(via.name)?.get(snatRule) ?? 0), myIp: via.public.ip }
      : undefined;
  const dstRules = dst ? [...(after.get(dst.node)?.keys() ?? [])] : [];
  const evidence: Evidence = {
    flow,
    ...(expected ? { expected } : {}),
    probeOk,
    probeEvidence,
    hops: flow.hops.map((h, i) => ({ ...summariseCapture(h.label, texts[i] ?? '', flow), ...(unavailable.has(i) ? { unavailable: unavailable.get(i)! } : {}) })),
    drops: dropsBetween(plan, before, after),
    fabricAccepts: [...(after.get('fabric')?.keys() ?? [])].filter((rule) => /-j ACCEPT/.test(rule)),
    neighbour: neigh,
    srcAddresses: srcState.addresses.map((a) => a.ip),
    dstAddresses: dstState ? dstState.addresses.map((a) => a.ip) : null,
    nodes: Object.fromEntries(facts),
    servedBy: Object.fromEntries(
      [flow.from, flow.to].flatMap((vm) => {
        const src = plan.expected.addressSources[vm];
        return src?.kind === 'dnsmasq' ? [[vm, src.node] as const] : [];
      }),
    ),
    cidr: plan.network.cidr,
    bridge: plan.network.bridge,
    flatInterface: plan.network.flatInterface,
    ...(snat ? { snat } : {}),
    ...(dst && dstChainName
      ? { dstChain: { name: dstChainName, node: dst.node, sameNetAccept: dstRules.some((l) => isSameNetAcceptLine(l, dstChainName, plan.network.cidr)) } }
      : {}),
  };
  const d = diagnose(evidence);
  await writeFile(join(captures, 'diagnosis.txt'), `${d.text}\n${complete ? '' : '(a capture did not catch up with its filter before it was stopped)\n'}`);
  const explains: Explains = flow.to === EXTERNAL_SOURCE ? { kind: 'egress', subject: flow.from } : { kind: 'reach', subject: flowLabel(flow) };
  return { ...d, explains, captures, evidence };
}

/**
 * Diagnoses the failed checks of a run: one representative flow per kind of failure
 * (source node, destination node, protocol), one after another so their captures do
 * not mix.
 */
export async function diagnoseFailures(
  backend: Backend,
  plan: Plan,
  reach: ReachResult[],
  egress: EgressResult[],
  dir: string,
  limit = 6,
  explain = false,
  observations?: Observations,
): Promise<(FlowDiagnosis | DhcpTrace)[]> {
  const node = (vm: string): string => plan.vms.find((v) => v.name === vm)?.node ?? '?';
  const flows = new Map<string, Flow>();
  const expectedOf = new Map<Flow, Evidence['expected']>();
  for (const r of reach) {
    // explain: also the failures the scenario expects (a reproduced bug says why it fails)
    const traced = r.expected !== r.observed || (explain && r.observed !== 'reachable');
    // a node's own probe (node:NAME) and the external host's (to a floating address) have
    // no guest-to-guest path to trace; their verdicts say where they stopped (the counter of
    // the rule that dropped them)
    if (!traced || r.from === r.to || r.from.startsWith('node:') || r.from === EXTERNAL_SOURCE) continue;
    const key = `${node(r.from)}>${node(r.to)}/${r.proto}/${r.port ?? ''}/${r.observed}`;
    if (!flows.has(key)) {
      const f = vmFlow(plan, r.from, r.to, r.proto, r.port);
      flows.set(key, f);
      expectedOf.set(f, r.expected);
    }
  }
  for (const e of egress) {
    const traced = e.observedSource !== e.expectedSource || (explain && e.observedSource === null);
    if (!traced || !plan.external) continue;
    // expected a way out and got none (or another source): trace it
    const key = `${node(e.vm)}>external`;
    if (!flows.has(key)) flows.set(key, egressFlow(plan, e.vm));
  }
  const out: (FlowDiagnosis | DhcpTrace)[] = [];
  // a missing lease first: without an address nothing else can work, and its path is not a ping's
  // at most two nodes' worth: each trace is a DHCP exchange of a few seconds
  for (const vm of observations ? unleasedGuests(plan, observations, explain).slice(0, 2) : []) {
    const d = await diagnoseLease(backend, plan, vm, dir);
    if (d) out.push(d);
  }
  for (const f of [...flows.values()].slice(0, limit)) out.push(await diagnoseFlow(backend, plan, f, dir, expectedOf.get(f)));
  return out;
}

/**
 * The guests without the lease they should hold, one per node (a node's guests share a
 * path): each traced on its DHCP path to the dnsmasq that serves it.
 */
export function unleasedGuests(plan: Plan, observations: Observations, explain: boolean): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const vm of plan.vms) {
    const want = plan.expected.leases[vm.name];
    const has = (observations.vms[vm.name]?.addresses ?? []).some((a) => a.ip === vm.ip);
    // a lease expected and missing, or (explain) a guest the scenario expects bare, which nova's DHCP should have served
    const traced = (want !== null && want !== undefined && !has) || (explain && !has && plan.expected.addressSources[vm.name]?.kind === 'dnsmasq');
    if (!traced || seen.has(vm.node)) continue;
    seen.add(vm.node);
    out.push(vm.name);
  }
  return out;
}
