/**
 * One node of the plan (plan.ts calls it per node): its NICs, its firewall inputs and
 * nat table, its dnsmasq, as nova-network and nova-compute left them on that host, each
 * read from the node's own nova.conf (its options over the scenario's).
 */
import { join } from 'node:path';
import type { Cidr } from '../net/ipv4.js';
import { behaviour } from '../nova/releases.js';
import { isolateDhcpAddress } from '../nova/iptables.js';
import { parseCidrAsNova } from '../scenario/network.js';
import type { Scenario } from '../scenario/schema.js';
import { novaOf, sharesDhcpAddress } from '../scenario/nova-of.js';
import { planDnsmasq } from './dnsmasq.js';
import { renderFirewall } from './firewall.js';
import { nodeNicMac } from './mac.js';
import { netnsName } from './names.js';
import { renderNwfilter } from './nwfilter.js';
import type { RulePlan } from './expect-types.js';
import type { FloatingPlan, NatPlan, NodePlan, PublicNicPlan } from './node-types.js';
import type { NetworkPlan, VmPlan } from './types.js';
import { fabricNetnsOf } from './span.js';

/** What every node's plan is read against: the scenario and the parts planned before the nodes. */
export interface NodeContext {
  s: Scenario;
  prefix: string;
  runtimeDir: string;
  net: Cidr;
  network: NetworkPlan;
  multiHost: boolean;
  flatManager: boolean;
  /** whether this machine has /dev/vhost-net (PlanOptions.vhostNet) */
  vhostNet?: boolean;
  /** the networks row's gateway (nova-manage --gateway, else the cidr's .1) */
  rowGateway: string;
  bridgeIps: Record<string, string | null>;
  vms: VmPlan[];
  securityGroups: Record<string, RulePlan[]>;
  /** the external network and the addresses on it, when there is a way out */
  ext: { cidr: Cidr; myIps: Record<string, string> } | null;
  span: Parameters<typeof fabricNetnsOf>[0];
  fabricNetns: string;
  dhcpScript: string;
}

/**
 * One NIC: public_interface is the bridge. Or the one-NIC mistake nova accepted,
 * public_interface = flat_interface: ensure_bridge moved that NIC's address (my_ip) onto
 * the bridge all the same, and the SNAT rule's -o names a bridge port. Each node by its
 * own nova.conf.
 */
export function oneNicMistake(s: Scenario, node: string): boolean {
  return novaOf(s, node).public_interface === novaOf(s, node).flat_interface;
}
export function singleInterfaceOf(s: Scenario, node: string): boolean {
  return novaOf(s, node).public_interface === s.nova.flat_network_bridge || oneNicMistake(s, node);
}

export function planNode(c: NodeContext, name: string, n: Scenario['nodes'][string], index: number): NodePlan {
  const { s, network, vms } = c;
  const nova = novaOf(s, name);
  const bridgeIp = c.bridgeIps[name] ?? null;
  const own = vms.filter((v) => v.node === name);
  // nova-network's L3 (forwarding, NAT, dnsmasq) runs on every multi_host node and on
  // the single network host; FlatManager sets up nothing.
  const isGateway = !c.flatManager && (c.multiHost || n.role === 'network');
  const pub = publicNic(c, name, index);
  const floating = isGateway && pub ? floatingOf(c, name) : [];
  const nat = isGateway && pub ? planNat(s, nova, network, pub, floating) : null;
  // share_dhcp_address: plug() isolates the shared address on the node's flat_interface
  const isolate = isGateway && bridgeIp !== null && sharesDhcpAddress(s) ? { iface: nova.flat_interface, address: bridgeIp } : undefined;
  // restart_dhcp's _add_dhcp_mangle_rule: a multi_host network's dnsmasq node, from
  // Grizzly on, where the host has /dev/vhost-net (c.vhostNet: this machine's, known only
  // when vm guests run here: a namespace guest has no virtio NIC for it to matter to)
  const dhcpChecksumFill = isGateway && c.multiHost && c.vhostNet === true && behaviour('dhcpChecksumFill', s.release);
  const firewallInputs = { bridge: network.bridge, bridgeIp, isGateway, public: pub, dhcpServer: dhcpServerIpOf(c, bridgeIp), nat, ...(isolate ? { isolate } : {}), ...(dhcpChecksumFill ? { dhcpChecksumFill } : {}) };
  const nodeNetwork: NetworkPlan = { ...network, flatInterface: nova.flat_interface, allowSameNetTraffic: nova.allow_same_net_traffic };
  return {
    name,
    netns: netnsName(c.prefix, name),
    role: n.role,
    isGateway,
    public: pub,
    uplink: nova.flat_interface,
    // FlatDHCPManager's ensure_bridge (nova-network, or nova-compute's plug_bridge)
    // brought it up from Havana on; FlatManager's bridge is the operator's own
    uplinkUp: n.uplink_up || (!c.flatManager && behaviour('ensureBridgeUplinkUp', s.release)),
    uplinkMac: nodeNicMac(s.name, name, nova.flat_interface),
    fabricPort: name,
    fabricNetns: fabricNetnsOf(c.span, c.fabricNetns, name),
    bridge: network.bridge,
    bridgeIp,
    floating,
    vms: own.map((v) => v.name),
    firewall: renderFirewall({ node: firewallInputs, network: nodeNetwork, local: own, all: vms, groups: c.securityGroups, release: s.release }),
    firewallInputs,
    // ip_forward: linux_net.initialize_gateway_device's `sysctl -w net.ipv4.ip_forward=1`
    // on a gateway (2012.2-2013.2; Essex's set nothing: releases.ts, ipForwardByNova), set
    // on every node here in every release as the install guides had operators write it
    // into /etc/sysctl.conf; bridge-nf-call-iptables: nova never set it, its instance
    // chains relied on the distribution's default of 1 (nova-network.md §2)
    sysctls: { 'net.ipv4.ip_forward': '1', 'net.bridge.bridge-nf-call-iptables': '1' },
    nwfilter: s.nwfilter ? renderNwfilter(own) : [],
    novaEbtables: isolate ? isolateDhcpAddress(isolate.iface, isolate.address).ebtables : [],
    // nova-network starts dnsmasq where it holds the network's DHCP address.
    dhcp:
      isGateway && bridgeIp !== null
        ? planDnsmasq({
            network,
            dir: join(c.runtimeDir, 'nodes', name),
            listenAddress: bridgeIp,
            dhcpStart: network.dhcpStart,
            dnsServers: dnsmasqServers(s, name),
            leaseMax: c.net.size,
            served: c.multiHost ? own : vms,
            all: vms,
            dhcpScript: c.dhcpScript,
            release: s.release,
          })
        : null,
  };
}

