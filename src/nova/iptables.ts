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
import { ruleKey } from '../net/iptables-save.js';
import { behaviour, DEFAULT_RELEASE } from './releases.js';

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

/** The allow_same_net_traffic accept of an instance chain (IptablesFirewallDriver), as nova wrote it and iptables-save prints it. */
export function sameNetAcceptRule(chain: string, cidr: string): string {
  return `-A ${chain} -s ${cidr} -j ACCEPT`;
}

/**
 * That accept (IptablesFirewallDriver's
 * `-s <fixed range> -j ACCEPT`), recognised by its canonical key: the one recogniser, for
 * a rule read from iptables-save (compare, diagnose) as for one the plan rendered.
 */
export function isSameNetAccept(rule: { key: string }, cidr: string): boolean {
  return rule.key === ruleKey(['-s', cidr, '-j', 'ACCEPT']);
}

/** The same, for a rule line as iptables-save prints it (`-A chain args`). */
export function isSameNetAcceptLine(line: string, chain: string, cidr: string): boolean {
  const [a, c, ...args] = line.trim().split(/\s+/);
  return a === '-A' && c === chain && isSameNetAccept({ key: ruleKey(args) }, cidr);
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

/**
 * nova-network's SNAT of the fixed range, in the release's form (linux_net.add_snat_rule):
 * Essex `-s R -j SNAT --to-source S`; Folsom and Grizzly with ` -o <public_interface>`;
 * Havana `-s R -d D -j SNAT --to-source S -o <public_interface>`, one rule per D
 * (force_snat_range, else 0.0.0.0/0).
 */
export function snatRules(range: string, toSource: string, outInterface: string | null, destinations: string[] | null): string[] {
  const out = outInterface ? ` -o ${outInterface}` : '';
  if (destinations === null) return [`-A ${NETWORK}-snat -s ${range} -j SNAT --to-source ${toSource}${out}`];
  return destinations.map((d) => `-A ${NETWORK}-snat -s ${range} -d ${d} -j SNAT --to-source ${toSource}${out}`);
}

/**
 * nova-network's nat rules for one floating address (linux_net.floating_forward_rules,
 * as ensure_floating_forward added them), in the release's form (releases.ts,
 * floatingForward): the DNAT of the floating address in PREROUTING and OUTPUT, the SNAT of
 * the instance's own traffic to it in float-snat (Essex without -o; Folsom -o device;
 * Grizzly also a rule with -d the fixed address, for an instance reaching its own floating
 * address), and Havana's SNAT of replies to DNATed connections in POSTROUTING. In nova's
 * order within each chain.
 */
export function floatingForwardRules(form: 'no-device' | 'device' | 'device-and-fixed' | 'device-fixed-postrouting', floating: string, fixed: string, device: string): string[] {
  const snat = `-A ${NETWORK}-float-snat -s ${fixed} -j SNAT --to ${floating}`;
  const floatSnat = form === 'no-device' ? [snat] : form === 'device' ? [`${snat} -o ${device}`] : [`${snat} -d ${fixed}`, `${snat} -o ${device}`];
  return [
    ...floatSnat,
    `-A ${NETWORK}-PREROUTING -d ${floating} -j DNAT --to ${fixed}`,
    `-A ${NETWORK}-OUTPUT -d ${floating} -j DNAT --to ${fixed}`,
    ...(form === 'device-fixed-postrouting' ? [`-A ${NETWORK}-POSTROUTING -s ${fixed} -m conntrack --ctstate DNAT -j SNAT --to-source ${floating}`] : []),
  ];
}

/** The first SNAT rule in the release's form, for callers that know only the range, my_ip and public_interface. */
export function snatRule(cidr: string, myIp: string, publicInterface: string, release: Release = DEFAULT_RELEASE): string {
  const form = behaviour('snatRule', release);
  return snatRules(cidr, myIp, form === 'no-interface' ? null : publicInterface, form === 'interface-any-dest' ? ['0.0.0.0/0'] : null)[0]!;
}

/** A SNAT rule's -s, -d and -o, read back from its text (the diagnosis explains a rule that matched nothing). */
export function snatRuleParts(rule: string): { source: string | null; destination: string | null; out: string | null } {
  return {
    source: / -s (\S+)/.exec(rule)?.[1] ?? null,
    destination: / -d (\S+)/.exec(rule)?.[1] ?? null,
    out: / -o (\S+)/.exec(rule)?.[1] ?? null,
  };
}

/**
 * share_dhcp_address: what keeps every node's copy of the gateway off the wire
 * (linux_net.isolate_dhcp_address, 2013.1-2013.2): no ARP for it or from it across
 * flat_interface (ebtables, each `-D` then `-I` by ensure_ebtables_rules: on a fresh node
 * only the insert does anything), and at the top of nova-network-FORWARD no DHCP
 * broadcast and no IP to or from it across flat_interface (iptables_drop_action DROP).
 */
export function isolateDhcpAddress(iface: string, address: string): { ebtables: string[][]; forward: string[] } {
  return {
    ebtables: [
      ['ebtables', '-t', 'filter', '-I', 'INPUT', '-p', 'ARP', '-i', iface, '--arp-ip-dst', address, '-j', 'DROP'],
      ['ebtables', '-t', 'filter', '-I', 'OUTPUT', '-p', 'ARP', '-o', iface, '--arp-ip-src', address, '-j', 'DROP'],
    ],
    forward: [
      `-m physdev --physdev-in ${iface} -d 255.255.255.255 -p udp --dport 67 -j DROP`,
      `-m physdev --physdev-out ${iface} -d 255.255.255.255 -p udp --dport 67 -j DROP`,
      `-m physdev --physdev-in ${iface} -d ${address} -j DROP`,
      `-m physdev --physdev-out ${iface} -s ${address} -j DROP`,
    ],
  };
}

/** The metadata service's address nova-network DNATs to the node (not modelled: no metadata service in a lab). */
export const METADATA_ADDRESS = '169.254.169.254';

/**
 * linux_net._add_dhcp_mangle_rule (2013.1-2013.2, from restart_dhcp when the network is
 * multi_host and the host has /dev/vhost-net): DHCP replies leaving through the bridge get
 * their UDP checksum filled in, since a vhost-net guest was handed them unchecksummed
 * and dropped them. In nova-network's wrapped mangle POSTROUTING.
 */
export function dhcpChecksumFillRule(dev: string): string {
  return `-A ${NETWORK}-POSTROUTING -o ${dev} -p udp -m udp --dport 68 -j CHECKSUM --checksum-fill`;
}
