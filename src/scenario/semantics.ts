/**
 * Rules that relate one field to another. Each problem carries the path of the field to
 * blame so the loader can print its file position.
 */
import { cidrContains, isHostAddress, nthAddress, parseCidr, type Cidr } from '../net/ipv4.js';
import { sanitizeHostname } from '../nova/hostname.js';
import { behaviour, RELEASE_TAGS } from '../nova/releases.js';
import { networkCidrText, parseCidrAsNova } from './network.js';
import { FLAT_DHCP_MANAGER, FLAT_MANAGER, EXTERNAL_SOURCE, NODE_SOURCE, type Scenario } from './schema.js';

export type FieldPath = (string | number)[];

export interface Problem {
  path: FieldPath;
  message: string;
  /** blame the mapping key itself (a name) rather than its value */
  atKey?: boolean;
  /**
   * a mistake nova accepted: built as nova built it, with one line saying what follows
   * (flatlab refuses only what nova refused or what cannot be built)
   */
  warning?: boolean;
}

/** Blocks the kernel never gives a host on an Ethernet segment (loopback, multicast, ...). */
const SPECIAL_RANGES: [string, string][] = [
  ['0.0.0.0/8', '"this network"'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', "link-local, nova's metadata address among them"],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved, and the broadcast address'],
];

function overlaps(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b.network) || cidrContains(b, a.network);
}

/** Names that flatlab uses for its own namespaces within a run. */
export const RESERVED_NAMES = new Set(['fabric', 'external', 'dhcp', 'public']);

/** A node's nova.conf: the scenario's, with the node's own options over it. */
export function novaOf(s: Scenario, node: string): Scenario['nova'] {
  const own = s.nodes[node]?.nova ?? {};
  return { ...s.nova, ...Object.fromEntries(Object.entries(own).filter(([, v]) => v !== undefined)) };
}

/** Where a node's option was set: its own nova: block, else the scenario's. */
function optionPath(s: Scenario, node: string, opt: string): FieldPath {
  return (s.nodes[node]?.nova as Record<string, unknown> | undefined)?.[opt] !== undefined ? ['nodes', node, 'nova', opt] : ['nova', opt];
}

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
  checkManager(s, problems);

  // Node and VM names share one namespace per run (each becomes a network namespace).
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

  // nova sanitises an instance's name into its hostname (the dnsmasq hosts file and DNS
  // name): two VMs that sanitise alike would be listed twice with two addresses
  const hostnames = new Map<string, string>();
  for (const name of Object.keys(s.vms)) {
    const host = sanitizeHostname(name);
    const other = hostnames.get(host);
    if (other !== undefined) {
      problems.push({ path: ['vms', other], atKey: true, message: `"${other}" and "${name}" both become the hostname "${host}" (nova replaces "_" with "-")` });
      problems.push({ path: ['vms', name], atKey: true, message: `"${name}" and "${other}" both become the hostname "${host}" (nova replaces "_" with "-")` });
    } else hostnames.set(host, name);
  }

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
  if (net) checkPoolSize(s, net, netPath, usedIps, problems);
  checkSecurityGroups(s, problems);
  checkExternal(s, net, problems);
  checkFaults(s, problems);
  checkExpect(s, net, problems);
  return problems;
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

/**
 * The network (network.cidr, else the option) and the fixed_range option, each as nova
 * took it; returns the network's block when it is usable.
 */
