/**
 * The network and the option: two values nova kept apart. `nova-manage network create`
 * made the network (its cidr, gateway, dhcp_start, dns1/dns2: the networks row), from
 * which nova took addresses, dnsmasq's range and the bridge's address. nova-network's
 * init_host built the SNAT rule and the POSTROUTING accepts from the `fixed_range`
 * option (nova/network/linux_net.py init_host at 2012.1 and 2012.2: `if not ip_range:
 * ip_range = FLAGS.fixed_range`; nova/network/manager.py FlatDHCPManager.init_host at
 * 2013.1: the option unless it is empty, then each network's cidr; 2013.2: each
 * network's cidr, the option gone). Install guides that set the two apart built a
 * cluster whose SNAT never matched: flatlab must build the same.
 */
import { parseCidr, type Cidr } from '../net/ipv4.js';
import { behaviour, type Release } from '../nova/releases.js';
import type { Scenario } from './schema.js';

/** nova's default for the option (nova/network/manager.py network_opts, 2012.1-2013.1) */
export const FIXED_RANGE_DEFAULT = '10.0.0.0/8';

/**
 * A CIDR as netaddr and iptables took it: host bits allowed (`172.31.248.32/23` is the
 * /23 that holds it), with the canonical text and whether bits were dropped.
 */
export function parseCidrAsNova(text: string): { cidr: Cidr; hostBits: boolean } | string {
  const strict = parseCidr(text);
  if (typeof strict !== 'string') return { cidr: strict, hostBits: false };
  const m = /the network is (\S+)$/.exec(strict);
  if (!m) return strict;
  const cidr = parseCidr(m[1]!);
  return typeof cidr === 'string' ? cidr : { cidr, hostBits: true };
}

/** The network's cidr as written: `network.cidr`, else the option (older scenarios). */
export function networkCidrText(s: Pick<Scenario, 'network' | 'nova'>): string | undefined {
  const own = s.network.cidr;
  if (own !== undefined) return own;
  return s.nova.fixed_range === '' ? undefined : s.nova.fixed_range;
}

/** The network's cidr, parsed (the loader has validated it). */
export function networkCidr(s: Pick<Scenario, 'network' | 'nova'>): Cidr {
  return (parseCidrAsNova(networkCidrText(s)!) as { cidr: Cidr }).cidr;
}

export interface SnatRange {
  /** the range nova-network's nat rules name (-s), canonical */
  cidr: string;
  /** where it came from, in words, for the oracle's reasons */
  from: string;
}

/** The range nova-network's SNAT and POSTROUTING accepts were built from, in this release. */
export function snatRangeOf(s: Pick<Scenario, 'network' | 'nova'>, release: Release): SnatRange {
  const network = networkCidr(s).text;
  const form = behaviour('snatRange', release);
  const option = s.nova.fixed_range;
  if (form === 'network') return { cidr: network, from: "the network's cidr (Havana built it per network)" };
  if (form === 'option-unless-empty' && option === '') return { cidr: network, from: "the network's cidr (fixed_range is empty)" };
  if (option === undefined) return { cidr: FIXED_RANGE_DEFAULT, from: `fixed_range's default ${FIXED_RANGE_DEFAULT} (nova.conf sets none)` };
  const parsed = parseCidrAsNova(option);
  return { cidr: typeof parsed === 'string' ? option : parsed.cidr.text, from: `the fixed_range option (${option})` };
}
