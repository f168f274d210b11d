import type { FaultType } from '../scenario/schema.js';
import type { Release } from '../nova/releases.js';

/**
 * The plan: everything a run will create and expect, as plain data. Computed from a
 * validated scenario with no side effects (plan.ts), printed by `flatlab plan`, realised
 * by a backend, and stored whole in result.json.
 */

export interface NetworkPlan {
  /** nova's network label (`nova-manage network create --label=private`) */
  label: string;
  manager: 'FlatManager' | 'FlatDHCPManager';
  /** nova's `gateway` for the network; null with multi_host (each node is its VMs' gateway) */
  gateway: string | null;
  /** FlatManager: guests get their config written into their files before boot */
  injected: boolean;
  /** the network's dns1 (nova-manage --dns1, else flat_network_dns): written into injected configs */
  dns: string;
  /** the network's dns2 */
  dns2: string | null;
  /** the network's dhcp_start: the first address of dnsmasq's range (nova-manage: the cidr's .2) */
  dhcpStart: string;
  /** what nova-network's nat rules were built from: the fixed_range option or the network (scenario/network.ts) */
  snatRange: { cidr: string; from: string };
  cidr: string;
  netmask: string;
  prefixLength: number;
  broadcast: string;
  bridge: string;
  flatInterface: string;
  multiHost: boolean;
  allowSameNetTraffic: boolean;
  leaseTime: number;
  domain: string;
  /** use_single_default_gateway: hosts lines tagged with the VIF's net:NW-<id> */
  singleDefaultGateway: boolean;
}

/** One nova-managed dnsmasq (nova-network.md §4), files under its node's networks dir. */
export interface DhcpServerPlan {
  /** networks_path of this node */
  dir: string;
  pidFile: string;
  /** `nova-<bridge>.conf`: MAC,hostname,IP per VM this dnsmasq serves */
  hostsFile: string;
  hostsFileText: string;
  /** `nova-<bridge>.opts` (use_single_default_gateway): option 3 blanked for instances' other networks; with one network, empty */
  optsFile: string | null;
  optsText: string;
  /** `nova-<bridge>.hosts`: DNS names of every VM of the network (multi_host) */
  addnHostsFile: string;
  addnHostsText: string;
  /** where the --dhcp-script stand-in records init/add/old/del events */
  leaseLog: string;
  logFile: string;
  listenAddress: string;
  argv: string[];
  env: Record<string, string>;
}

/** The node's NIC for its own address (my_ip) and the way out. */
export interface PublicNicPlan {
  /** public_interface */
  iface: string;
  ip: string;
  prefixLength: number;
  /** `public`: a second NIC on its own segment; `flat`: one NIC, the address moved onto the bridge */
  layout: 'two-nics' | 'single-interface';
  /** public_interface is flat_interface (nova accepted it): the SNAT rule's -o names a bridge port, never the way out */
  snatNeverMatches?: boolean;
  /** the NIC's peer in the fabric (two NICs only) */
  fabricPort?: string;
}

export interface NodePlan {
  name: string;
  netns: string;
  /** `network`: the single host's nova-network (multi_host false); every multi_host node acts as one */
  role: 'compute' | 'network';
  /** whether nova-network routes (and, with a way out, SNATs) for VMs here */
  isGateway: boolean;
  public: PublicNicPlan | null;
  /** flat_interface: the node's NIC on the flat segment */
  uplink: string;
  /** whether that NIC is up: nova's ensure_bridge brought it up (Havana) or the node's OS did (uplink_up) */
  uplinkUp: boolean;
  /** its MAC (fixed, so a fault can name it) */
  uplinkMac: string;
  /** the uplink's peer in the fabric namespace */
  fabricPort: string;
  /** the fabric namespace holding that port: the plan's, or its engine's share (span) */
  fabricNetns: string;
  bridge: string;
  /** pool address on the bridge (multi_host: the node's gateway/DHCP address), or null */
  bridgeIp: string | null;
  /** floating addresses bound to its public_interface (none where it routes no instance that has one) */
  floating: FloatingPlan[];
  vms: string[];
  dhcp: DhcpServerPlan | null;
  /** the node's filter (and nat) tables as nova's processes left them, as iptables-restore input */
  firewall: string;
  /** the node's kernel settings, set before its firewall and dnsmasq */
  sysctls: Record<string, string>;
  /** libvirt's nwfilter on the node's taps (ebtables argv, in order); empty when not modelled */
  nwfilter: string[][];
  /** nova-network's own ebtables rules (share_dhcp_address: linux_net.isolate_dhcp_address), argv in order */
  novaEbtables: string[][];
  /** what the firewall was rendered from, so a fault can render it again */
  firewallInputs: FirewallNode;
}

