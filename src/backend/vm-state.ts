/** Reading a VM's network state from `ip -j -batch` output: shared by every backend. */
import type { VmPlan } from '../plan/types.js';
import { inSubnet } from '../net/ipv4.js';
import type { VmNetState } from './backend.js';
import { parseArp, parseLocalAddresses, parseRoutes, readArp, readLocalAddresses, readMac, readRoutes, type RouteEntry } from './procfs.js';

/** The batch to run in the VM's namespace, its output parsed by parseVmState. */
export function vmStateBatch(nic: string): string {
  return `addr show dev ${nic}\nroute show default\nneigh show dev ${nic}\n`;
}

/** The JSON arrays `ip -j -batch` prints, one line per command. */
export function parseIpJsonBatch(stdout: string): Record<string, unknown>[][] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('['))
    .map((l) => JSON.parse(l) as Record<string, unknown>[]);
}

export function parseVmState(stdout: string, nic: string): VmNetState {
  const [links, routes, neigh] = parseIpJsonBatch(stdout);
  const arp: Record<string, string> = {};
  const unresolved: string[] = [];
  for (const n of (neigh ?? []) as { dst?: string; lladdr?: string; state?: string[] }[]) {
    const failed = (n.state ?? []).some((x) => x === 'FAILED' || x === 'INCOMPLETE');
    if (n.dst && n.lladdr && !failed) arp[n.dst] = n.lladdr;
    else if (n.dst && failed) unresolved.push(n.dst);
  }
  const link = links?.[0] as { address?: string; addr_info?: { family: string; local: string; prefixlen: number }[] } | undefined;
  const def = (routes ?? []).find((x) => x.dst === 'default' && x.dev === nic) as { gateway?: string } | undefined;
  return {
    mac: link?.address ?? null,
    addresses: (link?.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => ({ ip: a.local, prefixLength: a.prefixlen })),
    defaultGateway: def?.gateway ?? null,
    arp,
    unresolved,
  };
}

/**
 * The same reading from /proc of a process living in the VM (its resident: the DHCP
 * client or init), with no process spawned: addresses from fib_trie, routes, the ARP
 * table, the NIC's MAC from the process's own sysfs (or as `mac` reads it).
 */
export async function vmStateFromProc(vm: Pick<VmPlan, 'nic'>, pid: number, mac?: () => Promise<string | null>): Promise<VmNetState> {
  const [nicMac, locals, routes, arp] = await Promise.all([mac ? mac() : readMac(pid, vm.nic), readLocalAddresses(pid), readRoutes(pid), readArp(pid)]);
  return vmStateOf(vm, nicMac, locals, routes, arp);
}

/** What a guest's own kernel says, the files its agent reads: the vmStateFromProc reading, from inside a vm guest. */
export const GUEST_STATE_FILES = (nic: string): string[] => [`/sys/class/net/${nic}/address`, '/proc/net/fib_trie', '/proc/net/route', '/proc/net/arp'];

/** The state from the texts of GUEST_STATE_FILES, in that order (null: not readable). */
export function vmStateFromTexts(vm: Pick<VmPlan, 'nic'>, [mac, fib, route, arp]: (string | null)[]): VmNetState {
  return vmStateOf(vm, mac?.trim() || null, fib ? parseLocalAddresses(fib) : null, route ? parseRoutes(route) : null, arp ? parseArp(arp) : null);
}

function vmStateOf(
  vm: Pick<VmPlan, 'nic'>,
  nicMac: string | null,
  locals: string[] | null,
  routes: RouteEntry[] | null,
  arp: { arp: Record<string, string>; unresolved: string[] } | null,
): VmNetState {
  const onNic = (routes ?? []).filter((r) => r.iface === vm.nic);
  const connected = onNic.filter((r) => r.gateway === '0.0.0.0' && r.destination !== '0.0.0.0');
  const addresses = (locals ?? []).map((ip) => {
    const net = connected.find((r) => inSubnet(ip, r.destination, r.prefixLength));
    return { ip, prefixLength: net?.prefixLength ?? 32 };
  });
  const def = onNic.find((r) => r.destination === '0.0.0.0' && r.prefixLength === 0);
  return { mac: nicMac, addresses, defaultGateway: def?.gateway ?? null, arp: arp?.arp ?? {}, unresolved: arp?.unresolved ?? [] };
}
