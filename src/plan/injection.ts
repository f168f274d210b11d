/**
 * FlatManager with flat_injected: nova mounted the guest image before boot and wrote
 * its network configuration into /etc/network/interfaces (Debian's interfaces(5)
 * format, the stanza nova's injection template produced in the Folsom era).
 */
import { behaviour, type Release, DEFAULT_RELEASE } from '../nova/releases.js';

export interface InjectedNic {
  name: string;
  address: string;
  netmask: string;
  broadcast: string;
  gateway: string | null;
  dns: string;
}

export function renderInterfaces(nic: InjectedNic, release: Release = DEFAULT_RELEASE): string {
  // up to Grizzly nova's Cheetah template wrote the gateway line whatever it held (Python's
  // None prints as "None"); Havana's Jinja2 template only when there is one
  const gateway = nic.gateway ? [`        gateway ${nic.gateway}`] : behaviour('injectedGateway', release) === 'always' ? ['        gateway None'] : [];
  return [
    '# Network configuration injected into the guest before boot (nova flat_injected).',
    '',
    '# The loopback network interface',
    'auto lo',
    'iface lo inet loopback',
    '',
    `auto ${nic.name}`,
    `iface ${nic.name} inet static`,
    `        address ${nic.address}`,
    `        netmask ${nic.netmask}`,
    `        broadcast ${nic.broadcast}`,
    ...gateway,
    `        dns-nameservers ${nic.dns}`,
    '',
  ].join('\n');
}

/** Where in a guest's files the config goes (relative to the guest's root). */
export const INTERFACES_PATH = 'etc/network/interfaces';
