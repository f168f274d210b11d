/** The scenario format's smallest parts: names, interface names, addresses and MACs as the kernel and nova take them. */
import { z } from 'zod';
import { isIpv4 } from '../net/ipv4.js';

/**
 * Node and VM names become network-namespace names, fabric port names and hostnames,
 * so they must be valid Linux interface names (at most 15 characters, IFNAMSIZ - 1).
 */
export const NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,14}$/;
export const NAME_RULE = 'must start with a letter and hold at most 15 letters, digits, "_" or "-" (it becomes an interface name)';

export const nameSchema = z.string().regex(NAME_PATTERN, NAME_RULE);

/** Interface names set by nova.conf options (bridge, flat_interface). */
export const ifnameSchema = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_.-]{0,14}$/, 'is not a valid interface name (1-15 characters: letters, digits, "_", "-", ".")')
  .refine((s) => s !== 'lo', 'cannot be the loopback interface');

/** an address in the one form nova and iproute2 both print (net/ipv4.ts, the one validator) */
export const ipv4Schema = z.string().refine(isIpv4, 'is not an IPv4 address (a.b.c.d)');

export const macSchema = z
  .string()
  // both cases spelt out: the JSON Schema's pattern has no flags
  .regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, 'is not a MAC address (xx:xx:xx:xx:xx:xx)')
  .refine((s) => (parseInt(s.slice(0, 2), 16) & 1) === 0, 'is a multicast MAC; a NIC needs a unicast one')
  .transform((s) => s.toLowerCase());