function checkNetwork(s: Scenario, problems: Problem[]): Cidr | undefined {
  const option = s.nova.fixed_range;
  const text = networkCidrText(s);
  let net: Cidr | undefined;
  if (text === undefined) {
    problems.push({
      path: option === '' ? ['nova', 'fixed_range'] : ['nova'],
      message:
        option === ''
          ? "is empty, so nova took each network's cidr: say which with network: {cidr: ...} (the --fixed_range_v4 of nova-manage network create)"
          : 'no network: set network.cidr (what nova-manage network create --fixed_range_v4 made) or nova.fixed_range',
    });
  } else {
    const path: FieldPath = s.network.cidr !== undefined ? ['network', 'cidr'] : ['nova', 'fixed_range'];
    const parsed = parseCidrAsNova(text);
    if (typeof parsed === 'string') problems.push({ path, message: parsed });
    else {
      net = parsed.cidr;
      if (parsed.hostBits) {
        problems.push({ path, warning: true, message: `${text} has host bits set: nova-manage's netaddr took the block that holds it, ${net.text}` });
      }
      if (net.prefixLength > 30) {
        problems.push({ path, message: `${net.text} is too small: a flat network needs at least a /30` });
        net = undefined;
      } else {
        const special = SPECIAL_RANGES.find(([r]) => overlaps(parseCidr(r) as Cidr, net!));
        if (special) {
          problems.push({ path, message: `${net.text} overlaps ${special[0]} (${special[1]}): no guest can hold such an address on a flat network` });
          net = undefined;
        }
      }
    }
  }
  if (option !== undefined && option !== '' && s.network.cidr !== undefined) {
    const parsed = parseCidrAsNova(option);
    if (typeof parsed === 'string') problems.push({ path: ['nova', 'fixed_range'], message: parsed });
    else if (parsed.hostBits) {
      problems.push({ path: ['nova', 'fixed_range'], warning: true, message: `${option} has host bits set: iptables took the block that holds it, ${parsed.cidr.text}` });
    }
    if (s.release === 'havana' && typeof parsed !== 'string' && parsed.cidr.text !== net?.text) {
      problems.push({ path: ['nova', 'fixed_range'], warning: true, message: "Havana removed this option (nova/network/manager.py at 2013.2): nova ignored it and built its nat rules from the network's cidr" });
    }
  }
  if (option === '' && behaviour('snatRange', s.release) === 'option') {
    problems.push({
      path: ['nova', 'fixed_range'],
      message: `an empty fixed_range is taken from 2013.1 on; ${s.release}'s init_host wrote "-s  -j SNAT" from it (nova/network/linux_net.py at ${RELEASE_TAGS[s.release]}), which iptables refused`,
    });
  }
  for (const opt of ['dmz_cidr', 'force_snat_range'] as const) {
    (s.nova[opt] ?? []).forEach((c, i) => {
      const parsed = parseCidrAsNova(c);
      if (typeof parsed === 'string') problems.push({ path: ['nova', opt, i], message: parsed });
    });
  }
  if (s.nova.force_snat_range.length > 0 && behaviour('forceSnatRange', s.release) !== 'snat-and-ebtables') {
    problems.push({
      path: ['nova', 'force_snat_range'],
      warning: true,
      message: `${s.release}'s add_snat_rule names no destination (force_snat_range changes the SNAT rule from 2013.2 on): flatlab builds the one rule ${s.release} built`,
    });
  }
  if (s.nova.share_dhcp_address && !sharesDhcpAddress(s)) {
    problems.push({
      path: ['nova', 'share_dhcp_address'],
      warning: true,
      message: behaviour('shareDhcpAddress', s.release)
        ? 'has no effect without multi_host: the one network host holds the gateway anyway (NetworkManager._get_dhcp_ip)'
        : `${s.release} does not read it (it appears in nova/network/manager.py at 2013.1): each node takes an address of its own, as ${s.release} did`,
    });
  }
  if (sharesDhcpAddress(s)) {
    for (const [name, node] of Object.entries(s.nodes)) {
      if (node.bridge_ip) problems.push({ path: ['nodes', name, 'bridge_ip'], message: "with share_dhcp_address every node holds the network's gateway: a node's own bridge_ip does not apply" });
    }
  }
  if (s.release === 'essex' || s.release === 'folsom') {
    if (s.nova.use_network_dns_servers) {
      problems.push({ path: ['nova', 'use_network_dns_servers'], warning: true, message: `${s.release}'s restart_dhcp does not read it (it appears in linux_net.restart_dhcp at 2013.1): flatlab builds dnsmasq without it, as ${s.release} did` });
    }
    if (s.nova.dns_server.length > 1) {
      problems.push({ path: ['nova', 'dns_server'], message: `${s.release}'s dns_server is one address (a StrOpt until 2013.1, linux_net.py): give one` });
    }
  }
  if (net) {
    for (const f of ['gateway', 'dhcp_start'] as const) {
      const ip = s.network[f];
      if (ip !== undefined && !cidrContains(net, ip)) problems.push({ path: ['network', f], message: `${ip} is outside the network ${net.text}` });
    }
  }
  return net;
}

