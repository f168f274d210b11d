/**
 * The rules of the scenario's other parts: the manager and its hosts, security groups,
 * faults and the expect: block.
 */
import { cidrContains, type Cidr } from '../net/ipv4.js';
import { DEFAULT_GROUP, groupSource } from './nova-of.js';
import type { FieldPath, Problem } from './problem.js';
import { EXTERNAL_SOURCE, FLAT_DHCP_MANAGER, FLAT_MANAGER, NODE_SOURCE, type Scenario } from './schema.js';
import { parseCidr } from '../net/ipv4.js';

export function checkManager(s: Scenario, problems: Problem[]): void {
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

export function checkSecurityGroups(s: Scenario, problems: Problem[]): void {
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

export function checkFaults(s: Scenario, problems: Problem[]): void {
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

export function checkExpect(s: Scenario, net: Cidr | undefined, problems: Problem[]): void {
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
