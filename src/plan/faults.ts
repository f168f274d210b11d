/**
 * Faults: the operators' reports (flat-networking.md, "What operators reported") as
 * real kernel changes, planned as data. The lab applies them after the healthy build,
 * before any guest boots, so each guest meets the broken network as a booting instance
 * would have; a fault whose `phase` is `before-dhcp` is applied before the node's dnsmasq
 * starts (dnsmasq-no-address: its failure to start is the fault), one whose phase is
 * `after-boot` once the guests hold their addresses, before any probe (a guest's
 * hand-set address).
 */
import { intToIp, ipToInt } from '../net/ipv4.js';
import type { FaultSpec, FaultType } from '../scenario/schema.js';
import { renderHostsFile } from './dnsmasq.js';
import { renderFirewall } from './firewall.js';
import type { Release } from '../nova/releases.js';
import type { FaultAction, FaultPlan, NetworkPlan, NodePlan, RulePlan, VmPlan } from './types.js';

export type { FaultAction, FaultPlan } from './types.js';

const MODELS: Record<FaultType, string> = {
  'bridge-without-address': 'report 5: a compute node\'s bridge never got a pool address',
  'ip-forward-off': 'report 2: net.ipv4.ip_forward off on a node that routes',
  'uplink-not-enslaved': 'flat_interface left outside the bridge',
  'nic-promisc-deny': 'report 4: nested VirtualBox NIC with promiscuous mode denied',
  'firewall-drop': 'report 3: allow_same_net_traffic=False and no security group',
  'dhcp-unfiltered': 'a dnsmasq whose hosts file lists every VM, not only its node\'s own',
  'bridge-nf-off': 'report 3: net.bridge.bridge-nf-call-iptables=0, so nova\'s chains never see bridged traffic',
  'dnsmasq-no-address': 'report 5: the bridge had no pool address when nova-network started dnsmasq',
  'forged-transmit-deny': 'report 4 (VMware): the host NIC rejects forged transmits, frames whose source MAC is a guest\'s',
  'guest-spoofs-address': 'a guest whose address was set by hand, not the one nova gave it (what nwfilter no-ip-spoofing stops)',
};

export interface FaultInputs {
  /** the release whose firewall a reload renders */
  release?: Release;
  network: NetworkPlan;
  nodes: NodePlan[];
  vms: VmPlan[];
  groups: Record<string, RulePlan[]>;
}

type Planned = Omit<FaultPlan, 'type' | 'node' | 'models'>;
/** One fault type's kernel change: the spec, its node (when it names one), the plan's parts. */
type FaultPlanner = (f: FaultSpec, node: NodePlan | null, i: FaultInputs) => Planned;

/** The exec that sets one sysctl in a target. */
const sysctl = (target: string, setting: string): FaultAction => ({ kind: 'exec', target, argv: ['sysctl', '-q', '-w', setting] });

/** The bridge's pool address removed (a node whose bridge never got one, or lost it). */
const withoutBridgeAddress = (node: NodePlan, i: FaultInputs): FaultAction[] =>
  node.bridgeIp ? [ipLines(node.netns, [`addr del ${node.bridgeIp}/${i.network.prefixLength} dev ${node.bridge}`])] : [];

