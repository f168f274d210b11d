/**
 * A real node held against the model: what nova should have built on NODE (its plan)
 * beside what collect.sh saw there (a NodeDump), as a list of differences that matter
 * for flat networking, each with the symptom it causes and whether it breaks a flow.
 * Pure: plan and dump in, differences out.
 *
 * Matching is by what identifies a thing on both sides whatever the deployment named
 * it: a tap by its name or by the MAC libvirt derived from the guest's (fe:...), an
 * instance chain by the address it guards, dnsmasq's files by their base names.
 *
 * Where flatlab differs from nova on purpose, the difference is not reported: the
 * options flatlab adds to dnsmasq (LAB_ONLY_DNSMASQ_OPTIONS), nova-api's chains and the
 * mangle table (compare plans namespace guests, for which it is not rendered; firewall.ts),
 * the metadata DNAT.
 */
import { parseCidr, type Cidr } from '../net/ipv4.js';
import type { Plan } from '../plan/types.js';
import { add, type Ctx, type Difference } from './difference.js';
import { dnsmasq } from './dnsmasq.js';
import type { NodeDump } from './dump.js';
import { ebtables, firewall } from './firewall.js';
import { addresses, links, neighbours, sysctls } from './kernel.js';

export type { Difference, DifferenceKind } from './difference.js';

export function compareNode(plan: Plan, nodeName: string, dump: NodeDump): Difference[] {
  const node = plan.nodes.find((n) => n.name === nodeName);
  if (!node) throw new Error(`no node ${nodeName} in the model`);
  const c: Ctx = {
    plan,
    node,
    here: plan.vms.filter((v) => v.node === node.name),
    byIp: new Map(plan.vms.map((v) => [v.ip, v])),
    cidr: parseCidr(plan.network.cidr) as Cidr,
    out: [],
  };
  if (dump.meta.uid !== undefined && dump.meta.uid !== '0') {
    add(c, { kind: 'not-root', what: `collected as uid ${dump.meta.uid}, not root`, symptom: "what only root may read (the firewall, other processes' files) may be missing from the dump", breaks: false });
  }
  links(c, dump);
  addresses(c, dump);
  sysctls(c, dump);
  firewall(c, dump);
  ebtables(c, dump);
  dnsmasq(c, dump);
  neighbours(c, dump);
  return c.out;
}

/** What a dump taken inside a node cannot show, said once beside the differences. */
export const UNSEEN = [
  "the hypervisor's or switch's filtering of the node's NIC (promiscuous mode denied, forged transmits rejected: report 4); suspect it when the node shows no difference and instances on other nodes stay unreachable",
  'an address a guest set by hand, unless the node has talked to it (ip neigh)',
];
