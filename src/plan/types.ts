import type { FaultType, GuestKind } from '../scenario/schema.js';
import type { Release } from '../nova/releases.js';
import type { NodePlan } from './node-types.js';
import type { Expectations, RulePlan, ServicePlan } from './expect-types.js';

export type * from './node-types.js';
export type * from './expect-types.js';

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
  /** a network namespace of this machine, or a QEMU VM on a tap in its node (guest-vm.ts) */
  guest: GuestKind;
  /** a vm guest's machine; null for a namespace guest */
  machine: GuestMachinePlan | null;
}

/**
 * A `guest: vm` guest: QEMU in its node's namespace, its virtio NIC on the tap (no veth,
 * no namespace of its own), its agent on a virtio-serial port whose host end is a unix
 * socket. Its own files go into its copy of the image (the image's initramfs, then an
 * archive of these), as nova's injection wrote into an instance's disk.
 */
export interface GuestMachinePlan {
  memoryMb: number;
  /** KVM, or TCG (emulation) where KVM is absent or does not boot guests (run/accel.ts) */
  accel: 'kvm' | 'tcg';
  /** under TCG: this machine's TSC rate, on the guest's command line (tsc_early_khz) */
  tscKhz?: number;
  /** the agent's unix socket: QEMU's end of the guest's virtio-serial port */
  agentSocket: string;
  /** the guest's serial console, as QEMU writes it */
  console: string;
  /** the image this guest boots: its kernel and the image's initramfs */
  kernel: string;
  imageInitrd: string;
  /** this guest's copy of the image: the image's initramfs, then its own files */
  initrd: string;
  /** its own files (guest.conf; the interfaces file nova injected), by path in the guest */
  files: { path: string; text: string }[];
  /** QEMU's whole argv, run in the node's namespace */
  argv: string[];
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

/**
 * A long-running process the lab starts (processes.ts): where, the whole argv, and what
 * says it is ready. Every process a lab runs is one of these, so `flatlab plan` shows it.
 */
export interface ProcessPlan {
  /** the node, VM or host it belongs to */
  owner: string;
  /** the namespace it runs in */
  target: string;
  role: 'dnsmasq' | 'dhcp-server' | 'external-echo' | 'dhcp-client' | 'guest-init' | 'guest-vm' | 'service' | 'capture';
  argv: string[];
  env?: Record<string, string>;
  /** its stdout and stderr */
  logFile: string;
  /** ready once bound to this port (servers); a guest's first process is left to run */
  listens?: { proto: 'tcp' | 'udp'; port: number };
  /** the command it replaces itself with once its work is done (an injected guest's init stays as the guest's resident process) */
  execs?: string[];
  /** when it starts: while the lab is built (default), or during the checks */
  phase?: 'checks';
  /** in words, for errors */
  what: string;
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
  /** the faults, each applied at its phase: after the healthy build (default), before its node's dnsmasq starts, or once the guests hold their addresses */
  faults: FaultPlan[];
  /** every long-running process the lab starts, in no particular order (the lab orders them) */
  processes: ProcessPlan[];
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
