/**
 * flatlab's addressing rule (flat-networking.md, "flatlab's addressing rule").
 *
 * FlatDHCP with multi_host: walking the VMs in declaration order, a node takes the next
 * free pool address for its bridge when its first VM is placed, then the VM takes the
 * next free address. Pinned addresses (bridge_ip, ip) are claimed first and skipped.
 * Where this differs from nova: nova reserved the network's first host address (.1) as
 * the DB `gateway`, and in multi_host an instance took its own fixed IP first
 * (NetworkManager.allocate_fixed_ip -> fixed_ip_associate_pool), and only then did its
 * host claim one (_setup_network_on_host -> _get_dhcp_ip -> fixed_ip_associate_pool(host=),
 * 2012.1-2013.2): on a fresh database vm_1 .2, compute1 .3, vm_2 .4, vm_3 .5, compute2
 * .6, vm_4 .7. flatlab's rule starts the pool at .1, host first, so that the reference
 * post's addresses (compute1 10.0.0.1, compute2 10.0.0.4) come out; `addressing: nova`
 * gives nova's order instead.
 *
 * Otherwise (single host, or FlatManager) the network's gateway is nova's: the first
 * host address (.1), or the network host's pinned bridge_ip; the VMs walk from there.
 *
 * External network: the host to reach takes the first address unless pinned; each
 * node's my_ip is pinned or the next free one, in node order.
 */
import { ipToInt, intToIp, nthAddress, type Cidr } from '../net/ipv4.js';
import type { Scenario } from '../scenario/schema.js';
import { isMultiHostDhcp, sharesDhcpAddress } from '../scenario/nova-of.js';

export interface Addresses {
  /** the network's gateway (nova's `gateway` column); null with multi_host */
  gateway: string | null;
  bridgeIps: Record<string, string | null>;
  vmIps: Record<string, string>;
}

/** Hands out the lowest free address of a block, skipping taken ones. */
function allocator(block: Cidr, taken: Set<number>): () => string {
  let cursor = ipToInt(block.network) + 1;
  const last = ipToInt(block.broadcast) - 1;
  return () => {
    while (cursor <= last && taken.has(cursor)) cursor++;
    // The loader has already checked that the block is large enough.
    if (cursor > last) throw new Error(`${block.text} exhausted`);
    taken.add(cursor);
    return intToIp(cursor);
  };
}

export function assignAddresses(s: Scenario, net: Cidr): Addresses {
  const taken = new Set<number>();
  for (const node of Object.values(s.nodes)) if (node.bridge_ip) taken.add(ipToInt(node.bridge_ip));
  for (const vm of Object.values(s.vms)) if (vm.ip) taken.add(ipToInt(vm.ip));
  if (s.dhcp_server) taken.add(ipToInt(s.dhcp_server.ip));
  const multiHost = isMultiHostDhcp(s);
  const networkHost = Object.entries(s.nodes).find(([, n]) => n.role === 'network');
  let gateway: string | null = null;
  const novaOrder = s.addressing === 'nova';
  // nova's network row keeps .1 as its gateway (reserved) even with multi_host
  const rowGateway = s.network.gateway ?? nthAddress(net, 1);
  // share_dhcp_address: every node with VMs holds the network's gateway (NetworkManager._get_dhcp_ip)
  const shared = sharesDhcpAddress(s);
  if (shared) taken.add(ipToInt(rowGateway));
  if (multiHost && novaOrder && !Object.values(s.nodes).some((n) => n.bridge_ip === rowGateway)) taken.add(ipToInt(rowGateway));
  if (!multiHost) {
    gateway = networkHost?.[1].bridge_ip ?? rowGateway;
    taken.add(ipToInt(gateway));
  }
  const next = allocator(net, taken);

  const bridgeIps: Record<string, string | null> = {};
  for (const [name, node] of Object.entries(s.nodes)) bridgeIps[name] = node.bridge_ip ?? null;
  if (networkHost) bridgeIps[networkHost[0]] = gateway;
  const placed = new Set<string>();
  const vmIps: Record<string, string> = {};
  for (const [name, vm] of Object.entries(s.vms)) {
    // nova: the instance's fixed IP, then its host's; flatlab: the host's first
    if (novaOrder) vmIps[name] = vm.ip ?? next();
    if (multiHost && !placed.has(vm.host)) {
      placed.add(vm.host);
      if (bridgeIps[vm.host] === null) bridgeIps[vm.host] = shared ? rowGateway : next();
    }
    if (!novaOrder) vmIps[name] = vm.ip ?? next();
  }
  return { gateway, bridgeIps, vmIps };
}

export interface ExternalAddresses {
  host: string;
  myIps: Record<string, string>;
}

export function assignExternal(s: Scenario, ext: Cidr): ExternalAddresses {
  const taken = new Set<number>();
  for (const n of Object.values(s.nodes)) if (n.my_ip) taken.add(ipToInt(n.my_ip));
  if (s.external?.host) taken.add(ipToInt(s.external.host));
  // floating addresses are the operator's choice: the defaults go around them
  for (const ip of Object.values(s.floating_ips ?? {})) taken.add(ipToInt(ip));
  const next = allocator(ext, taken);
  const host = s.external?.host ?? next();
  const myIps: Record<string, string> = {};
  for (const [name, n] of Object.entries(s.nodes)) myIps[name] = n.my_ip ?? next();
  return { host, myIps };
}
