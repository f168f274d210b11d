/**
 * The oracle: the verdict nova's firewall gives each probe, derived from the scenario
 * alone. It walks the target instance's chain the way the kernel would (firewall.ts
 * renders the same chain): same-net accept, then security-group rules, then the
 * fallback DROP. Outbound traffic is not filtered by nova (chains match by
 * destination), and replies pass as ESTABLISHED.
 */
import { cidrContains, parseCidr, type Cidr } from '../net/ipv4.js';
import { FALLBACK_CHAIN, instanceChain } from '../nova/iptables.js';
import type { NetworkPlan, Protocol, Reachability, RulePlan, VmPlan } from './types.js';

export interface Probe {
  from: string;
  to: string;
  proto: Protocol;
  port?: number;
}

export interface Judgement {
  expect: Reachability;
  reason: string;
}

/** ICMP probes are echo requests: type 8, code 0. */
const ECHO_REQUEST = 8;

export function ruleMatches(rule: RulePlan, probe: Probe): boolean {
  if (rule.proto !== probe.proto) return false;
  if (rule.proto === 'icmp') {
    return (rule.icmpType === undefined || rule.icmpType === ECHO_REQUEST) && (rule.icmpCode === undefined || rule.icmpCode === 0);
  }
  return probe.port !== undefined && probe.port >= rule.fromPort! && probe.port <= rule.toPort!;
}

function describe(rule: RulePlan): string {
  const what =
    rule.proto === 'icmp'
      ? `icmp${rule.icmpType !== undefined ? ` type ${rule.icmpType}` : ''}`
      : `${rule.proto} ${rule.fromPort === rule.toPort ? rule.fromPort : `${rule.fromPort}-${rule.toPort}`}`;
  return `${what} from ${rule.group !== undefined ? `group ${rule.group}` : rule.cidr}`;
}

export interface OracleInputs {
  network: NetworkPlan;
  vms: VmPlan[];
  groups: Record<string, RulePlan[]>;
  /** VMs that will hold no address (nothing configures them) */
  unaddressed?: Set<string>;
  /** a node's own allow_same_net_traffic, where its nova.conf says otherwise than the scenario's */
  allowSameNet?: Record<string, boolean>;
}

export function judge(i: OracleInputs, probe: Probe): Judgement {
  const src = i.vms.find((v) => v.name === probe.from)!;
  const dst = i.vms.find((v) => v.name === probe.to)!;
  for (const v of [src, dst]) {
    if (i.unaddressed?.has(v.name)) return { expect: 'unreachable', reason: `${v.name} has no address (no DHCP server, no injection)` };
  }
  const verdict = walkInstanceChain(i, { ip: src.ip, groups: src.securityGroups }, dst, probe);
  return verdict.accepted ? verdict.judgement : { expect: 'unreachable', reason: verdict.why };
}

/**
 * The target's instance chain walked for a packet from `src` (an address and the groups
 * it is a member of), as the kernel walks it: same-net accept, then the security-group
 * rules, then the fallback that drops.
 */
