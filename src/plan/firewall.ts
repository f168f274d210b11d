/**
 * A node's iptables filter table as nova left it (nova-network.md §5), rendered as
 * iptables-restore input: one restore per node namespace applies it.
 *
 * Two nova processes ran on every multi_host node, each with its own wrapped chains:
 * nova-network (bridge FORWARD accepts, DHCP/DNS INPUT accepts) and nova-compute's
 * IptablesFirewallDriver (a chain per instance, reached through nova-filter-top and
 * nova-compute-local by destination address, ending in nova-compute-sg-fallback).
 * Rule text is nova's own, so iptables-save shows what an operator saw.
 *
 * Where flatlab differs: nova-api-metadata's INPUT accept and the nat/mangle tables
 * (SNAT, metadata DNAT, DHCP checksum fill) are not rendered, since no metadata service
 * or way out exists in the lab; the provider chain is empty (no provider rules).
 */
import type { NetworkPlan, NodePlan, RulePlan, VmPlan } from './types.js';

const NETWORK = 'nova-network';
const COMPUTE = 'nova-compute';
const WRAPPED = ['INPUT', 'OUTPUT', 'FORWARD', 'local'];

export function instanceChain(vm: Pick<VmPlan, 'instanceId'>): string {
  return `${COMPUTE}-inst-${vm.instanceId}`;
}

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
  node: Pick<NodePlan, 'bridge' | 'bridgeIp'>;
  network: NetworkPlan;
  /** the VMs on this node */
  local: VmPlan[];
  /** every VM of the network, for group grants */
  all: VmPlan[];
  groups: Record<string, RulePlan[]>;
}

export function renderFirewall(i: FirewallInputs): string {
  const chains = [
    'nova-filter-top',
    ...WRAPPED.map((c) => `${NETWORK}-${c}`),
    ...WRAPPED.map((c) => `${COMPUTE}-${c}`),
    `${COMPUTE}-provider`,
    `${COMPUTE}-sg-fallback`,
    ...i.local.map(instanceChain),
  ];
  const rules: string[] = [];
  const add = (chain: string, rule: string): void => {
    rules.push(`-A ${chain} ${rule}`);
  };
  // Skeleton of each nova process's IptablesManager (filter table).
  add('FORWARD', '-j nova-filter-top');
  add('OUTPUT', '-j nova-filter-top');
  for (const bin of [NETWORK, COMPUTE]) {
    add('nova-filter-top', `-j ${bin}-local`);
    for (const c of ['INPUT', 'OUTPUT', 'FORWARD']) add(c, `-j ${bin}-${c}`);
  }
  // nova-network: ensure_bridge's forward accepts and the dnsmasq accepts.
  const br = i.node.bridge;
  add(`${NETWORK}-FORWARD`, `-i ${br} -j ACCEPT`);
  add(`${NETWORK}-FORWARD`, `-o ${br} -j ACCEPT`);
  if (i.node.bridgeIp) {
    for (const [proto, port] of [['udp', 67], ['tcp', 67], ['udp', 53], ['tcp', 53]] as const) {
      add(`${NETWORK}-INPUT`, `-i ${br} -p ${proto} -m ${proto} --dport ${port} -j ACCEPT`);
    }
  }
  // nova-compute: DHCP discovers from guests, then one chain per local instance.
  const dhcpServer = i.node.bridgeIp;
  if (dhcpServer && i.local.length > 0) {
    const discover = '-s 0.0.0.0/32 -d 255.255.255.255/32 -p udp -m udp --sport 68 --dport 67 -j ACCEPT';
    add(`${COMPUTE}-INPUT`, discover);
    add(`${COMPUTE}-FORWARD`, discover);
  }
  const members = (group: string): string[] => i.all.filter((v) => v.securityGroups.includes(group)).map((v) => v.ip);
  for (const vm of i.local) {
    const chain = instanceChain(vm);
    add(`${COMPUTE}-local`, `-d ${vm.ip} -j ${chain}`);
    add(chain, '-m state --state INVALID -j DROP');
    add(chain, '-m state --state ESTABLISHED,RELATED -j ACCEPT');
    add(chain, `-j ${COMPUTE}-provider`);
    if (dhcpServer) add(chain, `-s ${dhcpServer} -p udp --sport 67 --dport 68 -j ACCEPT`);
    if (i.network.allowSameNetTraffic) add(chain, `-s ${i.network.cidr} -j ACCEPT`);
    for (const g of vm.securityGroups) {
      for (const rule of i.groups[g] ?? []) for (const line of securityGroupRuleLines(rule, members)) add(chain, line);
    }
    add(chain, `-j ${COMPUTE}-sg-fallback`);
  }
  add(`${COMPUTE}-sg-fallback`, '-j DROP');

  return [
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ...chains.map((c) => `:${c} - [0:0]`),
    ...rules,
    'COMMIT',
    '',
  ].join('\n');
}
