/**
 * nova's iptables vocabulary, written once: the wrapped chain names of each nova
 * process's IptablesManager (nova/network/linux_net.py IptablesManager, binary_name
 * nova-network / nova-compute), the instance chains of nova-compute's
 * IptablesFirewallDriver (nova/virt/firewall.py, `nova-compute-inst-<instances.id>`) and
 * the rules whose text other modules must recognise. The renderer (plan/firewall.ts)
 * writes with these; the oracle, the confirmation of drops, the diagnosis and `compare`
 * read with them. Rule text is as iptables-restore takes it from nova.
 */
import type { Release } from './releases.js';
import { behaviour } from './releases.js';

export const NETWORK = 'nova-network';
export const COMPUTE = 'nova-compute';
/** the chain both nova processes hook FORWARD and OUTPUT into (IptablesManager's top chain) */
export const FILTER_TOP = 'nova-filter-top';
/** chains each process wraps under its own binary name */
export const WRAPPED = ['INPUT', 'OUTPUT', 'FORWARD', 'local'] as const;
/** nova-compute's chain that sends traffic for each local instance into its chain (by -d) */
export const COMPUTE_LOCAL = `${COMPUTE}-local`;
export const PROVIDER_CHAIN = `${COMPUTE}-provider`;
/** nova-compute's last chain: whatever no instance rule accepted is dropped there */
export const FALLBACK_CHAIN = `${COMPUTE}-sg-fallback`;
export const FALLBACK_DROP = `-A ${FALLBACK_CHAIN} -j DROP`;

/** `nova-compute-inst-<instances.id>` */
export function instanceChain(vm: { instanceId: number }): string {
  return `${COMPUTE}-inst-${vm.instanceId}`;
}
/** an instance chain's name */
export const INSTANCE_CHAIN = /^nova-compute-inst-\d+$/;

/** The allow_same_net_traffic accept of an instance chain (IptablesFirewallDriver), as iptables-save prints it. */
export function sameNetAcceptRule(chain: string, cidr: string): string {
  return `-A ${chain} -s ${cidr} -j ACCEPT`;
}

/** A rule that sends packets into nova's fallback (which drops them). */
export function jumpsToFallback(rule: string): boolean {
  return new RegExp(`-j ${FALLBACK_CHAIN}\\b`).test(rule);
}

/** nova-compute's accept of a guest's DHCP discover (INPUT and FORWARD). */
export const DHCP_DISCOVER_ACCEPT = '-s 0.0.0.0/32 -d 255.255.255.255/32 -p udp -m udp --sport 68 --dport 67 -j ACCEPT';

/** An instance chain's accept of its DHCP server's replies. */
export function dhcpReplyAccept(server: string): string {
  return `-s ${server} -p udp --sport 67 --dport 68 -j ACCEPT`;
}

/** nova-network's SNAT of the fixed range, in the release's form (linux_net.add_snat_rule). */
export function snatRule(cidr: string, myIp: string, publicInterface: string, release: Release = 'havana'): string {
  const form = behaviour('snatRule', release);
  if (form === 'no-interface') return `-A ${NETWORK}-snat -s ${cidr} -j SNAT --to-source ${myIp}`;
  if (form === 'interface') return `-A ${NETWORK}-snat -s ${cidr} -j SNAT --to-source ${myIp} -o ${publicInterface}`;
  return `-A ${NETWORK}-snat -s ${cidr} -d 0.0.0.0/0 -j SNAT --to-source ${myIp} -o ${publicInterface}`;
}

/** The metadata service's address nova-network DNATs to the node (not modelled: no metadata service in a lab). */
export const METADATA_ADDRESS = '169.254.169.254';