function walkInstanceChain(i: OracleInputs, src: { ip: string; groups: string[] }, dst: VmPlan, probe: Probe): { accepted: true; judgement: Judgement } | { accepted: false; why: string } {
  const chain = instanceChain(dst);
  // Accepted by the firewall: the guest's own kernel answers, or refuses a port where
  // nothing listens (a TCP reset, an ICMP port unreachable, which its chain lets back
  // as ESTABLISHED/RELATED).
  const accepted = (why: string): { accepted: true; judgement: Judgement } => {
    const listens = dst.declaredServices;
    if (probe.proto !== 'icmp' && listens !== null && !listens.some((s) => s.proto === probe.proto && s.port === probe.port)) {
      const has = listens.length ? listens.map((s) => `${s.proto}/${s.port}`).join(', ') : 'none';
      return { accepted: true, judgement: { expect: 'refused', reason: `${why}, but nothing listens on ${probe.proto}/${probe.port} in ${dst.name} (its services: ${has})` } };
    }
    return { accepted: true, judgement: { expect: 'reachable', reason: why } };
  };
  // the target's node renders its chains from its own nova.conf
  const allow = i.allowSameNet?.[dst.node] ?? i.network.allowSameNetTraffic;
  if (allow && cidrContains(parseCidr(i.network.cidr) as Cidr, src.ip)) {
    return accepted(`${chain} accepts: allow_same_net_traffic, ${src.ip} is in ${i.network.cidr}`);
  }
  for (const g of dst.securityGroups) {
    for (const rule of i.groups[g] ?? []) {
      if (!ruleMatches(rule, probe)) continue;
      const fromOk = rule.group !== undefined ? src.groups.includes(rule.group) : cidrContains(parseCidr(rule.cidr!) as Cidr, src.ip);
      if (fromOk) return accepted(`${chain} accepts: security group ${g} allows ${describe(rule)}`);
    }
  }
  const why = allow ? '' : `allow_same_net_traffic is off${i.allowSameNet?.[dst.node] !== undefined ? ` on ${dst.node}` : ''} and `;
  return { accepted: false, why: `${why}no rule of ${chain} accepts it: ${FALLBACK_CHAIN} drops` };
}

/**
 * A probe from a node's own stack (`from: node:NAME`): the kernel sources it from the
 * node's address on the bridge (its pool address; a node nova gave none has no route to
 * the network at all). Its OUTPUT passes nova-filter-top -> nova-compute-local as every
 * IptablesManager table did (nova/network/linux_net.py, both processes hook OUTPUT), so
 * a probe to one of the node's own instances meets that instance's chain before it
 * leaves: dropped there, the send itself fails (EPERM, "Operation not permitted"), the
 * report's symptom. To another node's instance it meets the chain on arrival.
 */
export function judgeFromNode(i: OracleInputs, node: { name: string; bridgeIp: string | null }, probe: Probe): Judgement {
  const dst = i.vms.find((v) => v.name === probe.to)!;
  if (i.unaddressed?.has(dst.name)) return { expect: 'unreachable', reason: `${dst.name} has no address (no DHCP server, no injection)` };
  if (node.bridgeIp === null) {
    return { expect: 'unreachable', reason: `${node.name} holds no address in ${i.network.cidr} (nova put one on a node's bridge only where nova-network served the network): no route to ${dst.ip}` };
  }
  const verdict = walkInstanceChain(i, { ip: node.bridgeIp, groups: [] }, dst, probe);
  if (verdict.accepted) return { ...verdict.judgement, reason: `from ${node.name}'s own ${node.bridgeIp}: ${verdict.judgement.reason}` };
  if (dst.node === node.name) {
    return {
      expect: 'unreachable',
      reason: `refused locally: ${node.name}'s OUTPUT passes nova-filter-top -> nova-compute-local -> ${instanceChain(dst)} before the packet leaves, and ${verdict.why}, so the send fails with "Operation not permitted"`,
    };
  }
  return { expect: 'unreachable', reason: `from ${node.name}'s own ${node.bridgeIp}: ${verdict.why} on ${dst.node}` };
}

/**
 * A probe from the external host to an instance's floating address (`from: external`):
 * it reaches the node that holds the address (bound to its public_interface), whose
 * nova-network-PREROUTING DNATs it to the fixed address; routed into the flat network, it
 * meets the instance's chain with the external host's own address as source, so
 * allow_same_net_traffic never lets it in: only a security-group rule from a CIDR holding
 * that address does (nova's default group has none: the reports' "cannot ping the
 * floating IP"). `blocked`: why it cannot even get there (the holder's bridge), or null.
 */
export function judgeFromExternal(i: OracleInputs, from: { ip: string; floating: string; holder: string; blocked: string | null }, probe: Probe): Judgement {
  const dst = i.vms.find((v) => v.name === probe.to)!;
  if (i.unaddressed?.has(dst.name)) return { expect: 'unreachable', reason: `${dst.name} has no address (no DHCP server, no injection)` };
  const dnat = `nova-network-PREROUTING on ${from.holder} DNATs ${from.floating} to ${dst.ip}`;
  if (from.blocked) return { expect: 'unreachable', reason: `${dnat}, but ${from.blocked}` };
  const verdict = walkInstanceChain(i, { ip: from.ip, groups: [] }, dst, probe);
  if (verdict.accepted) return { ...verdict.judgement, reason: `${dnat}; ${verdict.judgement.reason}` };
  return { expect: 'unreachable', reason: `${dnat}; from the external host's ${from.ip}: ${verdict.why} on ${dst.node}` };
}

