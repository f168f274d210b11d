/**
 * The kernel objects of a run as iproute2 batch lines, one batch per namespace, so a
 * backend spends one process per namespace rather than one per command
 * (kernel-recipes.md: each `ip` process costs 13-30 ms, the kernel work ~1 ms per VM).
 *
 * veth pairs are created with each end already in its namespace
 * (`link add A type veth peer name B netns OTHER`): nothing ever appears in the
 * machine's root namespace.
 */
import { tapLines } from './guest-vm.js';
import { SAMPLE_ABOVE } from './oracle.js';
import { fabricNamespaces } from './span.js';
import type { HostPlan, NodePlan, Plan, VmPlan, WiringPlan } from './types.js';

/*
 * Every device name follows an explicit `name` or `dev` keyword: iproute2 takes a bare
 * word that abbreviates one of its keywords ("a" for address, "t" for type) as that
 * keyword, and names here come from scenario files.
 */

/** A Linux bridge as nova's ensure_bridge made it: forward delay 0, STP off. */
function bridgeLines(name: string): string[] {
  return [`link add name ${name} type bridge forward_delay 0 stp_state 0`, `link set dev ${name} up`];
}

export function planWiring(p: Pick<Plan, 'fabric' | 'span' | 'nodes' | 'vms' | 'network' | 'external' | 'dhcpServer'>): WiringPlan {
  // the fabric's bridges in every share of it: the plan's namespace, each engine's (span)
  const shares: Record<string, string[]> = {};
  for (const ns of fabricNamespaces(p)) shares[ns] = [...bridgeLines(p.fabric.bridge), ...(p.fabric.publicBridge ? bridgeLines(p.fabric.publicBridge) : [])];
  const fabric = shares[p.fabric.netns]!;
  const port = (name: string, peer: string, netns: string, bridge: string, mac?: string, share = fabric): void => {
    share.push(`link add name ${name} type veth peer name ${peer}${mac ? ` address ${mac}` : ''} netns ${netns}`, `link set dev ${name} master ${bridge} up`);
  };
  for (const node of p.nodes) {
    const share = shares[node.fabricNetns]!;
    port(node.fabricPort, node.uplink, node.netns, p.fabric.bridge, node.uplinkMac, share);
    if (node.public?.fabricPort) port(node.public.fabricPort, node.public.iface, node.netns, p.fabric.publicBridge!, undefined, share);
  }
  const hosts: Record<string, string[]> = {};
  for (const h of [p.external, p.dhcpServer]) {
    if (!h) continue;
    port(h.fabricPort, h.nic, h.netns, h.segment === 'public' ? p.fabric.publicBridge! : p.fabric.bridge);
    hosts[h.name] = hostLines(h);
  }
  const nodes: Record<string, string[]> = {};
  for (const node of p.nodes) nodes[node.name] = nodeLines(node, p.vms.filter((v) => v.node === node.name), p.network.prefixLength, p.network.broadcast);
  return {
    namespaces: [
      ...fabricNamespaces(p),
      ...p.nodes.map((n) => n.netns),
      ...[p.external, p.dhcpServer].flatMap((h) => (h ? [h.netns] : [])),
      // a vm guest is QEMU in its node's namespace: no namespace of its own
      ...p.vms.filter((v) => !v.machine).map((v) => v.netns),
    ],
    sysctls: NO_IPV6,
    deviceSysctls: p.vms.length > SAMPLE_ABOVE ? shortArpTimers(p) : {},
    fabric,
    nodes,
    hosts,
    sites: Object.fromEntries(Object.entries(shares).filter(([ns]) => ns !== p.fabric.netns)),
  };
}

