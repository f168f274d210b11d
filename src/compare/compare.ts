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
 * mangle table (not rendered; firewall.ts), the metadata DNAT.
 */
import { cidrContains, inSubnet, networkOf, parseCidr, type Cidr } from '../net/ipv4.js';
import { LAB_ONLY_DNSMASQ_OPTIONS } from '../plan/dnsmasq.js';
import { COMPUTE_LOCAL, FALLBACK_CHAIN, instanceChain, jumpsToFallback, METADATA_ADDRESS, sameNetAcceptRule } from '../nova/iptables.js';
import type { NodePlan, Plan, VmPlan } from '../plan/types.js';
import type { NodeDump } from './dump.js';
import { parseIptablesSave, ruleLine, type Rule, type Table } from '../net/iptables-save.js';
import { byInstanceAddress } from './iptables.js';

export interface Difference {
  /** a stable id of the kind of difference (tests, --json) */
  kind: string;
  /** what differs, model against node */
  what: string;
  /** what an operator sees because of it */
  symptom: string;
  /** whether a flow the model expects (a lease, an answer, a drop) changes */
  breaks: boolean;
  /** the operators' report it matches (flat-networking.md) */
  report?: number;
}

interface Ctx {
  plan: Plan;
  node: NodePlan;
  here: VmPlan[];
  byIp: Map<string, VmPlan>;
  cidr: Cidr;
  out: Difference[];
}

const list = (names: string[]): string => (names.length > 0 ? names.join(', ') : 'none');

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

function add(c: Ctx, d: Difference): void {
  c.out.push(d);
}

function notCollected(c: Ctx, what: string): void {
  add(c, { kind: 'not-collected', what: `${what} was not collected (see errors.txt)`, symptom: 'nothing can be said about it', breaks: false });
}

function vmNames(vms: VmPlan[]): string {
  return list(vms.map((v) => v.name));
}

function links(c: Ctx, dump: NodeDump): void {
  const { node } = c;
  if (!dump.links) return notCollected(c, 'ip -d link');
  const byName = new Map(dump.links.map((l) => [l.name, l]));
  const br = byName.get(node.bridge);
  if (!br || !br.bridge) {
    add(c, { kind: 'bridge-missing', what: `no bridge ${node.bridge}`, symptom: `${vmNames(c.here)} are plugged into nothing: no lease, no traffic`, breaks: true });
    return;
  }
  if (!br.up) add(c, { kind: 'bridge-down', what: `${node.bridge} is down`, symptom: `nothing is bridged on ${node.name}: ${vmNames(c.here)} get no lease and reach nothing`, breaks: true });
  const up = byName.get(node.uplink);
  if (!up) {
    add(c, { kind: 'uplink-missing', what: `no ${node.uplink} (flat_interface)`, symptom: `${node.name}'s instances reach only each other: nothing crosses to other nodes`, breaks: true });
  } else {
    if (up.master !== node.bridge) {
      add(c, {
        kind: 'uplink-not-enslaved',
        what: `${node.uplink} (flat_interface) is ${up.master ? `a port of ${up.master}` : 'in no bridge'}, not a port of ${node.bridge}`,
        symptom: `instances on ${node.name} reach each other and ${node.name}, but no instance on another node (ARP for them goes unanswered)`,
        breaks: true,
      });
    }
    if (!up.up && node.uplinkUp) {
      add(c, {
        kind: 'uplink-down',
        what: `${node.uplink} (flat_interface) is down`,
        symptom: `nothing leaves ${node.bridge}: instances on ${node.name} reach only each other; ARP requests go out on ${node.bridge} and no reply comes back`,
        breaks: true,
        report: 8,
      });
    }
  }
  const seen = new Set<string>([node.uplink]);
  for (const vm of c.here) {
    const tap = byName.get(vm.tap) ?? dump.links.find((l) => l.mac === vm.tapMac.toLowerCase());
    if (!tap) {
      add(c, { kind: 'tap-missing', what: `no tap for ${vm.name} (${vm.tap} or MAC ${vm.tapMac})`, symptom: `${vm.name} is not running on ${node.name}, or under another MAC`, breaks: false });
      continue;
    }
    seen.add(tap.name);
    if (tap.master !== node.bridge) {
      add(c, { kind: 'tap-outside-bridge', what: `${vm.name}'s tap ${tap.name} is ${tap.master ? `a port of ${tap.master}` : 'in no bridge'}, not of ${node.bridge}`, symptom: `${vm.name} gets no lease and reaches nothing`, breaks: true });
    } else if (!tap.up) {
      add(c, { kind: 'tap-down', what: `${vm.name}'s tap ${tap.name} is down`, symptom: `${vm.name} gets no lease and reaches nothing`, breaks: true });
    }
  }
  const extra = dump.links.filter((l) => l.master === node.bridge && !seen.has(l.name)).map((l) => l.name);
  if (extra.length > 0) {
    add(c, { kind: 'extra-port', what: `${node.bridge} has ports the model has not: ${extra.join(', ')}`, symptom: 'instances the model does not know of, or another segment bridged into the flat one', breaks: false });
  }
}

