/**
 * A node of the plan: its NICs, dnsmasq, firewall inputs and nat table, as nova-network
 * and nova-compute left them. Part of the plan's types (types.ts re-exports them).
 */
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
  /** `two-nics`: a second NIC on the public segment; `single-interface`: one NIC, its address moved onto the bridge */
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
  /** nova-network's DHCP checksum-fill rule in the mangle table (linux_net._add_dhcp_mangle_rule: 2013.1 on, multi_host, /dev/vhost-net) */
  dhcpChecksumFill?: boolean;
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
