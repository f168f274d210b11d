/**
 * plan(): validated scenario in, Plan out. Pure: no I/O, no clock, no randomness (the run
 * id comes in as an argument), so it is unit-tested without root and `flatlab plan`
 * prints exactly what `run` will build.
 */
import { join } from 'node:path';
import type { LabAssets } from '../assets.js';
import { nthAddress, parseCidr, type Cidr } from '../net/ipv4.js';
import { DEFAULT_VARIANT, FLAT_MANAGER, type Scenario } from '../scenario/schema.js';
import { networkCidr, snatRangeOf } from '../scenario/network.js';
import { isMultiHostDhcp, novaOf } from '../scenario/nova-of.js';
import { assignAddresses, assignExternal } from './addressing.js';
import { renderHostsFile } from './dnsmasq.js';
import { deriveExpectations, parseService, servicesFor } from './expect.js';
import { renderInterfaces } from './injection.js';
import { deterministicMac, tapMacFor } from './mac.js';
import { planFaults } from './faults.js';
import { finishMachine, planMachine, UNBUILT_IMAGE, type GuestImageRef } from './guest-vm.js';
import { netnsName, runPrefix, sanitizeHostname, tapName } from './names.js';
import { planNode, singleInterfaceOf, type NodeContext } from './node.js';
import { planProcesses } from './processes.js';
import { planSecurityGroups } from './security-groups.js';
import type { ExternalDhcpPlan, ExternalPlan, NetworkPlan, Plan, VmPlan } from './types.js';
import { planWiring } from './wiring.js';
import { planSpan } from './span.js';

export interface PlanOptions {
  /** the variant this plan realises */
  variant?: string;
  /** 6 hex digits; the CLI draws it at random */
  runId: string;
  /** where the run keeps its files (dnsmasq files, lease logs): a per-run directory is made below */
  runtimeRoot: string;
  /** the files the lab's processes run (the package's assets/, see src/assets.ts) */
  assets: LabAssets;
  /** engines to spread the nodes over (the Docker backend's --engine); one or none: one machine */
  engines?: string[];
  /** the image vm guests boot (run/guest-image.ts); absent: placeholders (`flatlab plan`) */
  guestImage?: GuestImageRef;
  /** how vm guests are run: KVM where it boots guests, else TCG (run/accel.ts; default tcg) */
  accel?: 'kvm' | 'tcg';
  /** this machine's TSC rate, told to TCG guests (run/tsc.ts); absent: they calibrate */
  tscKhz?: number;
  /** the machine has /dev/vhost-net: vm guests' NICs use it (libvirt did) */
  vhostNet?: boolean;
}

/** the external host's peer-echo port (the echo service's) */
const ECHO_PORT = 7;

export function plan(s: Scenario, opts: PlanOptions): Plan {
  const net = networkCidr(s); // validated by the loader
  const prefix = runPrefix(opts.runId);
  const runtimeDir = join(opts.runtimeRoot, prefix);
  const flatManager = s.nova.network_manager === FLAT_MANAGER;
  const { gateway, bridgeIps, vmIps } = assignAddresses(s, net);
  const network = planNetwork(s, net, gateway);
  const vms = planVms(s, { prefix, runtimeDir, network, vmIps, vmGateway: vmGatewayOf(s, network, bridgeIps), image: opts.guestImage ?? UNBUILT_IMAGE, accel: opts.accel ?? 'tcg', tscKhz: opts.tscKhz });
  const securityGroups = planSecurityGroups(s);
  const extCidr = s.external ? (parseCidr(s.external.cidr) as Cidr) : null;
  const ext = extCidr ? { cidr: extCidr, ...assignExternal(s, extCidr) } : null;
  const publicBridge = ext && Object.keys(s.nodes).some((n) => !singleInterfaceOf(s, n)) ? 'public' : null;
  const fabric = { netns: netnsName(prefix, 'fabric'), bridge: 'fabric', publicBridge };
  // on several engines the scenario's placement: says where (engines it names were checked by the CLI)
  const span = planSpan(opts.runId, Object.keys(s.nodes), fabric, opts.engines ?? [], s.placement);
  const context: NodeContext = {
    s, prefix, runtimeDir, net, network, vms, securityGroups, span,
    multiHost: isMultiHostDhcp(s),
    flatManager,
    vhostNet: opts.vhostNet ?? false,
    rowGateway: s.network.gateway ?? nthAddress(net, 1),
    bridgeIps,
    ext: ext ? { cidr: ext.cidr, myIps: ext.myIps } : null,
    fabricNetns: fabric.netns,
    dhcpScript: opts.assets.dhcpScript,
  };
  const nodes = Object.entries(s.nodes).map(([name, n], i) => planNode(context, name, n, i));
  const external = ext ? planExternal(prefix, runtimeDir, ext.cidr, ext.host, publicBridge !== null) : null;
  const dhcpServer = s.dhcp_server ? planExternalDhcp(s, network, vms, netnsName(prefix, 'dhcp'), join(runtimeDir, 'hosts', 'dhcp')) : null;
  const networkHost = Object.entries(s.nodes).find(([, n]) => n.role === 'network')?.[0] ?? null;
  const allowSameNet = Object.fromEntries(Object.keys(s.nodes).map((n) => [n, novaOf(s, n).allow_same_net_traffic]));
  const bridgeNfOff = new Set(s.faults.filter((f) => f.type === 'bridge-nf-off' && f.node).map((f) => f.node!));
  const expected = deriveExpectations(s, { network, vms, groups: securityGroups, allowSameNet }, { nodes, networkHost, dhcpServer: dhcpServer !== null, externalHost: ext?.host ?? null, bridgeNfOff });
  for (const vm of vms) {
    vm.services = vm.declaredServices ?? servicesFor(vm.name, expected.reach);
    finishMachine(vm, opts.vhostNet ?? false);
  }
  const parts = { fabric, span, nodes, vms, network, external, dhcpServer };
  return {
    scenario: s.name,
    release: s.release,
    variant: opts.variant ?? DEFAULT_VARIANT,
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
    wiring: planWiring(parts),
    faults: planFaults(s.faults, { network, nodes, vms, groups: securityGroups, release: s.release }),
    processes: planProcesses(parts, opts.assets),
    expected,
  };
}

