/**
 * plan(): validated scenario in, Plan out. Pure: no I/O, no clock, no randomness (the run
 * id comes in as an argument), so it is unit-tested without root and `flatlab plan`
 * prints exactly what `run` will build.
 */
import { join } from 'node:path';
import { nthAddress, parseCidr, type Cidr } from '../net/ipv4.js';
import type { Scenario } from '../scenario/schema.js';
import { assignAddresses } from './addressing.js';
import { planDnsmasq } from './dnsmasq.js';
import { deriveExpectations, servicesFor } from './expect.js';
import { renderFirewall } from './firewall.js';
import { planSecurityGroups } from './security-groups.js';
import { deterministicMac, tapMacFor } from './mac.js';
import { netnsName, runPrefix, sanitizeHostname, tapName } from './names.js';
import type { NetworkPlan, NodePlan, Plan, VmPlan } from './types.js';
import { planWiring } from './wiring.js';

export interface PlanOptions {
  /** the variant this plan realises */
  variant?: string;
  /** 6 hex digits; the CLI draws it at random */
  runId: string;
  /** where the run keeps its files (dnsmasq files, lease logs): a per-run directory is made below */
  runtimeRoot: string;
  /** absolute path of the --dhcp-script stand-in for nova-dhcpbridge */
  dhcpScript: string;
}

/** nova-manage's default label for the network a flat scenario models. */
const NETWORK_LABEL = 'private';

export function plan(s: Scenario, opts: PlanOptions): Plan {
  const net = parseCidr(s.nova.fixed_range) as Cidr; // validated by the loader
  const prefix = runPrefix(opts.runId);
  const runtimeDir = join(opts.runtimeRoot, prefix);
  const network: NetworkPlan = {
    label: NETWORK_LABEL,
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
  };
  const { bridgeIps, vmIps } = assignAddresses(s, net);

  const macs = new Set(Object.values(s.vms).flatMap((v) => (v.mac ? [v.mac] : [])));
  const tapCount = new Map<string, number>();
  const vms: VmPlan[] = [];
  for (const [name, vm] of Object.entries(s.vms)) {
    const mac = vm.mac ?? deterministicMac(s.name, name, macs);
    macs.add(mac);
    const index = tapCount.get(vm.host) ?? 0;
    tapCount.set(vm.host, index + 1);
    vms.push({
      name,
      hostname: sanitizeHostname(name),
      node: vm.host,
      netns: netnsName(prefix, name),
      nic: 'eth0',
      mac,
      tap: tapName(index),
      tapMac: tapMacFor(mac),
      ip: vmIps[name]!,
      // multi_host: the VM's own node's bridge address, handed out by its dnsmasq as router
      gateway: bridgeIps[vm.host] ?? null,
      dir: join(runtimeDir, 'vms', name),
      // nova's instances.id, in declaration order
      instanceId: vms.length + 1,
      securityGroups: vm.security_groups,
      services: [],
    });
  }
  const securityGroups = planSecurityGroups(s);
  const expected = deriveExpectations(s, { network, vms, groups: securityGroups });
  for (const vm of vms) vm.services = servicesFor(vm.name, expected.reach);

  const nodes: NodePlan[] = Object.keys(s.nodes).map((name) => {
    const bridgeIp = bridgeIps[name] ?? null;
    const own = vms.filter((v) => v.node === name);
    const dir = join(runtimeDir, 'nodes', name);
    return {
      name,
      netns: netnsName(prefix, name),
      uplink: network.flatInterface,
      fabricPort: name,
      bridge: network.bridge,
      bridgeIp,
      vms: own.map((v) => v.name),
      firewall: renderFirewall({ node: { bridge: network.bridge, bridgeIp }, network, local: own, all: vms, groups: securityGroups }),
      // nova-network starts dnsmasq where it holds a DHCP address for the network.
      dhcp:
        bridgeIp === null
          ? null
          : planDnsmasq({
              network,
              dir,
              listenAddress: bridgeIp,
              dhcpStart: nthAddress(net, 2),
              leaseMax: net.size,
              served: own,
              all: vms,
              dhcpScript: opts.dhcpScript,
            }),
    };
  });

  const fabric = { netns: netnsName(prefix, 'fabric'), bridge: 'fabric' };
  const partial = { fabric, nodes, vms, network };
  return {
    scenario: s.name,
    variant: opts.variant ?? 'default',
    runId: opts.runId,
    prefix,
    runtimeDir,
    network,
    fabric,
    nodes,
    vms,
    securityGroups,
    wiring: planWiring(partial),
    expected,
  };
}
