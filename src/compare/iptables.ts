/**
 * A node's rules with nova's instance chains named by the address they guard
 * (nova-compute-local's `-d IP -j nova-compute-inst-N`), since instance ids differ
 * between a node and a model.
 */
import { COMPUTE_LOCAL, INSTANCE_CHAIN } from '../nova/iptables.js';
import type { Table } from '../net/iptables-save.js';

/**
 * Renames each `nova-compute-inst-N` to `instance(IP)` by the address its
 * nova-compute-local jump guards, in chain names, targets and keys.
 */
export function byInstanceAddress(t: Table): Table {
  const names = new Map<string, string>();
  for (const r of t.rules) {
    if (r.chain !== COMPUTE_LOCAL || !r.target || !INSTANCE_CHAIN.test(r.target)) continue;
    const d = /(?:^|\s)-d=(\S+)/.exec(r.key);
    if (d) names.set(r.target, `instance(${d[1]!.replace(/\/32$/, '')})`);
  }
  const rename = (s: string): string => names.get(s) ?? s;
  return {
    policies: new Map([...t.policies].map(([c, p]) => [rename(c), p])),
    rules: t.rules.map((r) => ({
      ...r,
      chain: rename(r.chain),
      target: r.target ? rename(r.target) : null,
      key: r.key.replace(new RegExp(`(-[jg]=)(${INSTANCE_CHAIN.source.slice(1, -1)})`), (_all, j: string, c: string) => `${j}${rename(c)}`),
    })),
  };
}
