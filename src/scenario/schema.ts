/**
 * The scenario file format, as a zod schema. zod gives typed output, a path for every
 * problem (mapped back to file:line:column by the loader) and, later, a JSON Schema
 * for editors generated from this one definition.
 *
 * Structural rules live here; rules that relate fields to each other (a VM's host must
 * exist, an address must lie in fixed_range) live in semantics.ts.
 */
import { z } from 'zod';
import { RELEASES, DEFAULT_RELEASE } from '../nova/releases.js';
import { BACKENDS, ENGINE_NAME } from '../backends.js';
import { ifnameSchema, ipv4Schema, macSchema, NAME_PATTERN, nameSchema } from './primitives.js';

export { ifnameSchema, macSchema, NAME_PATTERN, nameSchema } from './primitives.js';

/** the one variant of a file that declares none (its results go straight into the run's folder) */
export const DEFAULT_VARIANT = 'default';

/** nova's `default` group always exists (an instance named no other had it); a scenario may give it rules. */
export const DEFAULT_GROUP = 'default';

export const FLAT_MANAGER = 'nova.network.manager.FlatManager';

/** What a guest is: a network namespace with busybox udhcpc (fast), or a QEMU VM with its own kernel on a tap (plan/guest-vm.ts). */
export const GUEST_KINDS = ['namespace', 'vm'] as const;
export type GuestKind = (typeof GUEST_KINDS)[number];
const memorySchema = z.number().int().min(64, 'a guest needs at least 64 MB').max(4096, 'at most 4096 MB a guest');
export const FLAT_DHCP_MANAGER = 'nova.network.manager.FlatDHCPManager';