/** A node as its firewall sees it. */
export interface FirewallNode {
  bridge: string;
  bridgeIp: string | null;
  isGateway: boolean;
  public: PublicNicPlan | null;
  /** nova's dhcp_server for this node's instances: the DHCP replies their chains let in */
  dhcpServer: string | null;
  /** nova-network's nat table on a gateway with a way out (linux_net.init_host, add_snat_rule, metadata_forward) */
  nat: NatPlan | null;
  /** share_dhcp_address: the shared address kept off flat_interface (linux_net.isolate_dhcp_address) */
  isolate?: { iface: string; address: string };
}

/**
 * A floating address as nova-network held it (nova/network/manager.py FloatingIP
 * associate -> l3 driver add_floating_ip): bound to public_interface of the node that
 * routes the instance (linux_net.bind_floating_ip, `ip addr add F/32 dev DEVICE`) with
 * nat rules that DNAT it to the fixed address (linux_net.floating_forward_rules).
 */
export interface FloatingPlan {
  vm: string;
  /** the floating address */
  ip: string;
  /** the instance's fixed address */
  fixed: string;
  /** public_interface of the holding node, where the address is bound */
  device: string;
}

/** The inputs of nova-network's nat table on one node, in nova's terms. */
export interface NatPlan {
  /** the range every rule names with -s: the fixed_range option or the network's cidr (releases.ts, snatRange) */
  range: string;
  /** where that range came from, in words */
  rangeFrom: string;
  /** --to-source: routing_source_ip (nova's default $my_ip) */
  toSource: string;
  /** the node's my_ip, where answers to the SNATed address come back */
  myIp: string;
  /** -o public_interface, or null where the release wrote none (Essex) */
  outInterface: string | null;
  /** one SNAT rule per -d (Havana: 0.0.0.0/0 or force_snat_range); null: no -d (before Havana) */
  destinations: string[] | null;
  /** metadata_host:metadata_port, the DNAT target and a POSTROUTING accept */
  metadataHost: string;
  metadataPort: number;
  /** metadata_forward's form: DNAT, or REDIRECT for 127.0.0.1 (Folsom on) */
  metadataForward: 'dnat' | 'redirect';
  /** dmz_cidr: a POSTROUTING accept each */
  dmz: string[];
  /** the floating addresses this node holds, and the release's form of their rules (releases.ts, floatingForward) */
  floating: FloatingPlan[];
  floatingForm: 'no-device' | 'device' | 'device-and-fixed' | 'device-fixed-postrouting';
}

/** A host that is not a nova node: the external host, or an operator's DHCP server. */
export interface HostPlan {
  name: string;
  netns: string;
  segment: 'flat' | 'public';
  fabricPort: string;
  nic: string;
  ip: string;
  prefixLength: number;
  dir: string;
}

/** FlatManager's external DHCP server: a plain dnsmasq that nova does not manage. */
export interface ExternalDhcpPlan extends HostPlan {
  hostsFile: string;
  hostsFileText: string;
  leaseFile: string;
  logFile: string;
  router: string | null;
  argv: string[];
}

/** The way out: a network beyond the gateway nodes, with a host that echoes who called. */
export interface ExternalPlan extends HostPlan {
  cidr: string;
  /** tcp port of the host's peer-echo service */
  echoPort: number;
}

export interface VmPlan {
  name: string;
  /** nova's sanitised instance hostname */
  hostname: string;
  node: string;
  netns: string;
  /** the guest's NIC, inside its own namespace */
  nic: string;
  mac: string;
  /** host side of the guest NIC, enslaved to the node's bridge (libvirt's vnetN) */
  tap: string;
  tapMac: string;
  ip: string;
  gateway: string | null;
  /** the guest's runtime files: the DHCP client's record of what it was told */
  dir: string;
  /** nova's instances.id: names the instance's firewall chain nova-compute-inst-<id> */
  instanceId: number;
  securityGroups: string[];
  /** the sockets flatlab opens in the guest for tcp/udp probes */
  services: ServicePlan[];
  /** the services the scenario says listen in the guest; null: every port a probe aims at */
  declaredServices: ServicePlan[] | null;
  /** how the guest gets its address: DHCP, or the file nova injected (FlatManager) */
  boot: 'dhcp' | 'injected';
  /** the /etc/network/interfaces nova injected, when boot is injected */
  injectedConfig: string | null;
}

export type Protocol = 'icmp' | 'tcp' | 'udp';
/** refused: the packet arrived and was answered with a reset / port unreachable */
export type Reachability = 'reachable' | 'unreachable' | 'refused';

export interface ReachExpectation {
  from: string;
  to: string;
  proto: Protocol;
  /** tcp and udp */
  port?: number;
  expect: Reachability;
  /** derived by the oracle, or stated in the scenario's expect.checks */
  source: 'derived' | 'scenario';
  /** the address the probe is sent to when not the target VM's fixed address (its floating address, from external) */
  toIp?: string;
  /** the oracle's reason: which rule accepts, or that the fallback drops */
  reason: string;
}

/** A port a VM listens on for reachability probes (a real socket in its namespace). */
export interface ServicePlan {
  proto: 'tcp' | 'udp';
  port: number;
}

