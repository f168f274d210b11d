/**
 * Suites in shards: `suite --shard 1/3`, `2/3`, `3/3` together run each scenario variant
 * exactly once, and `report --merge` of the three equals the unsharded suite check for
 * check; a shard run twice or a missing shard is said.
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { flatlab, namespacesOf, prefixesUnder, skipUnlessRoot, tempDir } from './lib.js';

const SCENARIOS = ['flatdhcp-multihost', 'flat-injected', 'services', 'bugs/ip-forward-off'];

/** every check of every run a suite manifest lists: scenario/backend/variant kind subject -> ok */
async function checksOf(manifestFile: string): Promise<string[]> {
  const m = JSON.parse(await readFile(manifestFile, 'utf8')) as { runs: { resultsDir: string }[] };
  const out: string[] = [];
  for (const r of m.runs) {
    const res = JSON.parse(await readFile(join(r.resultsDir, 'result.json'), 'utf8'));
    for (const v of res.variants) for (const c of v.verdicts) out.push(`${res.scenario}/${res.backend}/${v.variant} ${c.kind} ${c.subject}: expected ${c.expected}, ${c.ok ? 'ok' : 'FAIL'}`);
  }
  return out.sort();
}

const manifestIn = async (root: string): Promise<string> => {
  const { readdir } = await import('node:fs/promises');
  const names = (await readdir(root)).filter((n) => /^suite-.*\.json$/.test(n)).sort();
  return join(root, names[names.length - 1]!);
};

t.test('three shards merged equal the whole suite, check for check', { skip: skipUnlessRoot }, async (t) => {
  const dir = await tempDir(t);
  const whole = await flatlab(['suite', ...SCENARIOS, '-q', '--json', '--results', join(dir, 'whole')]);
  t.equal(whole.exitCode, 0, 'the whole suite', { output: whole.stderr });
  const ran: string[] = [];
  for (const s of [1, 2, 3]) {
    const r = await flatlab(['suite', ...SCENARIOS, '--shard', `${s}/3`, '-q', '--json', '--results', join(dir, `s${s}`)]);
    t.equal(r.exitCode, 0, `shard ${s}/3`, { output: r.stderr });
    for (const run of JSON.parse(r.stdout).runs) for (const v of run.variants) ran.push(`${run.scenario}/${v.variant}`);
  }
  const variants = (JSON.parse(whole.stdout).runs as { scenario: string; variants: { variant: string }[] }[]).flatMap((run) => run.variants.map((v) => `${run.scenario}/${v.variant}`));
  t.same(ran.sort(), variants.sort(), 'each scenario variant exactly once across the shards');
  const merged = await flatlab(['report', '--merge', join(dir, 's1'), join(dir, 's2'), join(dir, 's3'), '--results', join(dir, 'merged')]);
  t.equal(merged.exitCode, 0, merged.stdout + merged.stderr);
  t.match(merged.stdout, /all 4 scenario runs as expected \(3 of 3 shards merged\)/);
  t.same(await checksOf(await manifestIn(join(dir, 'merged'))), await checksOf(await manifestIn(join(dir, 'whole'))), 'the merged checks are the whole suite\'s');
  const junit = await readFile((await manifestIn(join(dir, 'merged'))).replace(/\.json$/, '.junit.xml'), 'utf8');
  const wholeJunit = await readFile((await manifestIn(join(dir, 'whole'))).replace(/\.json$/, '.junit.xml'), 'utf8');
  t.equal(/tests="(\d+)"/.exec(junit)![1], /tests="(\d+)"/.exec(wholeJunit)![1], 'one JUnit file with as many tests');
  // a shard given twice, and a shard missing
  const twice = await flatlab(['report', '--merge', join(dir, 's1'), join(dir, 's1'), '--results', join(dir, 'bad')]);
  t.equal(twice.exitCode, 2);
  t.match(twice.stderr, /was run by two shards/);
  const partial = await flatlab(['report', '--merge', join(dir, 's1'), join(dir, 's3'), '--results', join(dir, 'partial')]);
  t.equal(partial.exitCode, 1);
  t.match(partial.stdout, /missing: shard 2\/3/);
  t.same(await namespacesOf(await prefixesUnder(dir)), [], 'every lab torn down');
});