function checkExpect(s: Scenario, net: Cidr | undefined, problems: Problem[]): void {
  const e = s.expect;
  if (!e) return;
  const vmRef = (name: string, path: FieldPath, atKey = false): void => {
    if (!(name in s.vms)) problems.push({ path, atKey, message: `no VM "${name}"` });
  };
  const vmOrNode = (name: string, path: FieldPath): void => {
    if (!(name in s.vms) && !(name in s.nodes)) problems.push({ path, message: `no VM or node "${name}"` });
  };
  for (const section of ['leases', 'gateways'] as const) {
    for (const [vm, ip] of Object.entries(e[section] ?? {})) {
      vmRef(vm, ['expect', section, vm], true);
      if (net && ip !== 'none' && !cidrContains(net, ip)) {
        problems.push({ path: ['expect', section, vm], message: `${ip} is outside the network ${net.text}` });
      }
    }
  }
  for (const vm of Object.keys(e.egress ?? {})) {
    vmRef(vm, ['expect', 'egress', vm], true);
    if (!s.external) problems.push({ path: ['expect', 'egress', vm], atKey: true, message: 'a way out needs an external: network' });
  }
  for (const [vm, node] of Object.entries(e.leased_by ?? {})) {
    vmRef(vm, ['expect', 'leased_by', vm], true);
    if (!(node in s.nodes)) problems.push({ path: ['expect', 'leased_by', vm], message: `no node "${node}"` });
  }
  (e.checks ?? []).forEach((c, i) => {
    const fromNode = NODE_SOURCE.exec(c.from)?.[1];
    if (c.from === EXTERNAL_SOURCE) {
      // outsiders reach an instance through its floating address only (nova gives them no route to the fixed range)
      if (!s.external) problems.push({ path: ['expect', 'checks', i, 'from'], message: 'external: the scenario has no external: network' });
      else if (!(c.to in (s.floating_ips ?? {}))) {
        const floating = Object.keys(s.floating_ips ?? {});
        problems.push({ path: ['expect', 'checks', i, 'to'], message: `${c.to} has no floating address: the external host reaches an instance only through one (floating_ips:${floating.length ? ` ${floating.join(', ')} have one` : ''})` });
      }
      return;
    }
    if (fromNode !== undefined) {
      if (!(fromNode in s.nodes)) problems.push({ path: ['expect', 'checks', i, 'from'], message: `no node "${fromNode}" (nodes: ${Object.keys(s.nodes).join(', ')})` });
    } else vmOrNode(c.from, ['expect', 'checks', i, 'from']);
    vmOrNode(c.to, ['expect', 'checks', i, 'to']);
    if (c.proto !== 'icmp' && c.port === undefined) {
      problems.push({ path: ['expect', 'checks', i, 'proto'], message: `a ${c.proto} check needs a port` });
    }
    if (c.proto === 'icmp' && c.port !== undefined) {
      problems.push({ path: ['expect', 'checks', i, 'port'], message: 'an icmp check has no port' });
    }
  });
}

/** nova's `default` group always exists; a scenario may give it rules. */
export const DEFAULT_GROUP = 'default';

/** `group NAME` as a rule source. */
export function groupSource(from: string): string | undefined {
  return /^group\s+(\S+)$/.exec(from)?.[1];
}

