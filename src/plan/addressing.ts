/**
 * flatlab's addressing rule (flat-networking.md, "flatlab's addressing rule"): walking
 * the VMs in declaration order, a node takes the next free pool address for its bridge
 * when its first VM is placed, then the VM takes the next free address. Pinned
 * addresses (bridge_ip, ip) are claimed first and skipped by the walk.
 *
 * Where this differs from nova: nova reserved the network's first host address (.1) as
 * the DB `gateway` and gave multi_host nodes the lowest free addresses after it, in
 * database row order (nova-network.md §3). flatlab starts the pool at .1 so that the
 * reference post's addresses (compute1 10.0.0.1, compute2 10.0.0.4) come out.
 */
import { ipToInt, intToIp, type Cidr } from '../net/ipv4.js';
import type { Scenario } from '../scenario/schema.js';

export interface Addresses {
  bridgeIps: Record<string, string | null>;
  vmIps: Record<string, string>;
}

export function assignAddresses(s: Scenario, net: Cidr): Addresses {
  const taken = new Set<number>();
  for (const node of Object.values(s.nodes)) if (node.bridge_ip) taken.add(ipToInt(node.bridge_ip));
  for (const vm of Object.values(s.vms)) if (vm.ip) taken.add(ipToInt(vm.ip));

  const first = ipToInt(net.network) + 1;
  const last = ipToInt(net.broadcast) - 1;
  let cursor = first;
  const next = (): string => {
    while (cursor <= last && taken.has(cursor)) cursor++;
    // The loader has already checked that the pool is large enough.
    if (cursor > last) throw new Error(`pool ${net.text} exhausted`);
    taken.add(cursor);
    return intToIp(cursor);
  };

  const bridgeIps: Record<string, string | null> = {};
  for (const [name, node] of Object.entries(s.nodes)) bridgeIps[name] = node.bridge_ip ?? null;
  const placed = new Set<string>();
  const vmIps: Record<string, string> = {};
  for (const [name, vm] of Object.entries(s.vms)) {
    if (!placed.has(vm.host)) {
      placed.add(vm.host);
      if (bridgeIps[vm.host] === null && s.nova.multi_host) bridgeIps[vm.host] = next();
    }
    vmIps[name] = vm.ip ?? next();
  }
  return { bridgeIps, vmIps };
}