/** The node's own NIC toward the way out (public_interface, its my_ip), when there is one. */
function publicNic(c: NodeContext, name: string, index: number): PublicNicPlan | null {
  if (!c.ext) return null;
  const singleInterface = singleInterfaceOf(c.s, name);
  return {
    iface: novaOf(c.s, name).public_interface,
    ip: c.ext.myIps[name]!,
    prefixLength: c.ext.cidr.prefixLength,
    layout: singleInterface ? 'single-interface' : 'two-nics',
    // Essex's SNAT rule names no interface (add_snat_rule at 2012.1): it matches all the same
    ...(oneNicMistake(c.s, name) && behaviour('snatRule', c.s.release) !== 'no-interface' ? { snatNeverMatches: true } : {}),
    // '.' cannot occur in a node name, so this never meets a node's port
    ...(singleInterface ? {} : { fabricPort: `pub.${index}` }),
  };
}

/**
 * The DHCP server nova-compute lets through to its instances (nova's dhcp_server):
 * FlatManager's legacy network info gave the gateway up to Grizzly (releases.ts).
 */
function dhcpServerIpOf(c: NodeContext, bridgeIp: string | null): string | null {
  if (c.flatManager) return behaviour('flatManagerDhcpAccept', c.s.release) === 'gateway' ? c.rowGateway : null;
  return c.multiHost ? bridgeIp : c.network.gateway;
}

/**
 * The floating addresses a gateway node holds: its own instances' with multi_host, every
 * instance's on the single network host (the node that routes them, as nova's
 * FloatingIP.associate sent it to the instance's network host).
 */
function floatingOf(c: NodeContext, name: string): FloatingPlan[] {
  const device = novaOf(c.s, name).public_interface;
  return c.vms
    .filter((v) => (c.multiHost ? v.node === name : true) && c.s.floating_ips?.[v.name] !== undefined)
    .map((v) => ({ vm: v.name, ip: c.s.floating_ips![v.name]!, fixed: v.ip, device }));
}

/**
 * nova-network's nat table inputs on a gateway node with a way out, in the release's form
 * (linux_net.init_host, add_snat_rule, metadata_forward; releases.ts): the range from the
 * option or the network, --to-source routing_source_ip (default $my_ip), -o
 * public_interface from Folsom on, -d per force_snat_range (else 0.0.0.0/0) in Havana,
 * metadata_host (default $my_ip), dmz_cidr (Essex's default 10.128.0.0/24).
 */
function planNat(s: Scenario, nova: Scenario['nova'], network: NetworkPlan, pub: PublicNicPlan, floating: FloatingPlan[]): NatPlan {
  const form = behaviour('snatRule', s.release);
  const metadataHost = nova.metadata_host ?? pub.ip;
  return {
    range: network.snatRange.cidr,
    rangeFrom: network.snatRange.from,
    toSource: nova.routing_source_ip ?? pub.ip,
    myIp: pub.ip,
    outInterface: form === 'no-interface' ? null : nova.public_interface,
    destinations: form === 'interface-any-dest' ? (nova.force_snat_range.length ? nova.force_snat_range.map((c) => (parseCidrAsNova(c) as { cidr: Cidr }).cidr.text) : ['0.0.0.0/0']) : null,
    metadataHost,
    metadataPort: nova.metadata_port,
    metadataForward: metadataHost === '127.0.0.1' && behaviour('metadataForward', s.release) === 'redirect-localhost' ? 'redirect' : 'dnat',
    dmz: (nova.dmz_cidr ?? behaviour('dmzDefault', s.release)).map((c) => { const p = parseCidrAsNova(c); return typeof p === 'string' ? c : p.cidr.text; }),
    floating,
    floatingForm: behaviour('floatingForward', s.release),
  };
}

/**
 * dnsmasq's upstream servers (linux_net.restart_dhcp): Essex and Folsom's dns_server was
 * one value (a StrOpt, `-h -R --server=X`); from 2013.1 a list, and with
 * use_network_dns_servers the network's dns1 and dns2 too.
 */
function dnsmasqServers(s: Scenario, node: string): string[] {
  const nova = novaOf(s, node);
  if (s.release === 'essex' || s.release === 'folsom') return nova.dns_server.slice(0, 1);
  const servers = [...nova.dns_server];
  if (nova.use_network_dns_servers) {
    for (const d of [s.network.dns1 ?? s.nova.flat_network_dns, s.network.dns2]) if (d && !servers.includes(d)) servers.push(d);
  }
  return servers;
}