function addresses(c: Ctx, dump: NodeDump): void {
  const { node, cidr } = c;
  if (!dump.addrs) return notCollected(c, 'ip addr');
  const onBridge = dump.addrs.filter((a) => a.dev === node.bridge);
  const pool = onBridge.filter((a) => cidrContains(cidr, a.ip));
  const bridgeExists = dump.links === null || dump.links.some((l) => l.name === node.bridge);
  const single = node.public?.layout === 'single-interface' ? node.public.ip : null;
  if (node.bridgeIp !== null && bridgeExists) {
    if (pool.length === 0) {
      add(c, {
        kind: 'bridge-address-missing',
        what: `${node.bridge} has no address from ${cidr.text} (model: ${node.bridgeIp}/${cidr.prefixLength})`,
        symptom: `${node.name} has no route to the pool and is no gateway: dnsmasq cannot listen on ${node.bridgeIp}, so ${vmNames(c.here)} get no lease and no gateway`,
        breaks: true,
        report: 5,
      });
    } else if (!pool.some((a) => a.ip === node.bridgeIp)) {
      add(c, {
        kind: 'bridge-address-differs',
        what: `${node.bridge} has ${pool.map((a) => a.ip).join(', ')}, the model ${node.bridgeIp}`,
        symptom: 'none by itself: nova took the address in database order; the instances\' gateway is whatever dnsmasq hands out',
        breaks: false,
      });
    }
  } else if (pool.length > 0) {
    const clash = pool.find((a) => a.ip === c.plan.network.gateway);
    add(c, {
      kind: 'bridge-address-extra',
      what: `${node.bridge} has ${pool.map((a) => a.ip).join(', ')} from the pool; nova gives this node none`,
      symptom: clash ? `${clash.ip} is the network host's address too: every instance's gateway answers from two nodes` : `${node.name} answers on the flat network, where nova left it silent`,
      breaks: clash !== undefined,
    });
  }
  for (const a of onBridge.filter((x) => !cidrContains(cidr, x.ip) && x.ip !== single)) {
    const overlaps = inSubnet(cidr.network, a.ip, a.prefix) || cidrContains(cidr, a.ip);
    add(c, {
      kind: 'extra-subnet',
      what: `${node.bridge} also carries ${a.ip}/${a.prefix}, outside ${cidr.text}`,
      symptom: overlaps
        ? `its subnet covers the pool: ${node.name} routes instances' traffic by the wrong address`
        : `${node.name} routes ${networkOf(a.ip, a.prefix)} onto the flat segment every instance shares: instances reach that subnet directly and unSNATed, and its hosts see the instances' broadcasts (nova's initialize_gateway_device keeps the addresses flat_interface had on the bridge, after the pool address)`,
      breaks: overlaps,
      report: 1,
    });
  }
  const elsewhere = dump.addrs.filter((a) => a.dev !== node.bridge && cidrContains(cidr, a.ip));
  for (const a of elsewhere) {
    add(c, { kind: 'pool-address-elsewhere', what: `${a.dev} has ${a.ip}/${a.prefix} from the pool, outside ${node.bridge}`, symptom: `${node.name} sends traffic for the pool out of ${a.dev}, not onto ${node.bridge}`, breaks: true });
  }
  const route = dump.routes?.find((r) => r.dst === cidr.text);
  if (route && route.dev !== node.bridge) {
    add(c, { kind: 'pool-route', what: `the route to ${cidr.text} goes ${route.via ? `via ${route.via} ` : ''}dev ${route.dev}, not ${node.bridge}`, symptom: `${node.name} does not reach its instances on ${node.bridge}`, breaks: true });
  }
}

/** A node whose instance chains drop something: isolation rests on bridged frames passing iptables. */
function reliesOnFiltering(node: NodePlan, cidr: string): boolean {
  const lines = node.firewall.split('\n');
  return jumpsToFallback(node.firewall) && !lines.some((l) => l === sameNetAcceptRule(l.split(' ')[1] ?? '', cidr));
}

