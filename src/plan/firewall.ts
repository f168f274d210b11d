/**
 * A node's iptables filter (and nat) tables as nova left them (nova-network.md §5),
 * rendered as iptables-restore input: one restore per node namespace applies it.
 *
 * Two nova processes ran on every multi_host node, each with its own wrapped chains:
 * nova-network (bridge FORWARD accepts, DHCP/DNS INPUT accepts) and nova-compute's
 * IptablesFirewallDriver (a chain per instance, reached through nova-filter-top and
 * nova-compute-local by destination address, ending in nova-compute-sg-fallback).
 * Rule text is nova's own, so iptables-save shows what an operator saw.
 *
 * Where flatlab differs: nova-api-metadata's INPUT accept is not rendered, since the lab
 * has no metadata service; the mangle table only where it holds nova's DHCP checksum-fill
 * rule (renderMangle: vm guests on a machine with /dev/vhost-net); the nat table (SNAT to routing_source_ip, metadata forward) is
 * rendered only where the node has a way out (an external network), since without one
 * there is no my_ip to SNAT to; the provider chain is empty (no provider rules).
 */
import type { Release } from '../nova/releases.js';
import {
  COMPUTE,
  COMPUTE_LOCAL,
  DHCP_DISCOVER_ACCEPT,
  dhcpChecksumFillRule,
  dhcpReplyAccept,
  FALLBACK_CHAIN,
  floatingForwardRules,
  FILTER_TOP,
  instanceChain,
  isolateDhcpAddress,
  METADATA_ADDRESS,
  NETWORK,
  PROVIDER_CHAIN,
  sameNetAcceptRule,
  snatRules,
  WRAPPED,
} from '../nova/iptables.js';
import { behaviour, DEFAULT_RELEASE } from '../nova/releases.js';
import type { FirewallNode, NatPlan, NetworkPlan, RulePlan, VmPlan } from './types.js';

// the vocabulary's readers import it from here too
export { FALLBACK_CHAIN, instanceChain, sameNetAcceptRule, snatRule, snatRules } from '../nova/iptables.js';

/** nova's IptablesFirewallDriver._build_tcp_udp_rule / icmp handling, then the source. */
export function securityGroupRuleLines(rule: RulePlan, members: (group: string) => string[]): string[] {
  const args = ['-j ACCEPT', `-p ${rule.proto}`];
  if (rule.proto === 'tcp' || rule.proto === 'udp') {
    if (rule.fromPort === rule.toPort) args.push(`--dport ${rule.fromPort}`);
    else args.push(`-m multiport --dports ${rule.fromPort}:${rule.toPort}`);
  } else if (rule.icmpType !== undefined) {
    args.push(`-m icmp --icmp-type ${rule.icmpType}${rule.icmpCode !== undefined ? `/${rule.icmpCode}` : ''}`);
  }
  const sources = rule.group !== undefined ? members(rule.group) : [rule.cidr!];
  return sources.map((src) => `${args.join(' ')} -s ${src}`);
}

export interface FirewallInputs {
  node: FirewallNode;
  network: NetworkPlan;
  /** the VMs on this node */
  local: VmPlan[];
  /** every VM of the network, for group grants */
  all: VmPlan[];
  groups: Record<string, RulePlan[]>;
  /** whose nova rendered it (releases.ts): the SNAT rule's form */
  release?: Release;
}

