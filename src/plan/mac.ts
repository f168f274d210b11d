/**
 * Guest MACs. nova draws random `fa:16:3e:xx:xx:xx` addresses (nova/utils.py
 * generate_mac_address); flatlab derives the three random bytes from the scenario and
 * VM names instead, so a plan, its hosts files and its results are reproducible.
 */
import { createHash } from 'node:crypto';

export const NOVA_OUI = 'fa:16:3e';

export function deterministicMac(scenario: string, vm: string, taken: Set<string>): string {
  for (let salt = 0; ; salt++) {
    const h = createHash('sha256').update(`${scenario}/${vm}/${salt}`).digest();
    const mac = `${NOVA_OUI}:${hex(h[0]!)}:${hex(h[1]!)}:${hex(h[2]!)}`;
    if (!taken.has(mac)) return mac;
  }
}

/**
 * libvirt gives the host side of a guest NIC the guest MAC with the first byte set to
 * 0xfe, so the bridge never takes a tap's address as its own.
 */
export function tapMacFor(guestMac: string): string {
  return `fe${guestMac.slice(2)}`;
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}

/**
 * A node NIC's MAC: 52:54:00 (QEMU's prefix: the operators' compute nodes were often
 * VMs themselves) plus three bytes from the scenario, node and NIC names.
 */
export function nodeNicMac(scenario: string, node: string, nic: string): string {
  const h = createHash('sha256').update(`${scenario}/${node}/${nic}`).digest();
  return `52:54:00:${hex(h[0]!)}:${hex(h[1]!)}:${hex(h[2]!)}`;
}