function sysctls(c: Ctx, dump: NodeDump): void {
  const { node } = c;
  if (!dump.sysctls) return notCollected(c, 'the sysctls');
  for (const [key, want] of Object.entries(node.sysctls)) {
    const got = dump.sysctls[key];
    if (got === undefined || got === want) continue;
    if (key === 'net.ipv4.ip_forward') {
      add(c, {
        kind: 'ip-forward-off',
        what: `net.ipv4.ip_forward=${got} (model ${want})`,
        symptom: node.isGateway ? `${node.name} routes nothing: its instances cannot leave the flat network through their gateway ${node.bridgeIp ?? ''}`.trim() : `none while ${node.name} routes for no instance`,
        breaks: node.isGateway,
        report: 2,
      });
    } else if (key === 'net.bridge.bridge-nf-call-iptables') {
      const relies = reliesOnFiltering(node, c.cidr.text);
      add(c, {
        kind: 'bridge-nf-off',
        what: got === 'absent' ? 'net.bridge.bridge-nf-call-iptables is absent (br_netfilter not loaded)' : `net.bridge.bridge-nf-call-iptables=${got}`,
        symptom: `bridged frames never pass ${node.name}'s iptables: nova's instance chains see no instance traffic${relies ? ', so allow_same_net_traffic=False and security groups are not enforced' : ''}`,
        breaks: relies,
        report: 3,
      });
    } else {
      add(c, { kind: 'sysctl', what: `${key}=${got} (model ${want})`, symptom: 'differs from what the model sets', breaks: false });
    }
  }
}

// ---------------------------------------------------------------------------------------
// iptables

const BUILTIN = new Set(['INPUT', 'FORWARD', 'OUTPUT', 'PREROUTING', 'POSTROUTING']);
/** chains and rules of nova processes flatlab does not render (firewall.ts): not differences */
const NOT_RENDERED = (r: Pick<Rule, 'chain' | 'text'>): boolean => /^nova-api-/.test(r.chain) || /-j nova-api-/.test(r.text) || r.text.includes(METADATA_ADDRESS);
const dropping = (r: Rule): boolean => r.target === 'DROP' || r.target === 'REJECT';

function firewall(c: Ctx, dump: NodeDump): void {
  if (!dump.iptables) return notCollected(c, 'iptables-save');
  const model = parseIptablesSave(c.node.firewall);
  for (const [name, m] of model) {
    const d = dump.iptables.get(name);
    if (!d) {
      add(c, { kind: 'table-missing', what: `no ${name} table: none of nova's ${name} rules are loaded`, symptom: name === 'nat' ? 'instances leave with their fixed address: no answer comes back' : 'nothing is filtered: isolation and security groups are not enforced', breaks: true });
      continue;
    }
    compareTable(c, name, byInstanceAddress(m), byInstanceAddress(d));
  }
}

function chainLabel(c: Ctx, chain: string): string {
  const m = /^instance\((.*)\)$/.exec(chain);
  if (!m) return chain;
  const vm = c.byIp.get(m[1]!);
  return vm ? `${vm.name}'s chain (${instanceChain(vm)})` : `the chain of ${m[1]}`;
}

