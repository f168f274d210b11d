/**
 * plan(): validated scenario in, Plan out. Pure: no I/O, no clock, no randomness (the run
 * id comes in as an argument), so it is unit-tested without root and `flatlab plan`
 * prints exactly what `run` will build.
 */
import { join } from 'node:path';
import { nthAddress, parseCidr, type Cidr } from '../net/ipv4.js';
import { FLAT_MANAGER, type Scenario } from '../scenario/schema.js';
import { networkCidr, parseCidrAsNova, snatRangeOf } from '../scenario/network.js';
import { isMultiHostDhcp, novaOf, sharesDhcpAddress } from '../scenario/semantics.js';
import { isolateDhcpAddress } from '../nova/iptables.js';
import { assignAddresses, assignExternal } from './addressing.js';
import { planDnsmasq, renderHostsFile } from './dnsmasq.js';
import { deriveExpectations, parseService, servicesFor } from './expect.js';
import { renderFirewall } from './firewall.js';
import { renderInterfaces } from './injection.js';
import { deterministicMac, nodeNicMac, tapMacFor } from './mac.js';
import { planFaults } from './faults.js';
import { netnsName, runPrefix, sanitizeHostname, tapName } from './names.js';
import { behaviour } from '../nova/releases.js';
import { planSecurityGroups } from './security-groups.js';
import type { ExternalDhcpPlan, ExternalPlan, FloatingPlan, NatPlan, NetworkPlan, NodePlan, Plan, PublicNicPlan, VmPlan } from './types.js';
import { planWiring } from './wiring.js';
import { fabricNetnsOf, planSpan } from './span.js';
import { renderNwfilter } from './nwfilter.js';

export interface PlanOptions {
  /** the variant this plan realises */
  variant?: string;
  /** 6 hex digits; the CLI draws it at random */
  runId: string;
  /** where the run keeps its files (dnsmasq files, lease logs): a per-run directory is made below */
  runtimeRoot: string;
  /** absolute path of the --dhcp-script stand-in for nova-dhcpbridge */
  dhcpScript: string;
  /** engines to spread the nodes over (the Docker backend's --engine); one or none: one machine */
  engines?: string[];
}

/** the external host's peer-echo port (the echo service's) */
const ECHO_PORT = 7;

