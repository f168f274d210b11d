/**
 * The packet counters of a lab's dropping rules: iptables in every node (`iptables-save
 * -c`), ebtables in the fabric (`ebtables -L --Lc`). Read before and after probes, they
 * say which rule dropped what: the reachability checks confirm expected drops with them,
 * the diagnosis names the rule that stopped a flow.
 */
import type { Backend } from '../backend/backend.js';
import type { Plan } from '../plan/types.js';
import { fabricNamespaces } from '../plan/span.js';
import { parseIptablesSave, ruleLine } from '../net/iptables-save.js';
import { FALLBACK_DROP, jumpsToFallback } from '../nova/iptables.js';

/** `[12:840] -A chain ... -j DROP` lines of `iptables-save -c`: rule text -> packets. */
export function parseIptablesCounters(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const table of parseIptablesSave(text).values()) {
    for (const r of table.rules) {
      if (r.packets === null) continue;
      const line = ruleLine(r);
      out.set(line, (out.get(line) ?? 0) + r.packets);
    }
  }
  return out;
}

/** `-o compute2 -j DROP , pcnt = 5 -- bcnt = 490` lines of `ebtables -L --Lc`. */
export function parseEbtablesCounters(text: string): Map<string, number> {
  const out = new Map<string, number>();
  let chain = '';
  for (const line of text.split('\n')) {
    const c = /^Bridge chain: (\S+),/.exec(line);
    if (c) chain = c[1]!;
    const m = /^(.*?) , pcnt = (\d+) -- bcnt = \d+/.exec(line.trim());
    if (m) out.set(`${chain} ${m[1]}`, Number(m[2]));
  }
  return out;
}

/** A rule that drops: DROP itself, or nova's jump into its fallback chain (which drops). */
export function isDropRule(rule: string): boolean {
  return /-j DROP\b/.test(rule) || jumpsToFallback(rule);
}

/** A dropping rule whose packet counter moved between two readings. */
export interface DropCount {
  target: string;
  /** `compute2` or `fabric` */
  where: string;
  rule: string;
  packets: number;
}

/**
 * Rules that drop whose counters moved. The fallback chain's own DROP is left out where
 * the jump into it moved too, so one dropped packet is counted once, at the rule that
 * names its instance.
 */
export function droppedBetween(before: Map<string, number>, after: Map<string, number>, target: string, where: string): DropCount[] {
  const out: DropCount[] = [];
  for (const [rule, n] of after) {
    const delta = n - (before.get(rule) ?? 0);
    if (delta > 0 && isDropRule(rule)) out.push({ target, where, rule, packets: delta });
  }
  const jumps = out.some((d) => jumpsToFallback(d.rule));
  return jumps ? out.filter((d) => d.rule !== FALLBACK_DROP) : out;
}

/** Counter readings: node name (or `fabric`) -> rule -> packets. */
export type Counters = Map<string, Map<string, number>>;

/** Reads the counters of the given nodes (default: all) and of the fabric, all at once. */
export async function readCounters(backend: Backend, plan: Plan, nodes: string[] = plan.nodes.map((n) => n.name)): Promise<Counters> {
  const out: Counters = new Map();
  await Promise.all([
    ...nodes.map(async (name) => {
      const n = plan.nodes.find((x) => x.name === name)!;
      const [r, eb] = await Promise.all([
        backend.exec(n.netns, ['iptables-save', '-c']),
        // libvirt's nwfilter, where the plan has it: its drops count too
        (n.nwfilter?.length ?? 0) > 0 ? backend.exec(n.netns, ['ebtables', '-t', 'nat', '-L', '--Lc']) : Promise.resolve(null),
      ]);
      if (r.exitCode !== 0) throw new Error(`iptables-save in ${n.netns} failed: ${r.stderr.trim()}`);
      out.set(name, new Map([...parseIptablesCounters(r.stdout), ...(eb ? parseEbtablesCounters(eb.stdout) : new Map<string, number>())]));
    }),
    (async () => {
      // every share of the fabric (one per engine when the lab spans several): port names are the plan's, unique
      const rs = await Promise.all(fabricNamespaces(plan).map((ns) => backend.exec(ns, ['ebtables', '-L', '--Lc'])));
      out.set('fabric', new Map(rs.flatMap((r) => [...parseEbtablesCounters(r.stdout)])));
    })(),
  ]);
  return out;
}

/** Every dropping rule that moved between two readings, wherever it is. */
export function dropsBetween(plan: Plan, before: Counters, after: Counters): DropCount[] {
  const out: DropCount[] = [];
  for (const [where, now] of after) {
    const target = where === 'fabric' ? plan.fabric.netns : plan.nodes.find((n) => n.name === where)?.netns ?? where;
    out.push(...droppedBetween(before.get(where) ?? new Map(), now, target, where));
  }
  return out;
}