const PLANNERS: Record<FaultType, FaultPlanner> = {
  'bridge-without-address': (_f, node, i) => ({
    change: `removes ${node!.bridgeIp}/${i.network.prefixLength} from ${node!.name}'s ${node!.bridge}`,
    actions: withoutBridgeAddress(node!, i),
  }),
  'ip-forward-off': (_f, node) => ({ change: `sets net.ipv4.ip_forward=0 on ${node!.name}`, actions: [sysctl(node!.netns, 'net.ipv4.ip_forward=0')] }),
  'uplink-not-enslaved': (_f, node) => ({ change: `takes ${node!.uplink} out of ${node!.bridge} on ${node!.name}`, actions: [ipLines(node!.netns, [`link set dev ${node!.uplink} nomaster`])] }),
  'nic-promisc-deny': (_f, node) => {
    // The NIC behind fabric port <node> only receives frames for its own MAC or
    // broadcast/multicast, as a virtual NIC with promiscuous mode denied: frames for
    // the guests' MACs behind the node's bridge never arrive.
    const port = node!.fabricPort;
    const eb = (rule: string[]): FaultAction => ({ kind: 'exec', target: node!.fabricNetns, argv: ['ebtables', '-t', 'filter', '-A', 'FORWARD', '-o', port, ...rule] });
    return {
      change: `fabric port ${port} passes only frames for ${node!.uplinkMac} (${node!.name}'s ${node!.uplink}) or broadcast/multicast`,
      actions: [eb(['-d', 'Multicast', '-j', 'ACCEPT']), eb(['-d', node!.uplinkMac, '-j', 'ACCEPT']), eb(['-j', 'DROP'])],
    };
  },
  'firewall-drop': (_f, node, i) => {
    const targets = node ? [node] : i.nodes;
    const network = { ...i.network, allowSameNetTraffic: false };
    const render = (n: NodePlan): string =>
      renderFirewall({ node: n.firewallInputs, network, local: i.vms.filter((v) => v.node === n.name), all: i.vms, groups: i.groups, ...(i.release ? { release: i.release } : {}) });
    return {
      change: `reloads ${targets.map((n) => n.name).join(', ')}'s firewall as with allow_same_net_traffic=False`,
      actions: targets.map((n) => ({ kind: 'exec' as const, target: n.netns, argv: ['iptables-restore'], input: render(n) })),
    };
  },
  // Havana never set it (it relied on the distribution's default): a node where it is 0
  // bridges guest frames without passing them through iptables
  'bridge-nf-off': (_f, node) => ({
    change: `net.bridge.bridge-nf-call-iptables=0 on ${node!.name}: its bridged frames bypass nova's chains`,
    actions: [sysctl(node!.netns, 'net.bridge.bridge-nf-call-iptables=0')],
  }),
  'dnsmasq-no-address': (_f, node, i) => ({
    phase: 'before-dhcp',
    change: `${node!.name}'s ${node!.bridge} has no pool address when its dnsmasq starts (--listen-address=${node!.bridgeIp}): dnsmasq cannot bind and exits`,
    actions: withoutBridgeAddress(node!, i),
  }),
  'forged-transmit-deny': (_f, node) => {
    // the sending side of the node's NIC: only frames with the NIC's own source MAC leave
    // (VMware's "forged transmits: reject"); the guests' frames, bridged out with their
    // own MACs, never reach the segment
    const port = node!.fabricPort;
    const eb = (rule: string[]): FaultAction => ({ kind: 'exec', target: node!.fabricNetns, argv: ['ebtables', '-t', 'filter', '-A', 'FORWARD', '-i', port, ...rule] });
    return {
      change: `fabric port ${port} takes from ${node!.name} only frames whose source is ${node!.uplinkMac} (${node!.uplink}'s own MAC)`,
      actions: [eb(['-s', node!.uplinkMac, '-j', 'ACCEPT']), eb(['-j', 'DROP'])],
    };
  },
  'guest-spoofs-address': (f, _node, i) => {
    const vm = i.vms.find((v) => v.name === f.vm)!;
    const ip = f.ip ?? lastHost(i.network.broadcast);
    const lines = [`addr flush dev ${vm.nic}`, `addr add ${ip}/${i.network.prefixLength} dev ${vm.nic}`, ...(vm.gateway ? [`route replace default via ${vm.gateway} dev ${vm.nic}`] : [])];
    return { vm: vm.name, phase: 'after-boot', change: `${vm.name} sets ${ip}/${i.network.prefixLength} on ${vm.nic} by hand instead of its ${vm.ip}`, actions: [ipLines(vm.netns, lines)] };
  },
  'dhcp-unfiltered': (_f, node, i) => ({
    change: `${node!.name}'s dnsmasq hosts file lists every VM of the network`,
    actions: node!.dhcp ? [{ kind: 'dhcp-hosts', node: node!.name, text: renderHostsFile(i.vms, i.network.domain, i.network.singleDefaultGateway) }] : [],
  }),
};

export function planFaults(specs: FaultSpec[], i: FaultInputs): FaultPlan[] {
  return specs.map((f) => {
    const node = f.node ? i.nodes.find((n) => n.name === f.node)! : null;
    return { type: f.type, node: f.node ?? null, models: MODELS[f.type], ...PLANNERS[f.type](f, node, i) };
  });
}

/** The last host address below a broadcast address. */
function lastHost(broadcast: string): string {
  return intToIp(ipToInt(broadcast) - 1);
}

function ipLines(target: string, lines: string[]): FaultAction {
  return { kind: 'exec', target, argv: ['ip', '-batch', '-'], input: lines.join('\n') + '\n' };
}
