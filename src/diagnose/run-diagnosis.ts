/**
 * Diagnosing a flow on a running lab: short captures on every hop at once (tcpdump in
 * each namespace), the dropping rules' counters before and after (iptables in the nodes,
 * ebtables in the fabric), the source's neighbour entry and the settings that decide the
 * path; then the pure verdict. A few seconds per flow at most.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Backend, ProcessRecord } from '../backend/backend.js';
import type { EgressResult, ReachResult } from '../checks/types.js';
import type { Plan } from '../plan/types.js';
import { pollUntil } from '../run/wait.js';
import {
  droppedBetween,
  parseEbtablesCounters,
  parseIptablesCounters,
  summariseCapture,
  type DropCount,
  type Evidence,
  type NodeFacts,
} from './evidence.js';
import { egressFlow, flowLabel, vmFlow, type Flow } from './flow.js';
import { diagnose, type Diagnosis } from './verdict.js';
import { parseIpJsonBatch } from '../backend/vm-state.js';

export interface FlowDiagnosis extends Diagnosis {
  /** where the captures of this flow were saved */
  captures: string;
  evidence: Evidence;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function counters(backend: Backend, plan: Plan, nodes: string[]): Promise<Map<string, Map<string, number>>> {
  const out = new Map<string, Map<string, number>>();
  await Promise.all([
    ...nodes.map(async (name) => {
      const n = plan.nodes.find((x) => x.name === name)!;
      const r = await backend.exec(n.netns, ['iptables-save', '-c']);
      out.set(name, parseIptablesCounters(r.stdout));
    }),
    (async () => {
      const r = await backend.exec(plan.fabric.netns, ['ebtables', '-L', '--Lc']);
      out.set('fabric', parseEbtablesCounters(r.stdout));
    })(),
  ]);
  return out;
}

