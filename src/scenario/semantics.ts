/**
 * Rules that relate one field to another. Each problem carries the path of the field to
 * blame so the loader can print its file position. The rules of each part live beside
 * (semantics-network.ts, semantics-parts.ts); nova's reading of options in nova-of.ts.
 */
import { cidrContains, isHostAddress, nthAddress, type Cidr } from '../net/ipv4.js';
import { sanitizeHostname } from '../nova/hostname.js';
import { isMultiHostDhcp, novaOf, optionPath, sharesDhcpAddress } from './nova-of.js';
import type { FieldPath, Problem } from './problem.js';
import { FLAT_DHCP_MANAGER, type Scenario } from './schema.js';
import { checkExternal, checkNetwork } from './semantics-network.js';
import { checkExpect, checkFaults, checkManager, checkSecurityGroups } from './semantics-parts.js';

export type { FieldPath, Problem } from './problem.js';

/** Names that flatlab uses for its own namespaces within a run. */
export const RESERVED_NAMES = new Set(['fabric', 'external', 'dhcp', 'public']);

export function checkSemantics(s: Scenario): Problem[] {
  const problems: Problem[] = [];
  const net = checkNetwork(s, problems);
  const netPath: FieldPath = s.network.cidr !== undefined ? ['network', 'cidr'] : ['nova', 'fixed_range'];

  // nova passed dhcp_lease_time to dnsmasq as it was; dnsmasq raised a short lease to its floor
  if (s.nova.dhcp_lease_time < 120) {
    problems.push({ path: ['nova', 'dhcp_lease_time'], warning: true, message: `dnsmasq raises a lease under 120 s to 120 s (its option.c: "Leases of a minute or less confuse some clients"): nova passed ${s.nova.dhcp_lease_time}s and its guests held 120 s leases, as flatlab's do` });
  }
  if (s.expect?.renewals && s.nova.network_manager !== FLAT_DHCP_MANAGER) {
    problems.push({ path: ['expect', 'renewals'], message: 'renewals are checked against nova\'s dnsmasq: FlatDHCPManager only' });
  }
  checkInterfaces(s, problems);
  checkManager(s, problems);

  checkNames(s, problems);
  const usedIps = checkAddresses(s, net, netPath, problems);
  if (net) checkPoolSize(s, net, netPath, usedIps, problems);
  checkSecurityGroups(s, problems);
  checkExternal(s, net, problems);
  checkFaults(s, problems);
  checkExpect(s, net, problems);
  return problems;
}

/** The bridge and the NIC of each node's nova.conf: never one and the same, never a tap's name. */
function checkInterfaces(s: Scenario, problems: Problem[]): void {
  const flatClash = new Set<string>();
  for (const node of Object.keys(s.nodes)) {
    const nova = novaOf(s, node);
    // blame the one the file moved off its default: a bridge named after the NIC, or a NIC named after the bridge
    const bridgeMoved = nova.flat_network_bridge !== 'br100';
    const path = optionPath(s, node, bridgeMoved ? 'flat_network_bridge' : 'flat_interface');
    if (nova.flat_network_bridge === nova.flat_interface && !flatClash.has(path.join('.'))) {
      flatClash.add(path.join('.'));
      problems.push({
        path,
        message: bridgeMoved
          ? `"${nova.flat_network_bridge}" is flat_interface too: ensure_bridge would make a bridge of the NIC it should enslave (name the bridge apart, br100 in nova's examples)`
          : `"${nova.flat_interface}" is flat_network_bridge too: ensure_bridge would enslave the bridge to itself (flat_interface is the node's NIC, eth1 in nova's examples)`,
      });
    }
    if (/^vnet\d+$/.test(nova.flat_interface) && path[0] === 'nodes') problems.push({ path, message: `"${nova.flat_interface}" is the name flatlab gives VM taps (vnetN)` });
  }
  for (const opt of ['flat_network_bridge', 'flat_interface'] as const) {
    if (/^vnet\d+$/.test(s.nova[opt])) {
      problems.push({ path: ['nova', opt], message: `"${s.nova[opt]}" is the name flatlab gives VM taps (vnetN)` });
    }
  }
}

/**
 * Node and VM names share one namespace per run (each becomes a network namespace); nova
 * sanitises an instance's name into its hostname (the dnsmasq hosts file and DNS name):
 * two VMs that sanitise alike would be listed twice with two addresses.
 */
function checkNames(s: Scenario, problems: Problem[]): void {
  const seen = new Map<string, string>();
  for (const [kind, names] of [['nodes', Object.keys(s.nodes)], ['vms', Object.keys(s.vms)]] as const) {
    for (const name of names) {
      if (RESERVED_NAMES.has(name)) {
        problems.push({ path: [kind, name], atKey: true, message: `"${name}" is reserved by flatlab` });
      }
      const other = seen.get(name.toLowerCase());
      if (other) {
        problems.push({ path: [kind, name], atKey: true, message: `"${name}" is already used by ${other}` });
      }
      seen.set(name.toLowerCase(), `${kind}.${name}`);
    }
  }

  const hostnames = new Map<string, string>();
  for (const name of Object.keys(s.vms)) {
    const host = sanitizeHostname(name);
    const other = hostnames.get(host);
    if (other !== undefined) {
      problems.push({ path: ['vms', other], atKey: true, message: `"${other}" and "${name}" both become the hostname "${host}" (nova replaces "_" with "-")` });
      problems.push({ path: ['vms', name], atKey: true, message: `"${name}" and "${other}" both become the hostname "${host}" (nova replaces "_" with "-")` });
    } else hostnames.set(host, name);
  }

}