export function renderFirewall(i: FirewallInputs): string {
  const chains = [
    FILTER_TOP,
    ...WRAPPED.map((c) => `${NETWORK}-${c}`),
    ...WRAPPED.map((c) => `${COMPUTE}-${c}`),
    PROVIDER_CHAIN,
    FALLBACK_CHAIN,
    ...i.local.map(instanceChain),
  ];
  const rules: string[] = [];
  const add = (chain: string, rule: string): void => {
    rules.push(`-A ${chain} ${rule}`);
  };
  // Skeleton of each nova process's IptablesManager (filter table).
  add('FORWARD', `-j ${FILTER_TOP}`);
  add('OUTPUT', `-j ${FILTER_TOP}`);
  for (const bin of [NETWORK, COMPUTE]) {
    add(FILTER_TOP, `-j ${bin}-local`);
    for (const c of ['INPUT', 'OUTPUT', 'FORWARD']) add(c, `-j ${bin}-${c}`);
  }
  const br = i.node.bridge;
  // share_dhcp_address: added with top=True, before anything else of nova-network's FORWARD
  if (i.node.isolate) for (const r of isolateDhcpAddress(i.node.isolate.iface, i.node.isolate.address).forward) add(`${NETWORK}-FORWARD`, r);
  if (i.node.isGateway) {
    // nova-network: ensure_bridge's forward accepts and the dnsmasq accepts.
    add(`${NETWORK}-FORWARD`, `-i ${br} -j ACCEPT`);
    add(`${NETWORK}-FORWARD`, `-o ${br} -j ACCEPT`);
    for (const [proto, port] of [['udp', 67], ['tcp', 67], ['udp', 53], ['tcp', 53]] as const) {
      add(`${NETWORK}-INPUT`, `-i ${br} -p ${proto} -m ${proto} --dport ${port} -j ACCEPT`);
    }
  } else if (i.network.manager === 'FlatDHCPManager') {
    // a compute-only node of a single-host network: nova-compute's plug_bridge made the
    // bridge and its forward accepts.
    add(`${COMPUTE}-FORWARD`, `-i ${br} -j ACCEPT`);
    add(`${COMPUTE}-FORWARD`, `-o ${br} -j ACCEPT`);
  }
  // nova-compute: DHCP discovers from guests (prepare_instance_filter, once an instance
  // chain has a DHCP accept: 2013.1 on), then one chain per local instance.
  const dhcpServer = i.node.dhcpServer;
  if (dhcpServer && i.local.length > 0 && behaviour('dhcpRequestAccept', i.release ?? DEFAULT_RELEASE)) {
    add(`${COMPUTE}-INPUT`, DHCP_DISCOVER_ACCEPT);
    add(`${COMPUTE}-FORWARD`, DHCP_DISCOVER_ACCEPT);
  }
  const members = (group: string): string[] => i.all.filter((v) => v.securityGroups.includes(group)).map((v) => v.ip);
  for (const vm of i.local) {
    const chain = instanceChain(vm);
    add(COMPUTE_LOCAL, `-d ${vm.ip} -j ${chain}`);
    add(chain, '-m state --state INVALID -j DROP');
    add(chain, '-m state --state ESTABLISHED,RELATED -j ACCEPT');
    add(chain, `-j ${PROVIDER_CHAIN}`);
    if (dhcpServer) add(chain, dhcpReplyAccept(dhcpServer));
    if (i.network.allowSameNetTraffic) rules.push(sameNetAcceptRule(chain, i.network.cidr));
    for (const g of vm.securityGroups) {
      for (const rule of i.groups[g] ?? []) for (const line of securityGroupRuleLines(rule, members)) add(chain, line);
    }
    add(chain, `-j ${FALLBACK_CHAIN}`);
  }
  add(FALLBACK_CHAIN, '-j DROP');

  return [
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ...chains.map((c) => `:${c} - [0:0]`),
    ...rules,
    'COMMIT',
    ...(i.node.isGateway && i.node.nat ? renderNat(i.node.nat) : []),
    ...(i.node.dhcpChecksumFill ? renderMangle(i.node.bridge) : []),
    '',
  ].join('\n');
}

/**
 * nova-network's mangle table where restart_dhcp added the DHCP checksum-fill rule
 * (linux_net._add_dhcp_mangle_rule, 2013.1-2013.2). Where flatlab differs: from 2013.1
 * each nova process's IptablesManager also wrapped mangle POSTROUTING when there was no
 * rule to put in it (an empty chain per process); those empty chains are not rendered.
 */
export function renderMangle(bridge: string): string[] {
  return [
    '*mangle',
    ':PREROUTING ACCEPT [0:0]',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    `:${NETWORK}-POSTROUTING - [0:0]`,
    `-A POSTROUTING -j ${NETWORK}-POSTROUTING`,
    dhcpChecksumFillRule(bridge),
    'COMMIT',
  ];
}

/**
 * nova-network's nat table on a gateway node (linux_net.init_host, add_snat_rule,
 * metadata_forward): traffic of the range leaving through public_interface is SNATed to
 * routing_source_ip; traffic to metadata_host, to a dmz_cidr or inside the range is not
 * (nova-network-POSTROUTING runs before nova-postrouting-bottom); the metadata address
 * is forwarded to metadata_host. The range is what nova built it from (NatPlan.range):
 * the fixed_range option up to Grizzly, not necessarily the network.
 */
export function renderNat(n: NatPlan): string[] {
  const chains = ['PREROUTING', 'OUTPUT', 'POSTROUTING', 'snat', 'float-snat'].map((c) => `${NETWORK}-${c}`);
  const meta = `-A ${NETWORK}-PREROUTING -s 0.0.0.0/0 -d ${METADATA_ADDRESS}/32 -p tcp -m tcp --dport 80`;
  return [
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':INPUT ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    ...chains.map((c) => `:${c} - [0:0]`),
    ':nova-postrouting-bottom - [0:0]',
    `-A PREROUTING -j ${NETWORK}-PREROUTING`,
    `-A OUTPUT -j ${NETWORK}-OUTPUT`,
    `-A POSTROUTING -j ${NETWORK}-POSTROUTING`,
    '-A POSTROUTING -j nova-postrouting-bottom',
    `-A nova-postrouting-bottom -j ${NETWORK}-snat`,
    `-A ${NETWORK}-snat -j ${NETWORK}-float-snat`,
    ...snatRules(n.range, n.toSource, n.outInterface, n.destinations),
    `-A ${NETWORK}-POSTROUTING -s ${n.range} -d ${n.metadataHost}/32 -j ACCEPT`,
    ...n.dmz.map((d) => `-A ${NETWORK}-POSTROUTING -s ${n.range} -d ${d} -j ACCEPT`),
    `-A ${NETWORK}-POSTROUTING -s ${n.range} -d ${n.range} -m conntrack ! --ctstate DNAT -j ACCEPT`,
    n.metadataForward === 'redirect' ? `${meta} -j REDIRECT --to-ports ${n.metadataPort}` : `${meta} -j DNAT --to-destination ${n.metadataHost}:${n.metadataPort}`,
    // associated floating addresses, added after init_host's rules (ensure_floating_forward)
    ...n.floating.flatMap((f) => floatingForwardRules(n.floatingForm, f.ip, f.fixed, f.device)),
    'COMMIT',
  ];
}