async function nodeFacts(backend: Backend, plan: Plan, name: string): Promise<NodeFacts> {
  const n = plan.nodes.find((x) => x.name === name)!;
  const [links, fwd] = await Promise.all([
    backend.exec(n.netns, ['ip', '-j', '-batch', '-'], { input: `link show dev ${n.uplink}\naddr show dev ${n.bridge}\n` }),
    backend.exec(n.netns, ['sysctl', '-n', 'net.ipv4.ip_forward']),
  ]);
  const [link, addr] = parseIpJsonBatch(links.stdout);
  const master = (link?.[0] as { master?: string } | undefined)?.master ?? null;
  const info = ((addr?.[0] as { addr_info?: { family: string; local: string }[] } | undefined)?.addr_info ?? []).filter((a) => a.family === 'inet');
  return { uplinkMaster: master, bridgeAddresses: info.map((a) => a.local), ipForward: fwd.stdout.trim() === '1' };
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

export async function diagnoseFlow(backend: Backend, plan: Plan, flow: Flow, dir: string): Promise<FlowDiagnosis> {
  const captures = join(dir, flowLabel(flow).replace(/[^\w.-]+/g, '_'));
  await mkdir(captures, { recursive: true });
  const nodes = [...new Set(flow.hops.flatMap((h) => (h.node ? [h.node] : [])).concat(flow.via ? [flow.via] : []))];
  const before = await counters(backend, plan, nodes);

  // one capture per hop, all at once; wait until each is listening
  const files = flow.hops.map((h, i) => join(captures, `${String(i + 1).padStart(2, '0')}-${h.label.replace(/[^\w.-]+/g, '_')}.txt`));
  const procs: ProcessRecord[] = await Promise.all(
    flow.hops.map((h, i) =>
      backend.startProcess(h.target, ['tcpdump', '-p', '-n', '-e', '-l', '-i', h.iface, `arp or host ${flow.dstIp} or host ${flow.srcIp}`], { logFile: files[i]!, role: 'capture' }),
    ),
  );
  let probeOk = false;
  let probeEvidence = '';
  const src = plan.vms.find((v) => v.name === flow.from)!;
  try {
    await Promise.all([
      pollUntil(async () => (await Promise.all(files.map((f, i) => backend.readFile(flow.hops[i]!.target, f)))).every((t) => t?.includes('listening on')), { timeoutMs: 2000 }),
      // forget what the source knew of its next hop, so the captures see a fresh ARP
      // exchange rather than an entry still failing from the checks
      backend.exec(src.netns, ['ip', 'neigh', 'flush', 'to', flow.nextHopIp]),
    ]);
    // two attempts: the first may only resolve ARP
    for (let i = 0; i < 2 && !probeOk; i++) {
      const r = await backend.probe(src.netns, flow.dstIp, flow.proto, flow.port, 400);
      probeOk = r.observed === 'reachable';
      probeEvidence = r.evidence;
    }
    await sleep(100);
  } finally {
    await backend.stopProcesses(procs);
  }
  const dst = plan.vms.find((v) => v.name === flow.to);
  const [after, texts, neigh, facts, srcState, dstState] = await Promise.all([
    counters(backend, plan, nodes),
    Promise.all(files.map((f, i) => backend.readFile(flow.hops[i]!.target, f))),
    neighbour(backend, src.netns, flow.nextHopIp),
    Promise.all(nodes.map(async (n) => [n, await nodeFacts(backend, plan, n)] as const)),
    backend.readVmState(src),
    dst ? backend.readVmState(dst) : Promise.resolve(null),
  ]);
  const drops: DropCount[] = [];
  for (const n of nodes) drops.push(...droppedBetween(before.get(n) ?? new Map(), after.get(n) ?? new Map(), plan.nodes.find((x) => x.name === n)!.netns, n));
  drops.push(...droppedBetween(before.get('fabric') ?? new Map(), after.get('fabric') ?? new Map(), plan.fabric.netns, 'fabric'));
  const dstChainName = dst ? `nova-compute-inst-${dst.instanceId}` : undefined;
  const dstRules = dst ? [...(after.get(dst.node)?.keys() ?? [])] : [];
  const evidence: Evidence = {
    flow,
    probeOk,
    probeEvidence,
    hops: flow.hops.map((h, i) => summariseCapture(h.label, texts[i] ?? '', flow)),
    drops,
    fabricAccepts: [...(after.get('fabric')?.keys() ?? [])].filter((rule) => /-j ACCEPT/.test(rule)),
    neighbour: neigh,
    srcAddresses: srcState.addresses.map((a) => a.ip),
    dstAddresses: dstState ? dstState.addresses.map((a) => a.ip) : null,
    nodes: Object.fromEntries(facts),
    cidr: plan.network.cidr,
    bridge: plan.network.bridge,
    flatInterface: plan.network.flatInterface,
    ...(dst && dstChainName
      ? { dstChain: { name: dstChainName, node: dst.node, sameNetAccept: dstRules.includes(`-A ${dstChainName} -s ${plan.network.cidr} -j ACCEPT`) } }
      : {}),
  };
  const d = diagnose(evidence);
  await writeFile(join(captures, 'diagnosis.txt'), `${d.text}\n`);
  return { ...d, captures, evidence };
}

/**
 * Diagnoses the failed checks of a run: one representative flow per kind of failure
 * (source node, destination node, protocol), one after another so their captures do
 * not mix.
 */
export async function diagnoseFailures(backend: Backend, plan: Plan, reach: ReachResult[], egress: EgressResult[], dir: string, limit = 6): Promise<FlowDiagnosis[]> {
  const node = (vm: string): string => plan.vms.find((v) => v.name === vm)?.node ?? '?';
  const flows = new Map<string, Flow>();
  for (const r of reach) {
    if (r.expected === r.observed || r.from === r.to) continue;
    const key = `${node(r.from)}>${node(r.to)}/${r.proto}/${r.port ?? ''}/${r.observed}`;
    if (!flows.has(key)) flows.set(key, vmFlow(plan, r.from, r.to, r.proto, r.port));
  }
  for (const e of egress) {
    if (e.observedSource === e.expectedSource || !plan.external) continue;
    // expected a way out and got none (or another source): trace it
    const key = `${node(e.vm)}>external`;
    if (!flows.has(key)) flows.set(key, egressFlow(plan, e.vm));
  }
  const out: FlowDiagnosis[] = [];
  for (const f of [...flows.values()].slice(0, limit)) out.push(await diagnoseFlow(backend, plan, f, dir));
  return out;
}
