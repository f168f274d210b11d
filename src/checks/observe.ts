/** Gathers what the lab really holds: each VM's own network state and each node's lease log. */
import type { Backend, ProcessRecord } from '../backend/backend.js';
import type { Plan } from '../plan/types.js';
import { parseLeaseFile, parseLeaseLog } from './leases.js';
import type { LeaseEvent, Observations, VmObservation } from './types.js';

/** Parses the `key=value` lines the guest's DHCP client script writes. */
export function parseEnvFile(text: string | null): Record<string, string> | null {
  if (!text) return null;
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

export async function observeVm(backend: Backend, plan: Plan, vmName: string, client: ProcessRecord | undefined): Promise<VmObservation> {
  const vm = plan.vms.find((v) => v.name === vmName)!;
  // asked at once: a remote engine answers each kind in one exec per node, in parallel
  const [state, dhcp, bootLog, clientRunning, kernel] = await Promise.all([
    backend.readVmState(vm, client),
    backend.readFile(vm.netns, `${vm.dir}/dhcp.env`),
    backend.readFile(vm.netns, `${vm.dir}/boot.log`),
    client !== undefined && backend.isRunning(client),
    vm.machine && backend.guestKernel ? backend.guestKernel(vm.netns) : null,
  ]);
  return { vm: vm.name, ...state, dhcp: parseEnvFile(dhcp), bootLog, clientRunning, ...(kernel ? { kernel } : {}) };
}

export async function readLeaseEvents(backend: Backend, plan: Plan): Promise<LeaseEvent[]> {
  const logs = await Promise.all(
    plan.nodes.map(async (n) => (n.dhcp ? parseLeaseLog(n.name, (await backend.readFile(n.netns, n.dhcp.leaseLog)) ?? '') : [])),
  );
  return logs.flat();
}

export async function observe(backend: Backend, plan: Plan, clients: Record<string, ProcessRecord>): Promise<Observations> {
  const ds = plan.dhcpServer;
  const [vms, leaseEvents, serverLeases, hosts] = await Promise.all([
    Promise.all(plan.vms.map((v) => observeVm(backend, plan, v.name, clients[v.name]))),
    readLeaseEvents(backend, plan),
    ds ? backend.readFile(ds.netns, ds.leaseFile).then((t) => parseLeaseFile(t ?? '')) : Promise.resolve(null),
    Promise.all(plan.nodes.flatMap((n) => (n.dhcp ? [backend.readFile(n.netns, n.dhcp.hostsFile).then((t) => [n.name, t ?? ''] as const)] : []))),
  ]);
  return { vms: Object.fromEntries(vms.map((v) => [v.vm, v])), leaseEvents, serverLeases, hostsFiles: Object.fromEntries(hosts) };
}