function compareTable(c: Ctx, table: string, model: Table, node: Table): void {
  for (const [chain, policy] of model.policies) {
    if (!BUILTIN.has(chain)) continue;
    const got = node.policies.get(chain);
    if (got && got !== policy) {
      add(c, {
        kind: 'policy',
        what: `${table} ${chain} policy ${got} (model ${policy})`,
        symptom: `what nova's chains do not accept is ${got === 'DROP' ? 'dropped' : 'let through'}${chain === 'FORWARD' && c.node.isGateway ? ` (nova-network accepts ${c.node.bridge} traffic itself, so instance flows pass)` : ''}`,
        breaks: false,
      });
    }
  }
  const chains = new Set([...model.rules.map((r) => r.chain), ...model.policies.keys()]);
  const nodeChains = new Set([...node.rules.map((r) => r.chain), ...node.policies.keys()]);
  for (const chain of chains) {
    if (!nodeChains.has(chain)) {
      const inst = /^instance\((.*)\)$/.exec(chain);
      add(c, {
        kind: inst ? 'instance-chain-missing' : 'chain-missing',
        what: `${table}: ${chainLabel(c, chain)} is missing`,
        symptom: inst ? `traffic to ${inst[1]} is not filtered as nova filters it` : `nova's ${chain} rules are not loaded`,
        breaks: true,
      });
      continue;
    }
    const want = model.rules.filter((r) => r.chain === chain && !NOT_RENDERED(r));
    const got = node.rules.filter((r) => r.chain === chain && !NOT_RENDERED(r));
    const missing = multisetMinus(want, got);
    const extra = multisetMinus(got, want);
    for (const r of missing) add(c, ruleDifference(c, table, r, 'missing', node));
    for (const r of extra) add(c, ruleDifference(c, table, r, 'extra', node));
  }
  // chains only the node has, reached from the built-ins: another tool's rules
  for (const chain of nodeChains) {
    if (chains.has(chain) || BUILTIN.has(chain) || /^nova-api-/.test(chain)) continue;
    const rules = node.rules.filter((r) => r.chain === chain);
    const drops = rules.filter(dropping);
    if (rules.length === 0) continue;
    add(c, {
      kind: drops.length > 0 ? 'foreign-chain-drops' : 'foreign-chain',
      what: `${table}: chain ${chain} (${rules.length} rule(s)) is not nova's`,
      symptom: drops.length > 0 ? `it drops: ${drops.map((r) => `${ruleLine(r)}${counted(r)}`).join('; ')}` : 'none known',
      breaks: drops.length > 0 && node.rules.some((r) => r.target === chain),
    });
  }
}

function multisetMinus(a: Rule[], b: Rule[]): Rule[] {
  const left = new Map<string, number>();
  for (const r of b) left.set(r.key, (left.get(r.key) ?? 0) + 1);
  return a.filter((r) => {
    const n = left.get(r.key) ?? 0;
    if (n > 0) {
      left.set(r.key, n - 1);
      return false;
    }
    return true;
  });
}

function counted(r: Rule): string {
  return r.packets !== null && r.packets > 0 ? ` (${r.packets} packets matched)` : '';
}

function ruleDifference(c: Ctx, table: string, r: Rule, side: 'missing' | 'extra', node: Table): Difference {
  const label = chainLabel(c, r.chain);
  const rule = `-A ${r.chain.startsWith('instance(') ? label.replace(/.*\((nova-compute-inst-\d+)\).*/, '$1') : r.chain} ${r.text}`;
  const what = side === 'missing' ? `${table}: nova's rule is missing: ${rule}` : `${table}: a rule nova did not write: ${rule}${counted(r)}`;
  const inst = /^instance\((.*)\)$/.exec(r.chain);
  const vm = inst ? c.byIp.get(inst[1]!) : undefined;
  const who = vm?.name ?? inst?.[1] ?? '';
  if (inst) {
    if (r.key === `-j=ACCEPT -s=${c.cidr.text}`) {
      return side === 'missing'
        ? { kind: 'same-net-missing', what, symptom: `${who} accepts nothing from the other instances: instance-to-instance traffic to it is dropped (as with allow_same_net_traffic=False)`, breaks: true, report: 3 }
        : { kind: 'same-net-extra', what, symptom: `${who} accepts every instance: the isolation the model expects (allow_same_net_traffic=False) is not there`, breaks: true, report: 3 };
    }
    if (/--sport=67/.test(r.key) && r.target === 'ACCEPT') {
      return side === 'missing'
        ? { kind: 'dhcp-rule-missing', what, symptom: `${who} never receives its DHCP offer: no lease`, breaks: true }
        : { kind: 'dhcp-rule-extra', what, symptom: `${who} accepts DHCP replies from another server too`, breaks: false };
    }
    if (r.target === 'ACCEPT' || r.target === FALLBACK_CHAIN || dropping(r)) {
      return { kind: `instance-rule-${side}`, what, symptom: `what reaches ${who} differs from what nova's security groups allow`, breaks: true };
    }
  }
  const jumpTo = r.chain === COMPUTE_LOCAL ? /^instance\((.*)\)$/.exec(r.target ?? '') : null;
  if (jumpTo) {
    const target = c.byIp.get(jumpTo[1]!);
    const name = target ? `${target.name} (${jumpTo[1]})` : jumpTo[1]!;
    return side === 'missing'
      ? { kind: 'instance-jump-missing', what: `${table}: nothing sends traffic for ${name} into its instance chain`, symptom: `traffic to ${name} passes no instance rule: isolation and security groups do not apply to it`, breaks: true }
      : { kind: 'instance-jump-extra', what: `${table}: ${c.node.name} filters for ${name}, an instance the model does not place here`, symptom: target ? `${target.name} runs on ${target.node} in the model` : 'an instance the model does not know', breaks: false };
  }
  if (side === 'extra' && dropping(r)) {
    const rules = node.rules.filter((x) => x.chain === r.chain);
    const novaJump = rules.findIndex((x) => x.target !== null && /^nova-/.test(x.target));
    const before = BUILTIN.has(r.chain) && (novaJump < 0 || rules.indexOf(r) < novaJump);
    return {
      kind: before ? 'drop-before-nova' : 'drop-rule',
      what,
      symptom: before ? `packets it matches are dropped before nova's chains see them${r.chain === 'FORWARD' ? ': instance traffic through ' + c.node.name + ' that matches never arrives' : ''}` : 'packets it matches are dropped',
      breaks: true,
    };
  }
  if (table === 'nat' && /-j SNAT/.test(rule) && side === 'missing') {
    return { kind: 'snat-missing', what, symptom: `instances routed by ${c.node.name} leave with their fixed address: the far side's answer never comes back`, breaks: true };
  }
  if (side === 'missing' && r.target !== null && /^nova-/.test(r.target)) {
    return { kind: 'nova-jump-missing', what, symptom: `${r.target} is never consulted: nova's rules there do nothing`, breaks: true };
  }
  if (side === 'missing' && r.target === 'ACCEPT') {
    return { kind: 'accept-missing', what, symptom: 'what it accepted now meets the chain\'s end (the policy, or nova\'s fallback)', breaks: false };
  }
  return { kind: `rule-${side}`, what, symptom: 'none known for flat networking', breaks: false };
}

