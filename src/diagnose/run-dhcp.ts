/**
 * Tracing a missing lease on a running lab: captures on every hop of the guest's DHCP
 * path at once (diagnose/dhcp.ts), a fresh exchange started from the guest meanwhile
 * (busybox udhcpc with a script that configures nothing, so the guest's own client and
 * addresses are left as they are), the drop counters before and after, and what the
 * serving dnsmasq logged for the guest's MAC. A few seconds per guest.
 */
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import type { Backend } from '../backend/backend.js';
import { dropsBetween, readCounters } from '../checks/counters.js';
import type { Plan } from '../plan/types.js';
import type { Explains } from '../checks/types.js';
import { dhcpCaptureFilter, dhcpProbeArgv } from '../plan/captures.js';
import { dhcpPath, diagnoseDhcp, dnsmasqSaid, summariseDhcpCapture, type DhcpDiagnosis, type DhcpEvidence } from './dhcp.js';
import { captureHops, nodeFacts } from './capture-hops.js';

export interface DhcpTrace extends DhcpDiagnosis {
  /** the lease verdict it explains */
  explains: Explains;
  captures: string;
  evidence: DhcpEvidence;
}

/** Replays a guest's DHCP exchange while every hop of its path to its dnsmasq is captured, and says where it stopped. */
export async function diagnoseLease(backend: Backend, plan: Plan, vmName: string, dir: string): Promise<DhcpTrace | null> {
  const path = dhcpPath(plan, vmName);
  if (!path) return null;
  const vm = plan.vms.find((v) => v.name === vmName)!;
  const server = plan.nodes.find((n) => n.name === path.server)!;
  const nodes = [...new Set(path.hops.flatMap((h) => (h.node ? [h.node] : [])))];
  const name = `${vmName}_dhcp`;
  const captures = join(dir, name);
  const before = await readCounters(backend, plan, nodes);
  const { texts, unavailable } = await captureHops(backend, plan, path.hops, dhcpCaptureFilter(vm), name, captures, async () => {
    // bounded by udhcpc's own retries (-t 2 -T 1 -n); the exec timeout only guards a hang
    await backend.exec(vm.netns, dhcpProbeArgv(vm.nic), { timeoutMs: 15000 });
  });
  const [after, facts, state, log] = await Promise.all([
    readCounters(backend, plan, nodes),
    Promise.all(nodes.map(async (n) => [n, await nodeFacts(backend, plan, n)] as const)),
    backend.readVmState(vm),
    server.dhcp ? backend.readFile(server.netns, server.dhcp.logFile) : Promise.resolve(null),
  ]);
  const evidence: DhcpEvidence = {
    path,
    hops: path.hops.map((h, i) => ({ ...summariseDhcpCapture(h.label, texts[i] ?? '', vm.mac), ...(unavailable.has(i) ? { unavailable: unavailable.get(i)! } : {}) })),
    drops: dropsBetween(plan, before, after),
    fabricAccepts: [...(after.get('fabric')?.keys() ?? [])].filter((rule) => /-j ACCEPT/.test(rule)),
    nodes: Object.fromEntries(facts),
    log: dnsmasqSaid(log ?? '', vm.mac),
    leased: state.addresses.some((a) => a.ip === vm.ip),
    cidr: plan.network.cidr,
    bridge: plan.network.bridge,
    flatInterface: plan.network.flatInterface,
  };
  const d = diagnoseDhcp(evidence);
  await writeFile(join(captures, 'diagnosis.txt'), `${d.text}\n`);
  return { ...d, explains: { kind: 'lease', subject: vmName }, captures, evidence };
}