export function plan(s: Scenario, opts: PlanOptions): Plan {
  const net = networkCidr(s); // validated by the loader
  const prefix = runPrefix(opts.runId);
  const runtimeDir = join(opts.runtimeRoot, prefix);
  const multiHost = isMultiHostDhcp(s);
  const flatManager = s.nova.network_manager === FLAT_MANAGER;
  const { gateway, bridgeIps, vmIps } = assignAddresses(s, net);
  // the networks row's gateway (nova-manage --gateway, else the cidr's .1)
  const rowGateway = s.network.gateway ?? nthAddress(net, 1);
  const network: NetworkPlan = {
    label: s.network.label,
    manager: flatManager ? 'FlatManager' : 'FlatDHCPManager',
    gateway,
    injected: flatManager && s.nova.flat_injected,
    // nova-manage network create: dns1 = --dns1, else flat_network_dns
    dns: s.network.dns1 ?? s.nova.flat_network_dns,
    dns2: s.network.dns2 ?? null,
    dhcpStart: s.network.dhcp_start ?? nthAddress(net, 2),
    snatRange: snatRangeOf(s, s.release),
    cidr: net.text,
    netmask: net.netmask,
    prefixLength: net.prefixLength,
    broadcast: net.broadcast,
    bridge: s.nova.flat_network_bridge,
    flatInterface: s.nova.flat_interface,
    multiHost: s.nova.multi_host,
    allowSameNetTraffic: s.nova.allow_same_net_traffic,
    leaseTime: s.nova.dhcp_lease_time,
    domain: s.nova.dhcp_domain,
    singleDefaultGateway: s.nova.use_single_default_gateway,
  };
  const networkHost = Object.entries(s.nodes).find(([, n]) => n.role === 'network')?.[0] ?? null;
  // A VM's gateway: its own node (multi_host), the network host, or the router that
  // FlatManager leaves to the operator (the external DHCP server may name another).
  const vmGateway = (host: string): string | null =>
    multiHost ? (bridgeIps[host] ?? null) : flatManager ? (s.dhcp_server ? (s.dhcp_server.router ?? gateway) : network.injected ? gateway : null) : gateway;

  const macs = new Set(Object.values(s.vms).flatMap((v) => (v.mac ? [v.mac] : [])));
  const tapCount = new Map<string, number>();
  const vms: VmPlan[] = [];
  for (const [name, vm] of Object.entries(s.vms)) {
    const mac = vm.mac ?? deterministicMac(s.name, name, macs);
    macs.add(mac);
    const index = tapCount.get(vm.host) ?? 0;
    tapCount.set(vm.host, index + 1);
    const ip = vmIps[name]!;
    vms.push({
      name,
      hostname: sanitizeHostname(name),
      node: vm.host,
      netns: netnsName(prefix, name),
      nic: 'eth0',
      mac,
      tap: tapName(index),
      tapMac: tapMacFor(mac),
      ip,
      gateway: vmGateway(vm.host),
      dir: join(runtimeDir, 'vms', name),
      // nova's instances.id, in declaration order
      instanceId: vms.length + 1,
      securityGroups: vm.security_groups,
      services: [],
      declaredServices: vm.services ? vm.services.map(parseService) : null,
      boot: network.injected ? 'injected' : 'dhcp',
      injectedConfig: network.injected
        ? renderInterfaces({ name: 'eth0', address: ip, netmask: net.netmask, broadcast: net.broadcast, gateway, dns: network.dns }, s.release)
        : null,
    });
  }
  const securityGroups = planSecurityGroups(s);

  const ext = s.external ? (parseCidr(s.external.cidr) as Cidr) : null;
  const extAddrs = ext ? assignExternal(s, ext) : null;
  // One NIC: public_interface is the bridge. Or the one-NIC mistake nova accepted,
  // public_interface = flat_interface: ensure_bridge moved that NIC's address (my_ip)
  // onto the bridge all the same, and the SNAT rule's -o names a bridge port. Each node
  // by its own nova.conf.
  const oneNicMistake = (node: string): boolean => novaOf(s, node).public_interface === novaOf(s, node).flat_interface;
  const singleInterfaceOf = (node: string): boolean => novaOf(s, node).public_interface === s.nova.flat_network_bridge || oneNicMistake(node);
  const publicBridge = ext && Object.keys(s.nodes).some((n) => !singleInterfaceOf(n)) ? 'public' : null;
  const fabric = { netns: netnsName(prefix, 'fabric'), bridge: 'fabric', publicBridge };
  // on several engines the scenario's placement: says where (engines it names were checked by the CLI)
  const span = planSpan(opts.runId, Object.keys(s.nodes), fabric, opts.engines ?? [], s.placement);

  const nodes: NodePlan[] = Object.entries(s.nodes).map(([name, n], i) => {
    // this node's nova.conf (its own options over the scenario's)
    const nova = novaOf(s, name);
    const nodeNetwork: NetworkPlan = { ...network, flatInterface: nova.flat_interface, allowSameNetTraffic: nova.allow_same_net_traffic };
    const singleInterface = singleInterfaceOf(name);
    const bridgeIp = bridgeIps[name] ?? null;
    const own = vms.filter((v) => v.node === name);
    const dir = join(runtimeDir, 'nodes', name);
    // nova-network's L3 (forwarding, NAT, dnsmasq) runs on every multi_host node and on
    // the single network host; FlatManager sets up nothing.
    const isGateway = !flatManager && (multiHost || n.role === 'network');
    const served = multiHost ? own : vms;
    const pub: PublicNicPlan | null =
      ext && extAddrs
        ? {
            iface: nova.public_interface,
            ip: extAddrs.myIps[name]!,
            prefixLength: ext.prefixLength,
            layout: singleInterface ? 'single-interface' : 'two-nics',
            // Essex's SNAT rule names no interface (add_snat_rule at 2012.1): it matches all the same
            ...(oneNicMistake(name) && behaviour('snatRule', s.release) !== 'no-interface' ? { snatNeverMatches: true } : {}),
            // '.' cannot occur in a node name, so this never meets a node's port
            ...(singleInterface ? {} : { fabricPort: `pub.${i}` }),
          }
        : null;
    // the DHCP server nova-compute lets through to its instances (nova's dhcp_server):
    // FlatManager's legacy network info gave the gateway up to Grizzly (releases.ts)
    const dhcpServerIp = flatManager
      ? behaviour('flatManagerDhcpAccept', s.release) === 'gateway'
        ? rowGateway
        : null
      : multiHost
        ? bridgeIp
        : gateway;
    // the floating addresses this node holds: its own instances' with multi_host, every
    // instance's on the single network host (the node that routes them, as nova's
    // FloatingIP.associate sent it to the instance's network host)
    const floating: FloatingPlan[] =
      isGateway && pub
        ? vms
            .filter((v) => (multiHost ? v.node === name : true) && s.floating_ips?.[v.name] !== undefined)
            .map((v) => ({ vm: v.name, ip: s.floating_ips![v.name]!, fixed: v.ip, device: nova.public_interface }))
        : [];
    const nat = isGateway && pub ? planNat(s, nova, network, pub, floating) : null;
    // share_dhcp_address: plug() isolates the shared address on the node's flat_interface
    const isolate = isGateway && bridgeIp !== null && sharesDhcpAddress(s) ? { iface: nova.flat_interface, address: bridgeIp } : undefined;
    const firewallInputs = { bridge: network.bridge, bridgeIp, isGateway, public: pub, dhcpServer: dhcpServerIp, nat, ...(isolate ? { isolate } : {}) };
    return {
      name,
      netns: netnsName(prefix, name),
      role: n.role,
      isGateway,
      public: pub,
      uplink: nova.flat_interface,
      // FlatDHCPManager's ensure_bridge (nova-network, or nova-compute's plug_bridge)
      // brought it up from Havana on; FlatManager's bridge is the operator's own
      uplinkUp: n.uplink_up || (!flatManager && behaviour('ensureBridgeUplinkUp', s.release)),
      uplinkMac: nodeNicMac(s.name, name, nova.flat_interface),
      fabricPort: name,
      fabricNetns: fabricNetnsOf(span, fabric.netns, name),
      bridge: network.bridge,
      bridgeIp,
      floating,
      vms: own.map((v) => v.name),
      firewall: renderFirewall({ node: firewallInputs, network: nodeNetwork, local: own, all: vms, groups: securityGroups, release: s.release }),
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
              dir,
              listenAddress: bridgeIp,
              dhcpStart: network.dhcpStart,
              dnsServers: dnsmasqServers(s, name),
              leaseMax: net.size,
              served,
              all: vms,
              dhcpScript: opts.dhcpScript,
              release: s.release,
            })
          : null,
    };
  });

  const external: ExternalPlan | null =
    ext && extAddrs
      ? {
          name: 'external',
          netns: netnsName(prefix, 'external'),
          segment: publicBridge ? 'public' : 'flat',
          fabricPort: 'external',
          nic: 'eth0',
          ip: extAddrs.host,
          prefixLength: ext.prefixLength,
          dir: join(runtimeDir, 'hosts', 'external'),
          cidr: ext.text,
          echoPort: ECHO_PORT,
        }
      : null;
  const dhcpServer = s.dhcp_server ? planExternalDhcp(s, network, vms, netnsName(prefix, 'dhcp'), join(runtimeDir, 'hosts', 'dhcp')) : null;

  const allowSameNet = Object.fromEntries(Object.keys(s.nodes).map((n) => [n, novaOf(s, n).allow_same_net_traffic]));
  const expected = deriveExpectations(s, { network, vms, groups: securityGroups, allowSameNet }, { nodes, networkHost, dhcpServer: dhcpServer !== null, externalHost: extAddrs?.host ?? null, bridgeNfOff: new Set(s.faults.filter((f) => f.type === 'bridge-nf-off' && f.node).map((f) => f.node!)) });
  for (const vm of vms) vm.services = vm.declaredServices ?? servicesFor(vm.name, expected.reach);
  const partial = { fabric, span, nodes, vms, network, external, dhcpServer };
  return {
    scenario: s.name,
    release: s.release,
    variant: opts.variant ?? 'default',
    runId: opts.runId,
    prefix,
    runtimeDir,
    network,
    fabric,
    span,
    nodes,
    vms,
    securityGroups,
    external,
    dhcpServer,
    wiring: planWiring(partial),
    faults: planFaults(s.faults, { network, nodes, vms, groups: securityGroups, release: s.release }),
    expected,
  };
}

