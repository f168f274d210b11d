/**
 * Suites in shards, as test runners shard (`--shard I/N`): the suite's work split into N
 * parts with no overlap and no gap, the same split on every machine. The unit is a
 * scenario on a backend with all its variants and repeats (the repeats of one scenario
 * must meet in one shard to be compared); units are balanced by their number of variant
 * runs, largest first into the lightest shard, ties broken by name, so the split
 * depends only on the list of units.
 */
import { UserError } from '../errors.js';

export interface Shard {
  /** 1-based */
  index: number;
  count: number;
}

export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || count < 1 || index < 1 || index > count) throw new UserError(`--shard: "${text}" is not I/N with 1 <= I <= N (e.g. 2/3)`);
  return { index, count };
}

export interface ShardUnit {
  /** unique and stable: the scenario's path under the scenarios folder, and its backend */
  key: string;
  weight: number;
}

/** Which shard (1-based) each unit's key goes to. */
export function assignShards(units: ShardUnit[], count: number): Map<string, number> {
  const keys = new Set<string>();
  for (const u of units) {
    if (keys.has(u.key)) throw new Error(`shard unit ${u.key} given twice`);
    keys.add(u.key);
  }
  const load = Array.from({ length: count }, () => 0);
  const out = new Map<string, number>();
  const order = [...units].sort((a, b) => b.weight - a.weight || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const u of order) {
    let best = 0;
    for (let i = 1; i < count; i++) if (load[i]! < load[best]!) best = i;
    load[best]! += u.weight;
    out.set(u.key, best + 1);
  }
  return out;
}
