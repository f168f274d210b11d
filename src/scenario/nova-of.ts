/**
 * A scenario read as nova read its configuration: a node's own nova.conf, and the
 * options whose meaning depends on others (the planner and the rules both ask).
 */
import { behaviour } from '../nova/releases.js';
import type { FieldPath } from './problem.js';
import { FLAT_DHCP_MANAGER, type Scenario } from './schema.js';

/** A node's nova.conf: the scenario's, with the node's own options over it. */
export function novaOf(s: Scenario, node: string): Scenario['nova'] {
  const own = s.nodes[node]?.nova ?? {};
  return { ...s.nova, ...Object.fromEntries(Object.entries(own).filter(([, v]) => v !== undefined)) };
}

/** Where a node's option was set: its own nova: block, else the scenario's. */
export function optionPath(s: Scenario, node: string, opt: string): FieldPath {
  return (s.nodes[node]?.nova as Record<string, unknown> | undefined)?.[opt] !== undefined ? ['nodes', node, 'nova', opt] : ['nova', opt];
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

export { DEFAULT_GROUP } from './schema.js';

/** `group NAME` as a rule source. */
export function groupSource(from: string): string | undefined {
  return /^group\s+(\S+)$/.exec(from)?.[1];
}
