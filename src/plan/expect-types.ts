/**
 * What a plan expects: the oracle's answers (leases, gateways, reachability, the way
 * out) and the vocabulary of probes. Part of the plan's types (types.ts re-exports them).
 */

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