/** nova.conf options flatlab models; names and defaults as nova's (nova-network.md §1). */
export const novaSchema = z.strictObject({
  network_manager: z.enum([FLAT_DHCP_MANAGER, FLAT_MANAGER]).default(FLAT_DHCP_MANAGER),
  /** nova's default is False; flatlab keeps it. */
  multi_host: z.boolean().default(false).describe('nova\'s default is False; flatlab keeps it.'),
  /**
   * the nova.conf option, not the network: nova-network built its SNAT rule and its
   * POSTROUTING accepts from it (linux_net.init_host) until Grizzly (empty: each network's
   * cidr, from 2013.1); Havana removed it. Absent: nova's default 10.0.0.0/8. The network
   * itself (addresses, dnsmasq, the bridge) is `network.cidr`, which defaults to this value.
   */
  fixed_range: z
    .string()
    .optional()
    .describe(
      "the nova.conf option, not the network: nova-network built its SNAT rule and its POSTROUTING accepts from it (linux_net.init_host) until Grizzly (empty: each network's cidr, from 2013.1); Havana removed it. Absent: nova's default 10.0.0.0/8. The network itself (addresses, dnsmasq, the bridge) is `network.cidr`, which defaults to this value.",
    ),
  flat_network_bridge: ifnameSchema.default('br100'),
  flat_interface: ifnameSchema.default('eth0'),
  /** FlatManager: write each guest's network config into its files before boot */
  flat_injected: z.boolean().default(false).describe('FlatManager: write each guest\'s network config into its files before boot'),
  /** the DNS server injected into guests (FlatManager) */
  flat_network_dns: ipv4Schema.default('8.8.4.4').describe('the DNS server injected into guests (FlatManager)'),
  /**
   * the NIC carrying the node's own address (my_ip) and the way out; nova's default
   * is eth0. The same as flat_network_bridge: one NIC per node (single interface).
   */
  public_interface: ifnameSchema.default('eth0').describe('the NIC carrying the node\'s own address (my_ip) and the way out; nova\'s default is eth0. The same as flat_network_bridge: one NIC per node (single interface).'),
  allow_same_net_traffic: z.boolean().default(true),
  /** dnsmasq refuses leases shorter than 120 s. */
  dhcp_lease_time: z.number().int().min(1, 'must be a positive number of seconds').default(120).describe('seconds, passed to dnsmasq as nova passed it; dnsmasq raises anything under 120 s to 120 s (built, with a warning)'),
  dhcp_domain: z
    .string()
    .regex(/^([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*)?$/, 'is not a domain name')
    .default('novalocal'),
  /** the SNAT rule's --to-source (linux_net.add_snat_rule); nova's default $my_ip, the node's own address */
  routing_source_ip: ipv4Schema.optional().describe("the SNAT rule's --to-source (linux_net.add_snat_rule); nova's default $my_ip, the node's own address"),
  /** destinations exempt from SNAT: one POSTROUTING accept each (linux_net.init_host); Essex's default 10.128.0.0/24, later none */
  dmz_cidr: z.array(z.string()).optional().describe("destinations exempt from SNAT: one POSTROUTING accept each (linux_net.init_host); Essex's default 10.128.0.0/24, later none"),
  /** where the metadata address is forwarded and exempt from SNAT (linux_net.metadata_forward, init_host); nova's default $my_ip */
  metadata_host: ipv4Schema.optional().describe("where the metadata address is forwarded and exempt from SNAT (linux_net.metadata_forward, init_host); nova's default $my_ip"),
  metadata_port: z.number().int().min(1).max(65535).default(8775),
  /** Havana: the destinations the SNAT rule names (-d), one rule each, instead of 0.0.0.0/0 (linux_net.add_snat_rule at 2013.2) */
  force_snat_range: z.array(z.string()).default([]).describe('Havana: the destinations the SNAT rule names (-d), one rule each, instead of 0.0.0.0/0 (linux_net.add_snat_rule at 2013.2)'),
  /** dnsmasq's upstream servers: --no-hosts --no-resolv --server=X each (linux_net.restart_dhcp, 2013.1 on) */
  dns_server: z.array(ipv4Schema).default([]).describe("dnsmasq's upstream servers: --no-hosts --no-resolv --server=X each (linux_net.restart_dhcp, 2013.1 on)"),
  /** hosts lines tagged net:NW-<vif id> and --dhcp-optsfile (linux_net._host_dhcp, restart_dhcp, 2012.1 on): only an instance's first network gives it a router */
  use_single_default_gateway: z.boolean().default(false).describe("hosts lines tagged net:NW-<vif id> and --dhcp-optsfile (linux_net._host_dhcp, restart_dhcp, 2012.1 on): only an instance's first network gives it a router"),
  /** multi_host, 2013.1 on: every node holds the network's gateway as its DHCP and router address, kept off the wire by ebtables and physdev rules (linux_net.isolate_dhcp_address) */
  share_dhcp_address: z.boolean().default(false).describe("multi_host, 2013.1 on: every node holds the network's gateway as its DHCP and router address, kept off the wire by ebtables and physdev rules (linux_net.isolate_dhcp_address)"),
  /** the network's dns1/dns2 as dnsmasq's upstream servers too (linux_net.restart_dhcp, 2013.1 on) */
  use_network_dns_servers: z.boolean().default(false).describe("the network's dns1/dns2 as dnsmasq's upstream servers too (linux_net.restart_dhcp, 2013.1 on)"),
});

/**
 * The network as `nova-manage network create` made it (the networks row): cidr, label,
 * gateway (.1), dhcp_start (.2), dns1 (flat_network_dns), dns2. Addresses, dnsmasq and
 * the bridge come from it; nova.fixed_range is the option nova-network read beside it.
 */
export const networkSchema = z.strictObject({
  /** --fixed_range_v4 (default: nova.fixed_range, so older scenarios keep their meaning) */
  cidr: z.string().optional().describe('--fixed_range_v4 (default: nova.fixed_range, so older scenarios keep their meaning)'),
  label: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, "_", "-" or "."').default('private'),
  /** --dhcp_start: the first address of dnsmasq's range (default: the cidr's .2) */
  dhcp_start: ipv4Schema.optional().describe("--dhcp_start: the first address of dnsmasq's range (default: the cidr's .2)"),
  /** --gateway (default: the cidr's .1); single host: the network host's bridge address */
  gateway: ipv4Schema.optional().describe("--gateway (default: the cidr's .1); single host: the network host's bridge address"),
  /** --dns1 (default: flat_network_dns) */
  dns1: ipv4Schema.optional().describe('--dns1 (default: flat_network_dns)'),
  dns2: ipv4Schema.optional().describe('the second DNS server (nova-manage --dns2)'),
});

// `compute1:` (no value) and `compute1: {}` both mean a node with defaults.
const nodeSchema = z.preprocess(
  (v) => v ?? {},
  z.strictObject({
    /** pins the node's bridge (gateway/DHCP) address instead of taking the next free one */
    bridge_ip: ipv4Schema.optional().describe('pins the node\'s bridge (gateway/DHCP) address instead of taking the next free one'),
    /** `network`: with multi_host false, the one node that runs nova-network's dnsmasq and routes */
    role: z.enum(['compute', 'network']).default('compute').describe('`network`: with multi_host false, the one node that runs nova-network\'s dnsmasq and routes'),
    /** nova.conf my_ip: the node's address on the external network (default: next free there) */
    my_ip: ipv4Schema.optional().describe('nova.conf my_ip: the node\'s address on the external network (default: next free there)'),
    /**
     * whether the node's OS brought flat_interface up (a stanza in /etc/network/interfaces,
     * as the install guides of the time said to write); before Havana nova's ensure_bridge
     * enslaved it without bringing it up
     */
    uplink_up: z.boolean().default(true).describe('whether the node\'s OS brought flat_interface up (a stanza in /etc/network/interfaces, as the install guides of the time said to write); before Havana nova\'s ensure_bridge enslaved it without bringing it up'),
    /**
     * this node's own nova.conf, for the options nodes differed in (heterogeneous
     * hardware: eth1 here, eth2 there); merged over the top-level nova: for this node
     */
    nova: z
      .strictObject({
        flat_interface: ifnameSchema.optional(),
        public_interface: ifnameSchema.optional(),
        allow_same_net_traffic: z.boolean().optional(),
        routing_source_ip: ipv4Schema.optional(),
        metadata_host: ipv4Schema.optional(),
      })
      .optional(),
  }),
);

/** `tcp/22`, `udp/53`: a socket listening in a guest. */
export const serviceSchema = z
  .string()
  .regex(/^(tcp|udp)\/\d{1,5}$/, 'must be "tcp/PORT" or "udp/PORT"')
  .refine((s) => {
    const port = Number(s.split('/')[1]);
    return port >= 1 && port <= 65535;
  }, 'port must be 1-65535');

const vmSchema = z.strictObject({
  /** the node it runs on: nova's instances.host */
  host: nameSchema.describe('the node it runs on: nova\'s instances.host'),
  ip: ipv4Schema.optional(),
  mac: macSchema.optional(),
  /** nova gave an instance the `default` group when none was named */
  security_groups: z.array(nameSchema).default([DEFAULT_GROUP]).describe('nova gave an instance the `default` group when none was named'),
  /**
   * the tcp/udp services that listen in the guest ("tcp/22", "udp/53"); default: every
   * port a probe aims at it. A port the firewall accepts with nothing listening answers
   * with a refusal (TCP reset, ICMP port unreachable).
   */
  services: z.array(serviceSchema).optional().describe('the tcp/udp services that listen in the guest ("tcp/22", "udp/53"); default: every port a probe aims at it. A port the firewall accepts with nothing listening answers with a refusal (TCP reset, ICMP port unreachable).'),
  /** this guest's kind, over the scenario's `guest` */
  guest: z.enum(GUEST_KINDS).optional().describe("this guest's kind, over the scenario's `guest`"),
  /** a vm guest's memory in MB, over the scenario's guest_memory */
  memory: memorySchema.optional().describe("a vm guest's memory in MB, over the scenario's guest_memory"),
});

export const PROTOCOLS = ['icmp', 'tcp', 'udp'] as const;
export const REACHABILITY = ['reachable', 'unreachable', 'refused'] as const;

const portSchema = z.number().int().min(1).max(65535);

/** `22` or `"1000-2000"` (nova's from_port/to_port). */
const portRangeSchema = z.union([
  portSchema,
  z
    .string()
    .regex(/^\d{1,5}-\d{1,5}$/, 'must be a port (22) or a range ("1000-2000")')
    .refine((s) => {
      const [a, b] = s.split('-').map(Number) as [number, number];
      return a >= 1 && b <= 65535 && a <= b;
    }, 'must be a range of ports 1-65535, low-high'),
]);

/**
 * A security group rule as nova stored it: protocol, port range (tcp/udp) or ICMP
 * type/code, and a source that is a CIDR or another group ("group NAME").
 */
const ruleSchema = z.strictObject({
  proto: z.enum(PROTOCOLS),
  port: portRangeSchema.optional(),
  /** ICMP type; absent = any type (nova's -1) */
  type: z.number().int().min(0).max(255).optional().describe('ICMP type; absent = any type (nova\'s -1)'),
  code: z.number().int().min(0).max(255).optional(),
  from: z.string().default('0.0.0.0/0'),
});

const securityGroupSchema = z.strictObject({
  description: z.string().optional(),
  rules: z.array(ruleSchema).default([]),
});

export const FAULT_TYPES = [
  'bridge-without-address',
  'ip-forward-off',
  'uplink-not-enslaved',
  'nic-promisc-deny',
  'firewall-drop',
  'dhcp-unfiltered',
  'bridge-nf-off',
  'dnsmasq-no-address',
  'forged-transmit-deny',
  'guest-spoofs-address',
] as const;

/** A real kernel change applied to a node (or a guest) at its phase (plan/faults.ts). */
const faultSchema = z.strictObject({
  type: z.enum(FAULT_TYPES),
  /** the node it hits (firewall-drop: default every node) */
  node: nameSchema.optional().describe('the node it hits (firewall-drop: default every node)'),
  /** guest-spoofs-address: the guest that sets an address by hand */
  vm: nameSchema.optional().describe('guest-spoofs-address: the guest that sets an address by hand'),
  /** guest-spoofs-address: the address it sets (default: the last host address of fixed_range) */
  ip: ipv4Schema.optional().describe('guest-spoofs-address: the address it sets (default: the last host address of fixed_range)'),
});

/** `node:compute1`: a check that starts in the node's own stack, not in its VMs */
export const NODE_SOURCE = /^node:([A-Za-z][A-Za-z0-9_-]{0,14})$/;
/** `external`: a check that starts at the external host (to a VM's floating address) */
export const EXTERNAL_SOURCE = 'external';

const checkSchema = z.strictObject({
  /** a VM, a node meaning each of its VMs, or node:NAME for the node's own stack */
  from: z
    .string()
    .refine((s) => NAME_PATTERN.test(s) || NODE_SOURCE.test(s), 'must be a VM, a node (each of its VMs), node:NAME (the node itself) or external')
    .describe("a VM, a node meaning each of its VMs, node:NAME for the node's own stack (its bridge address as source, its OUTPUT through nova-filter-top as in nova), or external: the external host, to the VM's floating address"),
  to: nameSchema,
  proto: z.enum(PROTOCOLS).default('icmp'),
  /** tcp and udp: the port probed (flatlab listens on it in the target VM) */
  port: portSchema.optional().describe('tcp and udp: the port probed (flatlab listens on it in the target VM)'),
  expect: z.enum(REACHABILITY),
});

/** `none`: the VM must hold no address / no default route */
const ipOrNone = ipv4Schema.or(z.literal('none'));

const expectSchema = z.strictObject({
  leases: z.record(nameSchema, ipOrNone).optional(),
  gateways: z.record(nameSchema, ipOrNone).optional(),
  /** VM -> the source address the external host must see, or none (no way out) */
  egress: z.record(nameSchema, ipOrNone).optional().describe('VM -> the source address the external host must see, or none (no way out)'),
  /** VM -> the node whose dnsmasq must hold its lease (default: its own, or the network host) */
  leased_by: z.record(nameSchema, nameSchema).optional().describe('VM -> the node whose dnsmasq must hold its lease (default: its own, or the network host)'),
  checks: z.array(checkSchema).optional(),
  /** every guest nova's dnsmasq serves renews its lease within the run (waits for T1, half the lease) */
  renewals: z.boolean().optional().describe("every guest nova's dnsmasq serves renews its lease within the run: dnsmasq's 'old' event for its MAC and the guest client's renew (the run waits for T1, half the lease, at least 60 s)"),
});

/** The way out: a network beyond the gateways, with one host to reach. */
const externalSchema = z.strictObject({
  cidr: z.string(),
  /** the host to reach (default: the first address of cidr) */
  host: ipv4Schema.optional().describe('the host to reach (default: the first address of cidr)'),
});

/** FlatManager: a DHCP server on the flat segment that nova does not manage. */
const dhcpServerSchema = z.strictObject({
  ip: ipv4Schema,
  /** the router it hands out (default: the network's gateway) */
  router: ipv4Schema.optional().describe('the router it hands out (default: the network\'s gateway)'),
});

export const scenarioSchema = z.strictObject({
  /** which backend builds it unless `--backend` says otherwise */
  backend: z.enum(BACKENDS).optional().describe('which backend builds it unless `--backend` says otherwise'),
  /** the nova release whose behaviour is built (nova/releases.ts): essex, folsom, grizzly, havana */
  release: z.enum(RELEASES).default(DEFAULT_RELEASE).describe('the nova release whose behaviour is built (nova/releases.ts): essex, folsom, grizzly, havana'),
  /** multi_host addresses: flatlab's rule (a node's first, then its VMs') or nova's order (a VM's first, then its node's; .1 reserved) */
  addressing: z.enum(['flatlab', 'nova']).default('flatlab').describe('multi_host addresses: flatlab\'s rule (a node\'s first, then its VMs\') or nova\'s order (a VM\'s first, then its node\'s; .1 reserved)'),
  /** names the results folder: results/<name>/<timestamp>/ */
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'must be 1-64 letters, digits, "_", "-" or "." (it names the results folder)').describe('names the results folder: results/<name>/<timestamp>/'),
  description: z.string().optional(),
  nova: novaSchema,
  network: networkSchema.default({ label: 'private' }),
  nodes: z.record(nameSchema, nodeSchema).refine((r) => Object.keys(r).length > 0, 'needs at least one node'),
  vms: z.record(nameSchema, vmSchema).default({}),
  security_groups: z.record(nameSchema, securityGroupSchema).default({}),
  external: externalSchema.optional(),
  /** VM -> its floating address on the external network (nova floating-ip-associate) */
  floating_ips: z
    .record(nameSchema, ipv4Schema)
    .optional()
    .describe('VM -> its floating address on the external network, as nova floating-ip-associate gave it: bound to public_interface of the node that routes the VM (its own with multi_host, else the network host), with nova-network\'s DNAT and float-snat rules'),
  dhcp_server: dhcpServerSchema.optional(),
  faults: z.array(faultSchema).default([]),
  /**
   * libvirt's nwfilter nova-base on every tap, as nova-compute's libvirt driver had it
   * (no MAC, IP or ARP spoofing: a guest's frames must carry its own MAC and address),
   * as ebtables rules inside each node
   */
  placement: z
    .record(nameSchema, z.string().regex(ENGINE_NAME, 'an engine name: a lowercase letter, then up to 7 lowercase letters or digits'))
    .optional()
    .describe('on several Docker engines (--engine NAME=URL): the engine a node runs on; nodes not named here are spread evenly. Ignored on one machine'),
  /** what the guests are: network namespaces with busybox udhcpc, or QEMU VMs with their own kernel on libvirt-style taps */
  guest: z.enum(GUEST_KINDS).default('namespace').describe('what the guests are: namespace (a network namespace with busybox udhcpc) or vm (QEMU with its own kernel and a virtio NIC on a tap, as libvirt plugged it; `flatlab image build --guest` makes its image)'),
  /** memory of each vm guest, MB */
  guest_memory: memorySchema.default(128).describe('memory of each vm guest, MB'),
  nwfilter: z.boolean().default(false).describe('libvirt\'s nwfilter nova-base on every tap, as nova-compute\'s libvirt driver had it (no MAC, IP or ARP spoofing: a guest\'s frames must carry its own MAC and address), as ebtables rules inside each node'),
  expect: expectSchema.optional(),
});

