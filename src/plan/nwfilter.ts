/**
 * libvirt's nwfilter on each guest's tap, as nova-compute's libvirt driver asked for it
 * (nova/virt/libvirt/firewall.py, NWFilterFirewall: every instance filter references
 * `nova-base` = no-mac-spoofing, no-ip-spoofing, no-arp-spoofing, allow-dhcp-server;
 * nova-network.md §7). libvirt realises a filter as ebtables rules in a chain per tap,
 * `libvirt-I-<tap>` for what the guest sends, jumped to from the nat table's PREROUTING;
 * flatlab writes the same rules with the same chain names inside each node.
 *
 * Where flatlab differs: libvirt's exact rule text varies by libvirt version (its chains
 * also hold the protocol dispatch and the nova-no-nd-reflection of IPv6); these are the
 * rules with the effect of nova-base on IPv4. allow-dhcp-server (which only accepts, and
 * has no rule that drops another server) is not rendered.
 */
import type { VmPlan } from './types.js';

/** The chain libvirt gives what a guest sends through its tap. */
export function nwfilterChain(tap: string): string {
  return `libvirt-I-${tap}`;
}

/** One ebtables command line per rule, in order, for a node's guests. */
export function renderNwfilter(vms: Pick<VmPlan, 'tap' | 'mac' | 'ip'>[]): string[][] {
  const out: string[][] = [];
  for (const vm of vms) {
    const chain = nwfilterChain(vm.tap);
    const rule = (...r: string[]): void => void out.push(['ebtables', '-t', 'nat', '-A', chain, ...r]);
    out.push(['ebtables', '-t', 'nat', '-N', chain], ['ebtables', '-t', 'nat', '-A', 'PREROUTING', '-i', vm.tap, '-j', chain]);
    // no-mac-spoofing: the guest's frames carry its own MAC
    rule('-s', '!', vm.mac, '-j', 'DROP');
    // no-ip-spoofing: its own address only, but for the DHCP request of a guest that has none yet
    rule('-p', 'IPv4', '--ip-src', '0.0.0.0', '--ip-proto', 'udp', '--ip-sport', '68', '--ip-dport', '67', '-j', 'RETURN');
    rule('-p', 'IPv4', '--ip-src', '!', vm.ip, '-j', 'DROP');
    // no-arp-spoofing: ARP from its own MAC and address
    rule('-p', 'ARP', '--arp-mac-src', '!', vm.mac, '-j', 'DROP');
    rule('-p', 'ARP', '--arp-ip-src', '!', vm.ip, '-j', 'DROP');
  }
  return out;
}