function ebtables(c: Ctx, dump: NodeDump): void {
  const want = c.node.nwfilter.length;
  if (!dump.ebtables) {
    if (want > 0) notCollected(c, 'ebtables');
    return;
  }
  const rules = [...dump.ebtables.entries()].flatMap(([t, rs]) => rs.map((r) => ({ t, r })));
  if (want > 0 && rules.length === 0) {
    add(c, { kind: 'nwfilter-missing', what: "no ebtables rules: libvirt's nwfilter (no MAC/IP spoofing) is not loaded", symptom: 'a guest can use any address or MAC on the flat segment', breaks: false });
  }
  if (want > 0) return;
  const drops = rules.filter((x) => /-j DROP\b/.test(x.r));
  if (rules.length > 0) {
    add(c, {
      kind: drops.length > 0 ? 'ebtables-drop' : 'ebtables-rules',
      what: `ebtables rules the model has not: ${rules.map((x) => `${x.t}: ${x.r}`).join('; ')}`,
      symptom: drops.length > 0 ? 'frames they match are dropped on the bridge (a MAC filter): instances behind it lose what matches' : 'none known',
      breaks: drops.length > 0,
      ...(drops.length > 0 ? { report: 4 } : {}),
    });
  }
}

/** argv without the program, flatlab's own additions, and with paths by their base names. */
function normalisedArgv(argv: string[]): string[] {
  const args = argv[0] && !argv[0].startsWith('-') ? argv.slice(1) : argv;
  return args
    .filter((a) => !LAB_ONLY_DNSMASQ_OPTIONS.some((o) => a === o || a.startsWith(`${o}=`)))
    .map((a) => a.replace(/^(--[\w-]+=)(\/\S*\/)([^/]+)$/, '$1…/$3'));
}