/**
 * A variant: a name plus overrides of the scenario's other sections. Overrides are
 * merged into the base (mappings key by key, lists replaced) and the result is
 * validated as a whole scenario.
 */
export const variantSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/, 'must be 1-32 letters, digits, "_", "-" or "."'),
  description: z.string().optional(),
  release: z.enum(RELEASES).optional(),
  addressing: z.enum(['flatlab', 'nova']).optional(),
  nova: z.record(z.string(), z.unknown()).optional(),
  network: z.record(z.string(), z.unknown()).optional(),
  nodes: z.record(z.string(), z.unknown()).optional(),
  vms: z.record(z.string(), z.unknown()).optional(),
  security_groups: z.record(z.string(), z.unknown()).optional(),
  /** null removes the base's external network / DHCP server */
  external: z.record(z.string(), z.unknown()).nullable().optional().describe('null removes the base\'s external network / DHCP server'),
  dhcp_server: z.record(z.string(), z.unknown()).nullable().optional(),
  floating_ips: z.record(z.string(), z.unknown()).nullable().optional().describe('this variant\'s floating addresses, merged over the scenario\'s (null removes them)'),
  faults: z.array(z.unknown()).nullable().optional(),
  placement: z.record(z.string(), z.unknown()).optional().describe('this variant\'s placement of nodes on engines, merged over the scenario\'s'),
  nwfilter: z.boolean().optional(),
  guest: z.enum(GUEST_KINDS).optional(),
  guest_memory: memorySchema.optional(),
  expect: z.record(z.string(), z.unknown()).optional(),
});

/** The file as written: a scenario, optionally with variants. */
export const scenarioFileSchema = scenarioSchema.extend({
  variants: z.array(variantSchema).min(1).optional(),
});

export type ScenarioInput = z.input<typeof scenarioSchema>;
export type Scenario = z.output<typeof scenarioSchema>;
export type NovaConf = Scenario['nova'];
export type NetworkSpec = Scenario['network'];
export type CheckSpec = z.output<typeof checkSchema>;
export type SecurityGroup = z.output<typeof securityGroupSchema>;
export type SecurityGroupRule = z.output<typeof ruleSchema>;
export type Variant = z.output<typeof variantSchema>;
export type FaultSpec = z.output<typeof faultSchema>;
export type FaultType = (typeof FAULT_TYPES)[number];