function checkSecurityGroups(s: Scenario, problems: Problem[]): void {
  const groups = new Set([DEFAULT_GROUP, ...Object.keys(s.security_groups)]);
  for (const [name, sg] of Object.entries(s.security_groups)) {
    sg.rules.forEach((r, i) => {
      const path = ['security_groups', name, 'rules', i];
      if (r.proto === 'icmp') {
        if (r.port !== undefined) problems.push({ path: [...path, 'port'], message: 'an icmp rule has no port (use type/code)' });
        if (r.code !== undefined && r.type === undefined) problems.push({ path: [...path, 'code'], message: 'an icmp code needs a type' });
      } else {
        if (r.port === undefined) problems.push({ path: [...path, 'proto'], message: `a ${r.proto} rule needs a port or range` });
        if (r.type !== undefined || r.code !== undefined) problems.push({ path: [...path, 'type'], message: `a ${r.proto} rule has no icmp type/code` });
      }
      const group = groupSource(r.from);
      if (group !== undefined) {
        if (!groups.has(group)) problems.push({ path: [...path, 'from'], message: `no security group "${group}"` });
      } else {
        const cidr = parseCidr(r.from);
        if (typeof cidr === 'string') problems.push({ path: [...path, 'from'], message: `${cidr}; or "group NAME"` });
      }
    });
  }
  for (const [vm, v] of Object.entries(s.vms)) {
    v.security_groups.forEach((g, i) => {
      if (!groups.has(g)) problems.push({ path: ['vms', vm, 'security_groups', i], message: `no security group "${g}"` });
    });
  }
}

/**
 * share_dhcp_address as nova read it: multi_host FlatDHCP from 2013.1 on (every node
 * answers as the network's gateway: NetworkManager._get_dhcp_ip).
 */
export function sharesDhcpAddress(s: Scenario): boolean {
  return isMultiHostDhcp(s) && s.nova.share_dhcp_address && behaviour('shareDhcpAddress', s.release);
}

/** FlatDHCPManager with multi_host: every node with VMs is a gateway and DHCP server. */
export function isMultiHostDhcp(s: Scenario): boolean {
  return s.nova.network_manager === FLAT_DHCP_MANAGER && s.nova.multi_host;
}

function checkManager(s: Scenario, problems: Problem[]): void {
  const networkNodes = Object.entries(s.nodes).filter(([, n]) => n.role === 'network').map(([name]) => name);
  if (s.nova.network_manager === FLAT_MANAGER) {
    if (s.nova.multi_host) problems.push({ path: ['nova', 'multi_host'], message: 'FlatManager runs no DHCP or gateway on the nodes: multi_host applies to FlatDHCPManager' });
    for (const n of networkNodes) problems.push({ path: ['nodes', n, 'role'], message: 'FlatManager has no network host (nova sets up nothing on the nodes)' });
    if (s.nova.flat_injected && s.dhcp_server) problems.push({ path: ['dhcp_server'], message: 'with flat_injected the guests configure themselves from the injected file: drop one of the two' });
    if (s.external) problems.push({ path: ['external'], message: 'FlatManager routes nothing: the way out needs FlatDHCPManager' });
    return;
  }
  if (s.nova.flat_injected) {
    problems.push({
      path: ['nova', 'flat_injected'],
      warning: true,
      message: 'has no effect under FlatDHCPManager: only FlatManager._setup_network_on_host stores it in the network (nova/network/manager.py), so nothing is injected and the guests take DHCP',
    });
  }
  if (s.dhcp_server) problems.push({ path: ['dhcp_server'], message: "FlatDHCPManager runs nova's own dnsmasq: a second DHCP server needs FlatManager" });
  if (s.nova.multi_host) {
    for (const n of networkNodes) problems.push({ path: ['nodes', n, 'role'], message: 'with multi_host every node is its own network host: no role: network' });
  } else if (networkNodes.length !== 1) {
    problems.push({
      path: networkNodes.length ? ['nodes', networkNodes[1]!, 'role'] : ['nova', 'multi_host'],
      message: networkNodes.length
        ? `multi_host: false has one network host, not ${networkNodes.length} (${networkNodes.join(', ')})`
        : 'multi_host: false needs one node with role: network (it runs the only dnsmasq and is every VM\'s gateway)',
    });
  }
}

