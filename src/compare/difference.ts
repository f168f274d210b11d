/** A difference between a collected node and its model, and what every area's comparison shares. */
import type { Cidr } from '../net/ipv4.js';
import type { NodePlan, Plan, VmPlan } from '../plan/types.js';

/** Every kind of difference, by area (a stable id: tests and --json name them). */
export type DifferenceKind =
  // the dump itself
  | 'not-root' | 'not-collected'
  // links: the bridge, the uplink, the taps
  | 'bridge-missing' | 'bridge-down' | 'uplink-missing' | 'uplink-not-enslaved' | 'uplink-down' | 'tap-missing' | 'tap-outside-bridge' | 'tap-down' | 'extra-port'
  // addresses and routes
  | 'bridge-address-missing' | 'bridge-address-differs' | 'bridge-address-extra' | 'extra-subnet' | 'pool-address-elsewhere' | 'pool-route'
  // kernel settings
  | 'ip-forward-off' | 'bridge-nf-off' | 'sysctl'
  // iptables
  | 'table-missing' | 'policy' | 'instance-chain-missing' | 'chain-missing' | 'foreign-chain-drops' | 'foreign-chain'
  | 'same-net-missing' | 'same-net-extra' | 'dhcp-rule-missing' | 'dhcp-rule-extra' | 'instance-rule-missing' | 'instance-rule-extra'
  | 'instance-jump-missing' | 'instance-jump-extra' | 'drop-before-nova' | 'drop-rule' | 'snat-missing' | 'nova-jump-missing' | 'accept-missing' | 'rule-missing' | 'rule-extra'
  // ebtables
  | 'nwfilter-missing' | 'ebtables-drop' | 'ebtables-rules'
  // dnsmasq and its hosts file
  | 'dnsmasq-extra' | 'dnsmasq-missing' | 'dnsmasq-listen' | 'dnsmasq-argv' | 'hosts-unread' | 'hosts-missing' | 'hosts-mac' | 'hosts-foreign'
  // neighbours on the bridge
  | 'neigh-mac' | 'neigh-unknown';

export interface Difference {
  kind: DifferenceKind;
  /** what differs, model against node */
  what: string;
  /** what an operator sees because of it */
  symptom: string;
  /** whether a flow the model expects (a lease, an answer, a drop) changes */
  breaks: boolean;
  /** the operators' report it matches (flat-networking.md) */
  report?: number;
}

/** What each area's comparison reads and adds to. */
export interface Ctx {
  plan: Plan;
  node: NodePlan;
  here: VmPlan[];
  byIp: Map<string, VmPlan>;
  cidr: Cidr;
  out: Difference[];
}

export const list = (names: string[]): string => (names.length > 0 ? names.join(', ') : 'none');

export function add(c: Ctx, d: Difference): void {
  c.out.push(d);
}

export function notCollected(c: Ctx, what: string): void {
  add(c, { kind: 'not-collected', what: `${what} was not collected (see errors.txt)`, symptom: 'nothing can be said about it', breaks: false });
}

export function vmNames(vms: VmPlan[]): string {
  return list(vms.map((v) => v.name));
}