/** Above this many VMs, pairs are sampled: a full N×N matrix is quadratic. */
export const SAMPLE_ABOVE = 48;

/**
 * Which ordered VM pairs to probe. Up to SAMPLE_ABOVE VMs: all of them. Above: within
 * each node, VMs in partner pairs (1st and 2nd, 3rd and 4th, ...; an odd last one with
 * the first), probed both ways; across nodes one pair per ordered node pair (each node's
 * first VM to every other node's first VM). Every VM sends and answers, every bridge and
 * every node-to-node path is crossed.
 *
 * Why partners and not every pair within a node: each new (VM, neighbour) pair costs an
 * ARP entry, and the kernel's neighbour table is one table for all namespaces
 * (net.ipv4.neigh.default.gc_thresh3, 1024 here), whose entries younger than 5 s cannot
 * be reclaimed. 64 VMs on a node probing each other need 4032 entries; partners probed
 * both ways need one entry per probe (the answer reuses what the question's ARP taught).
 */
export function probePairs(vms: VmPlan[]): { pairs: [VmPlan, VmPlan][]; sampling: string | null } {
  const all: [VmPlan, VmPlan][] = [];
  if (vms.length <= SAMPLE_ABOVE) {
    for (const a of vms) for (const b of vms) if (a !== b) all.push([a, b]);
    return { pairs: all, sampling: null };
  }
  const byNode = new Map<string, VmPlan[]>();
  for (const v of vms) byNode.set(v.node, [...(byNode.get(v.node) ?? []), v]);
  for (const group of byNode.values()) {
    if (group.length < 2) continue;
    for (let k = 0; k + 1 < group.length; k += 2) all.push([group[k]!, group[k + 1]!], [group[k + 1]!, group[k]!]);
    if (group.length % 2 === 1 && group.length > 1) all.push([group.at(-1)!, group[0]!], [group[0]!, group.at(-1)!]);
  }
  const within = all.length;
  const firsts = [...byNode.values()].map((g) => g[0]!);
  for (const a of firsts) for (const b of firsts) if (a !== b) all.push([a, b]);
  return {
    pairs: all,
    sampling: `${vms.length} VMs: sampled ${all.length} of ${vms.length * (vms.length - 1)} ordered pairs (${within} between partner VMs within each node, both ways, ${all.length - within} between the first VMs of every ordered node pair)`,
  };
}

/**
 * The probes worth sending: ICMP between the probed pairs, and, for every tcp/udp port
 * a security group opens or a declared service listens on, that port between the same pairs.
 */
export function deriveProbes(i: OracleInputs): Probe[] {
  const ports = new Map<string, { proto: 'tcp' | 'udp'; port: number }>();
  for (const g of new Set(i.vms.flatMap((v) => v.securityGroups))) {
    for (const r of i.groups[g] ?? []) {
      if (r.proto !== 'icmp') ports.set(`${r.proto}/${r.fromPort}`, { proto: r.proto, port: r.fromPort! });
    }
  }
  // and every service a scenario says listens somewhere
  for (const svc of i.vms.flatMap((v) => v.declaredServices ?? [])) ports.set(`${svc.proto}/${svc.port}`, svc);
  const services = [...ports.values()].sort((a, b) => a.proto.localeCompare(b.proto) || a.port - b.port);
  const probes: Probe[] = [];
  for (const [a, b] of probePairs(i.vms).pairs) {
    probes.push({ from: a.name, to: b.name, proto: 'icmp' });
    for (const s of services) probes.push({ from: a.name, to: b.name, proto: s.proto, port: s.port });
  }
  return probes;
}