/** A security group rule as the firewall needs it. */
export interface RulePlan {
  proto: Protocol;
  /** tcp/udp port range */
  fromPort?: number;
  toPort?: number;
  /** icmp type and code; undefined = any (nova's -1) */
  icmpType?: number;
  icmpCode?: number;
  /** a CIDR, or the members of a group */
  cidr?: string;
  group?: string;
}

/** Who hands a VM its address, and so where its lease is recorded. */
export type AddressSource =
  | { kind: 'dnsmasq'; node: string }
  | { kind: 'dhcp-server' }
  | { kind: 'injected' }
  | { kind: 'none' };

export interface EgressExpectation {
  vm: string;
  /** the node that routes the VM's traffic out */
  via: string;
  /** the address the external host must see (the node's my_ip, SNAT); null: no way out */
  source: string | null;
  /** the source its capture must show, when not `source` (a SYN that got out unSNATed, whose answer never came back) */
  captured?: string | null;
  /** why, in words (the oracle's reason) */
  reason?: string;
}

export interface Expectations {
  /** the address each VM must hold; null: none (no DHCP server, no injection) */
  leases: Record<string, string | null>;
  addressSources: Record<string, AddressSource>;
  gateways: Record<string, string | null>;
  reach: ReachExpectation[];
  egress: EgressExpectation[];
  /** what was sampled when the full matrix is too large, or null */
  sampling: string | null;
  /**
   * `expect.renewals`: every guest nova's dnsmasq serves renews its lease within the run.
   * leaseSeconds: the lease dnsmasq really gives (nova's dhcp_lease_time, raised to
   * dnsmasq's floor of 120 s)
   */
  renewals?: { vms: string[]; leaseSeconds: number };
}

/** iproute2 command lines (no leading `ip`), one batch per namespace. */
export interface WiringPlan {
  namespaces: string[];
  /** sysctls set in every namespace right after it is made, before any link */
  sysctls: Record<string, string>;
  /** sysctls of devices, set once every link exists (per target namespace) */
  deviceSysctls: Record<string, Record<string, string>>;
  /** run first: the fabric bridge and one veth per node, node ends created in the node */
  fabric: string[];
  /** run after the fabric, in parallel: bridge, uplink, VM veths */
  nodes: Record<string, string[]>;
  /** run after the fabric, in parallel: the external host, the external DHCP server */
  hosts: Record<string, string[]>;
  /** run with the fabric, in parallel: each engine's share of it (span), by namespace */
  sites: Record<string, string[]>;
}

/**
 * A lab spread over several engines (span.ts): where each node runs, and the VXLAN that
 * keeps the flat segment one broadcast domain across them.
 */
export interface SpanPlan {
  /** engine names as given; the first is this machine's and holds plan.fabric and the hosts */
  engines: string[];
  /** node -> engine */
  placement: Record<string, string>;
  /** UDP port of every VXLAN device */
  dstport: number;
  /** one VXLAN per bridge of the fabric, under the same name and VNI in every share */
  segments: { bridge: string; vni: number; dev: string }[];
  /** each engine beyond the first: its fabric namespace and the nodes whose ports it holds */
  sites: { engine: string; netns: string; nodes: string[] }[];
}

export interface Plan {
  scenario: string;
  /** the nova release whose behaviour is built (releases.ts) */
  release: Release;
  /** the variant this plan realises ("default" when the file declares none) */
  variant: string;
  runId: string;
  /** every kernel object and file of the run carries it */
  prefix: string;
  runtimeDir: string;
  network: NetworkPlan;
  /** the flat segment is `bridge`; the external/public segment, when there is one, `publicBridge` */
  fabric: { netns: string; bridge: string; publicBridge: string | null };
  /** several engines: placement and VXLAN (null on one machine) */
  span: SpanPlan | null;
  nodes: NodePlan[];
  vms: VmPlan[];
  securityGroups: Record<string, RulePlan[]>;
  external: ExternalPlan | null;
  dhcpServer: ExternalDhcpPlan | null;
  wiring: WiringPlan;
  /** faults applied after the healthy build, before guests boot */
  faults: FaultPlan[];
  expected: Expectations;
}

/** A fault's kernel change, as data (faults.ts plans them, the lab applies them). */
export type FaultAction =
  /** run a command inside a target */
  | { kind: 'exec'; target: string; argv: string[]; input?: string }
  /** rewrite a node's dnsmasq hosts file and make it re-read it (SIGHUP, as nova did) */
  | { kind: 'dhcp-hosts'; node: string; text: string };

export interface FaultPlan {
  type: FaultType;
  node: string | null;
  /** the operator report it models */
  models: string;
  /** what it does to the kernel, in words */
  change: string;
  actions: FaultAction[];
  /** when it is applied: after the healthy build (default), before the node's dnsmasq starts, or once the guests hold their addresses */
  phase?: 'before-dhcp' | 'after-boot';
  /** the guest it hits, when it hits one */
  vm?: string;
}