function dnsmasq(c: Ctx, dump: NodeDump): void {
  const d = c.node.dhcp;
  if (!d) {
    if (dump.dnsmasq.length > 0) add(c, { kind: 'dnsmasq-extra', what: `dnsmasq runs (pid ${dump.dnsmasq.map((x) => x.pid).join(', ')}); the model has none on ${c.node.name}`, symptom: 'a second DHCP server on the flat segment may answer instances nova placed elsewhere', breaks: false });
    return;
  }
  const own = dump.dnsmasq.find((x) => x.argv.includes(`--listen-address=${d.listenAddress}`)) ?? dump.dnsmasq[0];
  if (!own) {
    add(c, { kind: 'dnsmasq-missing', what: `no dnsmasq (model: listening on ${d.listenAddress})`, symptom: `${vmNames(c.here)} get no lease from ${c.node.name}`, breaks: true, report: 5 });
    return;
  }
  const want = normalisedArgv(['dnsmasq', ...d.argv]);
  const got = normalisedArgv(own.argv);
  const listen = got.find((a) => a.startsWith('--listen-address='));
  if (listen !== `--listen-address=${d.listenAddress}`) {
    add(c, { kind: 'dnsmasq-listen', what: `dnsmasq ${listen ?? 'has no --listen-address'} (model --listen-address=${d.listenAddress})`, symptom: `its offers name a router and server the instances on ${c.node.name} were not planned with`, breaks: false });
  }
  const missing = want.filter((a) => !got.includes(a) && !a.startsWith('--listen-address='));
  const extra = got.filter((a) => !want.includes(a) && !a.startsWith('--listen-address='));
  if (missing.length + extra.length > 0) {
    const range = [...missing, ...extra].some((a) => a.startsWith('--dhcp-range='));
    add(c, {
      kind: 'dnsmasq-argv',
      what: `dnsmasq's argv differs from nova ${c.plan.release}'s: ${[...missing.map((a) => `missing ${a}`), ...extra.map((a) => `extra ${a}`)].join(', ')}`,
      symptom: range ? 'the range or lease time it serves differs: leases may not be what nova recorded' : 'none known for leases, unless an option above changes what it answers',
      breaks: false,
    });
  }
  hostsFile(c, own.hosts);
}

function hostsFile(c: Ctx, hosts: { mac: string; host: string; ip: string }[] | null): void {
  if (hosts === null) {
    add(c, { kind: 'hosts-unread', what: "dnsmasq's --dhcp-hostsfile was not collected", symptom: 'which instances it answers is unknown', breaks: false });
    return;
  }
  const listed = new Map(hosts.map((h) => [h.ip, h]));
  for (const vm of c.here) {
    const h = listed.get(vm.ip);
    if (!h) add(c, { kind: 'hosts-missing', what: `${vm.name} (${vm.mac}, ${vm.ip}) is not in dnsmasq's hosts file`, symptom: `${vm.name} gets no lease (static ranges answer listed MACs only)`, breaks: true });
    else if (h.mac !== vm.mac.toLowerCase()) add(c, { kind: 'hosts-mac', what: `dnsmasq's hosts file gives ${vm.ip} to ${h.mac}, the model to ${vm.name} (${vm.mac})`, symptom: `${vm.name} gets no lease`, breaks: true });
  }
  const foreign = hosts.filter((h) => !c.here.some((v) => v.ip === h.ip));
  if (foreign.length > 0) {
    const names = foreign.map((h) => {
      const vm = c.byIp.get(h.ip);
      return vm ? `${vm.name} (${h.ip}, on ${vm.node})` : `${h.host} (${h.ip}, no instance of the model)`;
    });
    add(c, {
      kind: 'hosts-foreign',
      what: `dnsmasq's hosts file lists instances of other nodes: ${names.join(', ')}`,
      symptom: `this dnsmasq answers them too and may hand them ${c.node.name}'s bridge as their gateway (nova filtered the file by the instance's host)`,
      breaks: foreign.some((h) => c.byIp.has(h.ip)),
    });
  }
}

function neighbours(c: Ctx, dump: NodeDump): void {
  for (const n of dump.neigh ?? []) {
    if (n.dev !== c.node.bridge || !n.mac || !cidrContains(c.cidr, n.ip)) continue;
    const vm = c.byIp.get(n.ip);
    const isNode = c.plan.nodes.some((x) => x.bridgeIp === n.ip);
    if (vm && vm.mac.toLowerCase() !== n.mac) {
      add(c, { kind: 'neigh-mac', what: `${n.ip} answers from ${n.mac}; nova gave it to ${vm.name} (${vm.mac})`, symptom: `another guest uses ${vm.name}'s address: traffic for ${vm.name} goes astray`, breaks: false });
    } else if (!vm && !isNode && n.ip !== c.plan.network.gateway) {
      add(c, { kind: 'neigh-unknown', what: `${n.ip} (MAC ${n.mac}) is on ${c.node.bridge}; nova gave it to no instance`, symptom: 'a guest set an address by hand: answers to it pass no instance chain nova wrote', breaks: false });
    }
  }
}

/** What a dump taken inside a node cannot show, said once beside the differences. */
export const UNSEEN = [
  "the hypervisor's or switch's filtering of the node's NIC (promiscuous mode denied, forged transmits rejected: report 4); suspect it when the node shows no difference and instances on other nodes stay unreachable",
  'an address a guest set by hand, unless the node has talked to it (ip neigh)',
];