function checkExternal(s: Scenario, net: Cidr | undefined, problems: Problem[]): void {
  const ext = s.external;
  const myIps = Object.entries(s.nodes).filter(([, n]) => n.my_ip);
  if (!ext) {
    for (const [name] of myIps) problems.push({ path: ['nodes', name, 'my_ip'], message: 'my_ip needs an external: network to live on' });
    for (const vm of Object.keys(s.floating_ips ?? {})) problems.push({ path: ['floating_ips', vm], message: 'a floating address needs an external: network to live on (nova\'s floating pool is on public_interface)' });
    return;
  }
  const cidr = parseCidr(ext.cidr);
  if (typeof cidr === 'string') {
    problems.push({ path: ['external', 'cidr'], message: cidr });
    return;
  }
  if (net && (cidrContains(cidr, net.network) || cidrContains(net, cidr.network))) {
    problems.push({ path: ['external', 'cidr'], message: `${cidr.text} overlaps the network ${net.text}` });
  }
  const taken = new Map<string, string>();
  const claim = (ip: string, path: FieldPath): void => {
    if (!isHostAddress(cidr, ip)) problems.push({ path, message: `${ip} is not a host address of external ${cidr.text}` });
    else if (taken.has(ip)) problems.push({ path, message: `${ip} is already taken by ${taken.get(ip)}` });
    else taken.set(ip, path.slice(0, 2).join('.'));
  };
  if (ext.host) claim(ext.host, ['external', 'host']);
  for (const [name, n] of myIps) claim(n.my_ip!, ['nodes', name, 'my_ip']);
  for (const [vm, ip] of Object.entries(s.floating_ips ?? {})) {
    if (!(vm in s.vms)) problems.push({ path: ['floating_ips', vm], atKey: true, message: `no VM "${vm}" (VMs: ${Object.keys(s.vms).join(', ')})` });
    claim(ip, ['floating_ips', vm]);
  }
  const hosts = cidr.size - 2;
  if (Object.keys(s.nodes).length + 1 + Object.keys(s.floating_ips ?? {}).length > hosts) problems.push({ path: ['external', 'cidr'], message: `${cidr.text} is too small for the external host and ${Object.keys(s.nodes).length} nodes` });
  const warned = new Set<string>();
  for (const node of Object.keys(s.nodes)) {
    const { public_interface: pub, flat_interface: flat, flat_network_bridge: br } = novaOf(s, node);
    const path = optionPath(s, node, 'public_interface');
    if (pub !== flat || s.release === 'essex' || warned.has(path.join('.'))) continue;
    warned.add(path.join('.'));
    problems.push({
      path,
      warning: true,
      message: `${pub} is flat_interface, enslaved to ${br}: routed traffic leaves through ${br}, so nova's SNAT rule (-o ${pub}) never matches; guests reach the outside with their fixed addresses and no answer comes back. One NIC per node: public_interface: ${br}`,
    });
  }
}

function checkFaults(s: Scenario, problems: Problem[]): void {
  s.faults.forEach((f, i) => {
    const path = ['faults', i];
    if (f.type === 'guest-spoofs-address') {
      if (f.vm === undefined) problems.push({ path: [...path, 'type'], message: 'a guest-spoofs-address fault needs a vm' });
      else if (!s.vms[f.vm]) problems.push({ path: [...path, 'vm'], message: `no VM "${f.vm}"` });
      if (f.node !== undefined) problems.push({ path: [...path, 'node'], message: 'a guest-spoofs-address fault hits a vm, not a node' });
      return;
    }
    if (f.vm !== undefined || f.ip !== undefined) problems.push({ path: [...path, f.vm !== undefined ? 'vm' : 'ip'], message: `a ${f.type} fault takes a node, not a vm or ip` });
    if (f.node === undefined) {
      if (f.type !== 'firewall-drop') problems.push({ path: [...path, 'type'], message: `a ${f.type} fault needs a node` });
      return;
    }
    const node = s.nodes[f.node];
    if (!node) {
      problems.push({ path: [...path, 'node'], message: `no node "${f.node}"` });
      return;
    }
    const dhcp = s.nova.network_manager === FLAT_DHCP_MANAGER && (s.nova.multi_host || node.role === 'network');
    if ((f.type === 'bridge-without-address' || f.type === 'dhcp-unfiltered' || f.type === 'ip-forward-off' || f.type === 'dnsmasq-no-address') && !dhcp) {
      problems.push({ path: [...path, 'node'], message: `${f.node} runs no nova-network gateway or dnsmasq here: a ${f.type} fault changes nothing` });
    }
  });
}