/** The network as nova's networks row and nova.conf describe it. */
function planNetwork(s: Scenario, net: Cidr, gateway: string | null): NetworkPlan {
  const flatManager = s.nova.network_manager === FLAT_MANAGER;
  return {
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
}

/**
 * A VM's gateway: its own node (multi_host), the network host, or the router that
 * FlatManager leaves to the operator (the external DHCP server may name another).
 */
function vmGatewayOf(s: Scenario, network: NetworkPlan, bridgeIps: Record<string, string | null>): (host: string) => string | null {
  const { gateway } = network;
  if (isMultiHostDhcp(s)) return (host) => bridgeIps[host] ?? null;
  if (network.manager !== 'FlatManager') return () => gateway;
  const g = s.dhcp_server ? (s.dhcp_server.router ?? gateway) : network.injected ? gateway : null;
  return () => g;
}

/** The instances: names, MACs, taps as libvirt numbered them per host, addresses, and what nova injected. */
function planVms(
  s: Scenario,
  c: { prefix: string; runtimeDir: string; network: NetworkPlan; vmIps: Record<string, string>; vmGateway: (host: string) => string | null; image: GuestImageRef; accel: 'kvm' | 'tcg'; tscKhz: number | undefined },
): VmPlan[] {
  const { network } = c;
  const macs = new Set(Object.values(s.vms).flatMap((v) => (v.mac ? [v.mac] : [])));
  const tapCount = new Map<string, number>();
  const vms: VmPlan[] = [];
  for (const [name, vm] of Object.entries(s.vms)) {
    const mac = vm.mac ?? deterministicMac(s.name, name, macs);
    macs.add(mac);
    const index = tapCount.get(vm.host) ?? 0;
    tapCount.set(vm.host, index + 1);
    const ip = c.vmIps[name]!;
    const guest = vm.guest ?? s.guest;
    const dir = join(c.runtimeDir, 'vms', name);
    vms.push({
      name,
      hostname: sanitizeHostname(name),
      node: vm.host,
      netns: netnsName(c.prefix, name),
      nic: 'eth0',
      mac,
      tap: tapName(index),
      tapMac: tapMacFor(mac),
      ip,
      gateway: c.vmGateway(vm.host),
      dir,
      // nova's instances.id, in declaration order
      instanceId: vms.length + 1,
      securityGroups: vm.security_groups,
      services: [],
      declaredServices: vm.services ? vm.services.map(parseService) : null,
      boot: network.injected ? 'injected' : 'dhcp',
      injectedConfig: network.injected
        ? renderInterfaces({ name: 'eth0', address: ip, netmask: network.netmask, broadcast: network.broadcast, gateway: network.gateway, dns: network.dns }, s.release)
        : null,
      guest,
      machine: guest === 'vm' ? planMachine({ name, dir }, vm.memory ?? s.guest_memory, c.accel, c.image, c.tscKhz) : null,
    });
  }
  return vms;
}

/** The external host: beyond the gateways, on the public segment (or the flat one, when every node has one NIC). */
function planExternal(prefix: string, runtimeDir: string, cidr: Cidr, host: string, ownSegment: boolean): ExternalPlan {
  return {
    name: 'external',
    netns: netnsName(prefix, 'external'),
    segment: ownSegment ? 'public' : 'flat',
    fabricPort: 'external',
    nic: 'eth0',
    ip: host,
    prefixLength: cidr.prefixLength,
    dir: join(runtimeDir, 'hosts', 'external'),
    cidr: cidr.text,
    echoPort: ECHO_PORT,
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