/** Every pinned address of the network claimed once, inside it; MACs once; hosts and placements that exist. Returns the claimed addresses. */
function checkAddresses(s: Scenario, net: Cidr | undefined, netPath: FieldPath, problems: Problem[]): Map<string, string> {
  const usedIps = new Map<string, string>();
  const claimIp = (ip: string, path: FieldPath): void => {
    if (!net) return;
    if (!cidrContains(net, ip)) {
      problems.push({ path, message: `${ip} is outside the network ${net.text}` });
      return;
    }
    if (!isHostAddress(net, ip)) {
      problems.push({ path, message: `${ip} is the ${ip === net.network ? 'network' : 'broadcast'} address of ${net.text}` });
      return;
    }
    const owner = usedIps.get(ip);
    if (owner) {
      problems.push({ path, message: `${ip} is already taken by ${owner}` });
      return;
    }
    usedIps.set(ip, path.slice(0, 2).join('.'));
  };

  for (const [name, node] of Object.entries(s.nodes)) {
    if (node.bridge_ip) claimIp(node.bridge_ip, ['nodes', name, 'bridge_ip']);
  }
  // Without multi_host the network's gateway (.1 unless the network host pins its
  // bridge) belongs to the network host (FlatDHCP) or to the operator's router (Flat).
  if (net && !isMultiHostDhcp(s)) {
    const networkHost = Object.entries(s.nodes).find(([, n]) => n.role === 'network');
    if (!networkHost?.[1].bridge_ip) claimIp(s.network.gateway ?? nthAddress(net, 1), s.network.gateway ? ['network', 'gateway'] : netPath);
  }
  // share_dhcp_address: the gateway is every node's (NetworkManager._get_dhcp_ip)
  if (net && sharesDhcpAddress(s)) claimIp(s.network.gateway ?? nthAddress(net, 1), s.network.gateway ? ['network', 'gateway'] : netPath);
  if (s.dhcp_server) claimIp(s.dhcp_server.ip, ['dhcp_server', 'ip']);
  const macs = new Map<string, string>();
  for (const [name, vm] of Object.entries(s.vms)) {
    if (!(vm.host in s.nodes)) {
      const known = Object.keys(s.nodes).join(', ');
      problems.push({ path: ['vms', name, 'host'], message: `no node "${vm.host}" (nodes: ${known})` });
    }
    if (vm.ip) claimIp(vm.ip, ['vms', name, 'ip']);
    if (vm.mac) {
      const owner = macs.get(vm.mac);
      if (owner) problems.push({ path: ['vms', name, 'mac'], message: `${vm.mac} is already used by vms.${owner}` });
      macs.set(vm.mac, name);
    }
  }
  for (const node of Object.keys(s.placement ?? {})) {
    if (!(node in s.nodes)) problems.push({ path: ['placement', node], atKey: true, message: `no node "${node}" (nodes: ${Object.keys(s.nodes).join(', ')})` });
  }
  return usedIps;
}

/**
 * The pool must hold every node bridge and VM that is not pinned. Under `addressing:
 * nova` with multi_host the network row's gateway (.1) stays reserved as nova kept it
 * (addressing.ts), so it counts too: refused here, not later by the planner.
 */
function checkPoolSize(s: Scenario, net: Cidr, path: FieldPath, pinned: Map<string, string>, problems: Problem[]): void {
  const hosts = net.size - 2;
  const nodesWithVms = new Set(Object.values(s.vms).map((v) => v.host));
  const gatewayReserved = isMultiHostDhcp(s) && (s.addressing === 'nova' || sharesDhcpAddress(s)) && !pinned.has(nthAddress(net, 1)) ? 1 : 0;
  const needed =
    (isMultiHostDhcp(s) && !sharesDhcpAddress(s) ? Object.entries(s.nodes).filter(([n, node]) => !node.bridge_ip && nodesWithVms.has(n)).length : 0) +
    Object.values(s.vms).filter((v) => !v.ip).length +
    gatewayReserved;
  if (needed + pinned.size > hosts) {
    problems.push({
      path: s.addressing === 'nova' && gatewayReserved && needed + pinned.size - 1 <= hosts ? ['addressing'] : path,
      message: `${net.text} has ${hosts} host addresses but the scenario needs ${needed + pinned.size}${gatewayReserved ? ` (addressing: nova keeps ${nthAddress(net, 1)} reserved as the network's gateway)` : ''}`,
    });
  }
}
