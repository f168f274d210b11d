/** What checks observe and what they conclude. Backend-neutral plain data. */
import type { VmNetState } from '../backend/backend.js';
import type { Protocol, Reachability } from '../plan/types.js';

/** One line of a node's lease log (the --dhcp-script stand-in's record). */
export interface LeaseEvent {
  node: string;
  time: number;
  event: 'add' | 'old' | 'del';
  mac: string;
  ip: string;
  hostname: string;
}

export interface VmObservation extends VmNetState {
  vm: string;
  /** what the guest's DHCP client was told (its script's record), if it got an offer */
  dhcp: Record<string, string> | null;
  /** what an injected guest's init did with its /etc/network/interfaces */
  bootLog: string | null;
  /** whether the guest's DHCP client was still running when observed (a vm guest: its QEMU) */
  clientRunning: boolean;
  /** a vm guest's kernel release, as its agent said it (uname -r inside the guest) */
  kernel?: string;
}

/** One lease in the lease file of a plain dnsmasq (the FlatManager DHCP server). */
export interface ServerLease {
  expires: number;
  mac: string;
  ip: string;
  hostname: string;
}

export interface Observations {
  vms: Record<string, VmObservation>;
  /** every nova dnsmasq's lease events (its --dhcp-script record) */
  leaseEvents: LeaseEvent[];
  /** the external DHCP server's lease file, when there is one */
  serverLeases: ServerLease[] | null;
  /** each nova dnsmasq's hosts file as it is on disk (node -> text) */
  hostsFiles?: Record<string, string>;
  /** each guest's resolved ARP entries after the reachability probes (address -> MAC) */
  arpAfterProbes?: Record<string, Record<string, string>>;
}

export type CheckKind = 'lease' | 'address' | 'gateway' | 'reach' | 'egress' | 'renewal';

/** The verdict a diagnosis explains (reports attach the one to the other by this, never by text). */
export interface Explains {
  kind: CheckKind;
  subject: string;
}

export interface Verdict {
  kind: CheckKind;
  /** `vm_1`, or `vm_1 -> vm_3 icmp` */
  subject: string;
  expected: string;
  observed: string;
  ok: boolean;
  /** what was seen that explains a failure */
  detail?: string;
  /** not applicable here, and why (counted neither passed nor failed) */
  skipped?: string;
  /** passed, but only after a try that saw something else (every try is in `tries`) */
  flaky?: boolean;
  /** what each try observed, when there was more than one */
  tries?: string[];
  /** an expected drop: what showed it was one (a rule's counter, an unanswered ARP) */
  confirmedBy?: string;
}

/** The way out, observed: what the external host saw as the source of a guest's connection. */
export interface EgressResult {
  vm: string;
  via: string;
  /** null: no way out expected */
  expectedSource: string | null;
  /** the source the capture must show, when not expectedSource (a SYN that gets out unSNATed) */
  expectedCaptured?: string | null;
  /** what the external host answered it saw; null when the connection failed */
  observedSource: string | null;
  /** the source of the guest's SYN in the external host's capture; null: none captured */
  capturedSource: string | null;
  evidence: string;
  /** every connection tried, in order (the last one is the verdict's) */
  attempts?: EgressAttempt[];
}

export interface EgressAttempt {
  observedSource: string | null;
  capturedSource?: string | null;
  evidence: string;
  /** the guest's source port of this attempt */
  port: number;
}

/** One probe sent for a reachability check. */
export interface ReachAttempt {
  observed: Reachability;
  evidence: string;
  timeoutMs: number;
}

/** What showed that a silence was a drop, not a slow answer. */
export interface DropConfirmation {
  /**
   * `counter`: a dropping rule counted it; `arp`: the source's ARP went unanswered;
   * `no-address`: an end has no address; `local`: the source's own kernel refused to send
   * it (a node's OUTPUT chain: EPERM); `not-received`: probed again alone, the target's
   * kernel counted no echo request (a drop no rule counts: a bridge's ingress port)
   */
  by: 'counter' | 'arp' | 'no-address' | 'local' | 'not-received';
  /** in words: the rule and where, or the unanswered neighbour */
  text: string;
}

export interface ReachResult {
  from: string;
  to: string;
  proto: Protocol;
  port?: number;
  expected: Reachability;
  observed: Reachability;
  /** why this was expected (the oracle's reason) */
  reason: string;
  /** the command's evidence: round-trip time, or why it failed */
  evidence: string;
  durationMs: number;
  source: 'derived' | 'scenario';
  /** the address probed when not the target's fixed address (a floating address, from external) */
  toIp?: string;
  /** every probe sent, in order (the last one is the verdict's) */
  attempts?: ReachAttempt[];
  /** an observed silence where a drop was expected: what confirmed it, or null (unconfirmed) */
  confirmedBy?: DropConfirmation | null;
}