/**
 * Deliberate difference, in labs above SAMPLE_ABOVE VMs only: shorter ARP timers on the
 * segment's devices (each node's bridge, each guest's NIC): reachable 2 s instead of
 * 30 s, first unicast probe after 1 s instead of 5. The kernel keeps one neighbour table
 * for every namespace of the machine (gc_thresh3, 1024 by default) and cannot reclaim
 * an entry while a timer holds it, i.e. for the whole reachable time: with nova's and the
 * kernel's defaults, a thousand guests' DHCP answers (dnsmasq writes each client into its
 * node's table) and probes hold more entries than the table has, and the kernel refuses
 * the rest (measured: 2800 refusals in a 1024-VM run; 250 with these timers). In /proc
 * (net.ipv4.neigh.<dev>.*) these are per device, so the machine's own stay untouched.
 */
function shortArpTimers(p: { nodes: NodePlan[]; vms: VmPlan[] }): Record<string, Record<string, string>> {
  const timers = (dev: string): Record<string, string> => ({
    [`net.ipv4.neigh.${dev}.base_reachable_time_ms`]: '2000',
    [`net.ipv4.neigh.${dev}.delay_first_probe_time`]: '1',
  });
  return Object.fromEntries([...p.nodes.map((n) => [n.netns, timers(n.bridge)]), ...p.vms.filter((v) => !v.machine).map((v) => [v.netns, timers(v.nic)])]);
}

/**
 * Deliberate difference: IPv6 is off in every namespace of a lab. nova-network's flat
 * networks are IPv4 (use_ipv6 defaults to False) and flatlab checks only IPv4, but a
 * kernel still gives each interface an IPv6 link-local address and announces it (DAD,
 * MLD reports, router solicitations): multicast that the flat segment's bridges flood to
 * every port. On real machines that costs little; here every port is on the same 2 CPUs,
 * and at 1000 VMs that chatter alone overflowed the kernel's receive backlog (millions
 * of drops in /proc/net/softnet_stat), taking DHCP and probe packets with it.
 */
const NO_IPV6: Record<string, string> = {
  'net.ipv6.conf.all.disable_ipv6': '1',
  'net.ipv6.conf.default.disable_ipv6': '1',
};

function hostLines(h: HostPlan): string[] {
  return ['link set dev lo up', `link set dev ${h.nic} up`, `addr add ${h.ip}/${h.prefixLength} dev ${h.nic}`];
}

function nodeLines(node: NodePlan, vms: VmPlan[], prefixLength: number, broadcast: string): string[] {
  // brctl addif, then `ip link set <iface> up` only where the release's ensure_bridge did
  // it or the node's OS had (uplink_up); a NIC left down carries nothing
  const lines = ['link set dev lo up', ...bridgeLines(node.bridge), `link set dev ${node.uplink} master ${node.bridge}${node.uplinkUp ? ' up' : ''}`];
  // nova's initialize_gateway_device: the DHCP/gateway address goes first on the bridge.
  if (node.bridgeIp) lines.push(`addr add ${node.bridgeIp}/${prefixLength} brd ${broadcast} dev ${node.bridge}`);
  if (node.public?.layout === 'two-nics') {
    lines.push(`link set dev ${node.public.iface} up`, `addr add ${node.public.ip}/${node.public.prefixLength} dev ${node.public.iface}`);
  } else if (node.public) {
    // One NIC: the node's own address was on flat_interface, and nova's ensure_bridge
    // moved it onto the bridge, after the pool address.
    lines.push(`addr add ${node.public.ip}/${node.public.prefixLength} dev ${node.bridge}`);
  }
  // linux_net.bind_floating_ip: each associated floating address as a /32 on public_interface
  for (const f of node.floating) lines.push(`addr add ${f.ip}/32 dev ${f.device}`);
  for (const vm of vms) {
    if (vm.machine) {
      lines.push(...tapLines(vm, node.bridge));
      continue;
    }
    // libvirt's plug: a tap with the guest MAC (first byte 0xfe) enslaved to the bridge.
    // The guest brings its own NIC up, as a booting guest does (its DHCP client's script).
    lines.push(
      `link add name ${vm.tap} address ${vm.tapMac} type veth peer name ${vm.nic} address ${vm.mac} netns ${vm.netns}`,
      `link set dev ${vm.tap} master ${node.bridge} up`,
    );
  }
  return lines;
}
