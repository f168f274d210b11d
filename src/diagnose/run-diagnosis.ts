/**
 * Diagnosing a flow on a running lab: short captures on every hop at once (tcpdump in
 * each namespace), the dropping rules' counters before and after (iptables in the nodes,
 * ebtables in the fabric), the source's neighbour entry and the settings that decide the
 * path; then the pure verdict. A few seconds per flow at most.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Backend } from '../backend/backend.js';
import { finishCaptures, startCapture, type Capture } from '../checks/capture.js';
import { dropsBetween, readCounters } from '../checks/counters.js';
import type { EgressResult, ReachResult } from '../checks/types.js';
import { instanceChain, sameNetAcceptRule } from '../nova/iptables.js';
import type { Plan } from '../plan/types.js';
import { summariseCapture, type Evidence, type NodeFacts } from './evidence.js';
import { egressFlow, flowLabel, vmFlow, type Flow } from './flow.js';
import { diagnose, type Diagnosis } from './verdict.js';
import { parseIpJsonBatch } from '../backend/vm-state.js';

export interface FlowDiagnosis extends Diagnosis {
  /** where the captures of this flow were saved */
  captures: string;
  evidence: Evidence;
}

async function nodeFacts(backend: Backend, plan: Plan, name: string): Promise<NodeFacts> {
  const n = plan.nodes.find((x) => x.name === name)!;
  const [links, fwd, udp, log] = await Promise.all([
    backend.exec(n.netns, ['ip', '-j', '-batch', '-'], { input: `link show dev ${n.uplink}\naddr show dev ${n.bridge}\n` }),
    backend.exec(n.netns, ['sysctl', '-n', 'net.ipv4.ip_forward', 'net.bridge.bridge-nf-call-iptables']),
    n.dhcp ? backend.exec(n.netns, ['ss', '-H', '-uln', 'sport = :67']) : Promise.resolve(null),
    n.dhcp ? backend.readFile(n.netns, `${n.dhcp.dir}/dnsmasq.stderr`) : Promise.resolve(null),
  ]);
  const listening = udp ? udp.stdout.trim() !== '' : undefined;
  const dhcp = listening === undefined ? {} : { dhcpListening: listening, ...(listening ? {} : { dhcpLog: (log ?? '').trim().split('\n').pop() ?? '' }) };
  const [forwarding, bridgeNf] = fwd.stdout.trim().split('\n');
  const [link, addr] = parseIpJsonBatch(links.stdout);
  const l = link?.[0] as { master?: string; flags?: string[] } | undefined;
  const info = ((addr?.[0] as { addr_info?: { family: string; local: string }[] } | undefined)?.addr_info ?? []).filter((a) => a.family === 'inet');
  return { uplink: n.uplink, uplinkMaster: l?.master ?? null, uplinkUp: (l?.flags ?? []).includes('UP'), bridgeAddresses: info.map((a) => a.local), ipForward: forwarding === '1', bridgeNf: bridgeNf === '1', ...dhcp };
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
  // Captures are written where every target of every backend sees files (the run's
  // runtime dir, shared with containers), then copied beside the results.
  const work = join(plan.runtimeDir, 'diagnosis', `${name}-${Date.now().toString(36)}`);
  await Promise.all([mkdir(captures, { recursive: true }), mkdir(work, { recursive: true, mode: 0o755 })]);
  const nodes = [...new Set(flow.hops.flatMap((h) => (h.node ? [h.node] : [])).concat(flow.via ? [flow.via] : []))];
  const before = await readCounters(backend, plan, nodes);

  // one capture per hop, all at once, each ready once tcpdump says it is listening
  const files = flow.hops.map((h, i) => join(work, `${String(i + 1).padStart(2, '0')}-${h.label.replace(/[^\w.-]+/g, '_')}.txt`));
  const started = await Promise.allSettled(
    flow.hops.map((h, i) => startCapture(backend, h.target, h.iface, `arp or host ${flow.dstIp} or host ${flow.srcIp}`, files[i]!, { extra: ['-e'] })),
  );
  // a hop that cannot be captured (tcpdump refuses a device that is down) sees nothing:
  // that is evidence too, kept with the reason
  const caps = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const unavailable = new Map(started.flatMap((r, i) => (r.status === 'rejected' ? [[i, r.reason instanceof Error ? r.reason.message : String(r.reason)] as const] : [])));
  let probeOk = false;
  let probeEvidence = '';
  const src = plan.vms.find((v) => v.name === flow.from)!;
  let texts: string[];
  let complete: boolean;
  try {
    // forget what the source knew of its next hop, so the captures see a fresh ARP
    // exchange rather than an entry still failing from the checks
    await backend.exec(src.netns, ['ip', 'neigh', 'flush', 'to', flow.nextHopIp]);
    // two attempts: the first may only resolve ARP
    for (let i = 0; i < 2 && !probeOk; i++) {
      const r = await backend.probe(src.netns, flow.dstIp, flow.proto, flow.port, 400);
      probeOk = r.observed === 'reachable';
      probeEvidence = r.evidence;
    }
    // read every capture until it has printed all that its filter let through
    const finished = await finishCaptures(backend, caps as Capture[]);
    complete = finished.complete;
    // back in hop order, an empty text where no capture ran
    let k = 0;
    texts = flow.hops.map((_, i) => (unavailable.has(i) ? '' : (finished.texts[k++] ?? '')));
  } catch (err) {
    await backend.stopProcesses(caps.map((c) => c.proc));
    throw err;
  }
  await Promise.all(files.map((f, i) => writeFile(join(captures, basename(f)), unavailable.has(i) ? `no capture: ${unavailable.get(i)}\n` : (texts[i] ?? ''))));
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
    cidr: plan.network.cidr,
    bridge: plan.network.bridge,
    flatInterface: plan.network.flatInterface,
    ...(snat ? { snat } : {}),
    ...(dst && dstChainName
      ? { dstChain: { name: dstChainName, node: dst.node, sameNetAccept: dstRules.includes(sameNetAcceptRule(dstChainName, plan.network.cidr)) } }
      : {}),
  };
  const d = diagnose(evidence);
  await writeFile(join(captures, 'diagnosis.txt'), `${d.text}\n${complete ? '' : '(a capture did not catch up with its filter before it was stopped)\n'}`);
  return { ...d, captures, evidence };
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
): Promise<FlowDiagnosis[]> {
  const node = (vm: string): string => plan.vms.find((v) => v.name === vm)?.node ?? '?';
  const flows = new Map<string, Flow>();
  const expectedOf = new Map<Flow, Evidence['expected']>();
  for (const r of reach) {
    // explain: also the failures the scenario expects (a reproduced bug says why it fails)
    const traced = r.expected !== r.observed || (explain && r.observed !== 'reachable');
    if (!traced || r.from === r.to) continue;
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
  const out: FlowDiagnosis[] = [];
  for (const f of [...flows.values()].slice(0, limit)) out.push(await diagnoseFlow(backend, plan, f, dir, expectedOf.get(f)));
  return out;
}
