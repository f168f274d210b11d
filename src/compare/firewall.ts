/** The node's iptables and ebtables against the rules nova would have written there. */
import { COMPUTE_LOCAL, FALLBACK_CHAIN, instanceChain, isSameNetAccept, METADATA_ADDRESS } from '../nova/iptables.js';
import { parseIptablesSave, ruleLine, type Rule, type Table } from '../net/iptables-save.js';
import { add, notCollected, type Ctx, type Difference } from './difference.js';
import type { NodeDump } from './dump.js';
import { byInstanceAddress } from './iptables.js';

const BUILTIN = new Set(['INPUT', 'FORWARD', 'OUTPUT', 'PREROUTING', 'POSTROUTING']);
/** chains and rules of nova processes flatlab does not render (firewall.ts): not differences */
const NOT_RENDERED = (r: Pick<Rule, 'chain' | 'text'>): boolean => /^nova-api-/.test(r.chain) || /-j nova-api-/.test(r.text) || r.text.includes(METADATA_ADDRESS);
const dropping = (r: Rule): boolean => r.target === 'DROP' || r.target === 'REJECT';

export function firewall(c: Ctx, dump: NodeDump): void {
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
    if (isSameNetAccept(r, c.cidr.text)) {
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

export function ebtables(c: Ctx, dump: NodeDump): void {
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