/**
 * FlatManager's "external DHCP server": a plain dnsmasq on the flat segment, configured
 * by an operator with every instance's fixed address (static hosts, as nova's table
 * says), handing out the network's gateway as router.
 */
function planExternalDhcp(s: Scenario, network: NetworkPlan, vms: VmPlan[], netns: string, dir: string): ExternalDhcpPlan {
  const d = s.dhcp_server!;
  const router = d.router ?? network.gateway;
  const hostsFile = join(dir, 'dhcp-hosts');
  const leaseFile = join(dir, 'dnsmasq.leases');
  const logFile = join(dir, 'dnsmasq.log');
  return {
    name: 'dhcp',
    netns,
    segment: 'flat',
    fabricPort: 'dhcp',
    nic: 'eth0',
    ip: d.ip,
    prefixLength: network.prefixLength,
    dir,
    hostsFile,
    hostsFileText: renderHostsFile(vms, network.domain),
    leaseFile,
    logFile,
    router,
    argv: [
      '--bind-interfaces',
      `--listen-address=${d.ip}`,
      '--except-interface=lo',
      '--conf-file=',
      '--port=0',
      `--dhcp-range=${network.cidr.split('/')[0]},static,${network.netmask},${network.leaseTime}s`,
      `--dhcp-hostsfile=${hostsFile}`,
      `--dhcp-leasefile=${leaseFile}`,
      ...(router ? [`--dhcp-option=option:router,${router}`] : ['--dhcp-option=option:router']),
      `--pid-file=${join(dir, 'dnsmasq.pid')}`,
      '--keep-in-foreground',
      '--log-dhcp',
      `--log-facility=${logFile}`,
    ],
  };
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
