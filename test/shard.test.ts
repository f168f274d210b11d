/** Suites in shards: every unit in exactly one shard, the same split whatever the order given, balanced by weight. */
import t from 'tap';
import { UserError } from '../src/errors.js';
import { assignShards, parseShard } from '../src/run/shard.js';

t.test('--shard I/N is parsed or refused', async (t) => {
  t.same(parseShard('2/3'), { index: 2, count: 3 });
  for (const bad of ['0/3', '4/3', '1/0', 'a/b', '1', '1/2/3']) t.throws(() => parseShard(bad), UserError, bad);
});

t.test('no overlap, no gap, order-independent, balanced', async (t) => {
  const units = Array.from({ length: 35 }, (_, i) => ({ key: `s${String(i).padStart(2, '0')}.yaml@netns`, weight: 1 + (i % 6) }));
  for (const n of [1, 2, 3, 5, 40]) {
    const a = assignShards(units, n);
    const b = assignShards([...units].reverse(), n);
    t.same([...a].sort(), [...b].sort(), `${n}: the same split whatever the order`);
    t.equal(a.size, units.length, `${n}: every unit placed once`);
    for (const s of a.values()) t.ok(s >= 1 && s <= n);
    const load = Array.from({ length: n }, (_, i) => units.filter((u) => a.get(u.key) === i + 1).reduce((x, u) => x + u.weight, 0));
    if (n <= units.length) t.ok(Math.max(...load) - Math.min(...load) <= 6, `${n}: loads ${load.join(', ')} within the heaviest unit`);
  }
  t.throws(() => assignShards([{ key: 'a', weight: 1 }, { key: 'a', weight: 2 }], 2), /given twice/);
});

t.test('a suite over two backends: each shard gets its share of the costly backend, not all of it', async (t) => {
  const { runWeight } = await import('../src/backend/registry.js');
  const units = Array.from({ length: 17 }, (_, i) => ['netns', 'docker'].map((b) => ({ key: `s${String(i).padStart(2, '0')}.yaml@${b}`, weight: (1 + (i % 3)) * runWeight(b) }))).flat();
  const a = assignShards(units, 2);
  const docker = [1, 2].map((s) => units.filter((u) => u.key.endsWith('@docker') && a.get(u.key) === s).length);
  t.ok(docker.every((n) => n >= 7), `Docker runs per shard: ${docker.join(', ')}`);
  const load = [1, 2].map((s) => units.filter((u) => a.get(u.key) === s).reduce((x, u) => x + u.weight, 0));
  t.ok(Math.abs(load[0]! - load[1]!) <= 3 * runWeight('docker'), `estimated loads ${load.join(', ')}`);
  t.ok(runWeight('docker') > runWeight('netns'));
  t.equal(runWeight('a-plug-in'), 1, 'a backend that does not say weighs as netns');
});
