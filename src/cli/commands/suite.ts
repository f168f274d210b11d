/** `flatlab suite`: run every scenario (every variant, on one backend or several), several at once, and print a table */
import chalk from 'chalk';
import type { Command } from 'commander';
import { backendNames, runWeight } from '../../backend/registry.js';
import { UserError } from '../../errors.js';
import { DEFAULT_RESULTS_ROOT, prepareResultsDir } from '../../run/results.js';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { renderSuiteJunit } from '../../report/junit.js';
import { writeFile } from 'node:fs/promises';
import { findScenarios } from '../../scenario/resolve.js';
import { mapLimit } from '../../wait.js';
import { runScenario } from '../../run/run-scenario.js';
import { renderFlakiness, renderSuiteTable } from '../../report/suite-table.js';
import { flakiness } from '../../report/flakiness.js';
import { assignShards, parseShard } from '../../run/shard.js';
import { scenarioKey, writeSuiteManifest, type SuiteRun } from '../../run/suite-manifest.js';
import { addEngineFlags, backendOptionsOf, loadWarned, type EngineFlags, type SetExit } from './shared.js';

export function registerSuite(program: Command, setExit: SetExit): void {
  addEngineFlags(program
    .command('suite'))
    .argument('[patterns...]', 'scenario names or globs under scenarios/ (default: all)')
    .option('-j, --jobs <n>', 'scenarios at once', String(Math.max(1, Math.min(4, availableParallelism()))))
    .option('-b, --backend <names>', `backend(s): ${backendNames().join(', ')}, a comma-separated list, or all (default: each scenario's backend:, else netns)`)
    .option('--results <dir>', 'results root', DEFAULT_RESULTS_ROOT)
    .option('--dir <dir>', 'where the scenarios are (default: scenarios/)')
    .option('--repeat <n>', 'run each scenario N times and list every check whose verdict changed between repeats', '1')
    .option('--shard <i/n>', 'run only part I of N (the same split on every machine; `flatlab report --merge` joins the parts)')
    .option('--json', 'print every run (results folder, verdicts) and the flaky checks as JSON')
    .option('-q, --quiet', 'no line per run while they run')
    .description('run every scenario (every variant, on one backend or several), several at once, and print a table')
    .action(async (patterns: string[], flags: EngineFlags & { jobs: string; backend?: string; results: string; dir?: string; repeat: string; shard?: string; json?: boolean; quiet?: boolean }) => {
      // engines place the Docker runs' nodes; the other backends' runs stay on one machine
      const dockerOptions = backendOptionsOf(flags);
      const shard = flags.shard !== undefined ? parseShard(flags.shard) : null;
      const jobs = Number(flags.jobs);
      if (!Number.isInteger(jobs) || jobs < 1) throw new UserError(`--jobs: "${flags.jobs}" is not a positive number`);
      const repeat = Number(flags.repeat);
      if (!Number.isInteger(repeat) || repeat < 1) throw new UserError(`--repeat: "${flags.repeat}" is not a positive number`);
      const files = await findScenarios(patterns, flags.dir);
      if (files.length === 0) throw new UserError(`no scenario matches ${patterns.join(' ')}`);
      const backends = flags.backend === 'all' ? backendNames() : flags.backend?.split(',').map((b) => b.trim());
      for (const b of backends ?? []) if (!backendNames().includes(b)) throw new UserError(`--backend: no backend "${b}" (${backendNames().join(', ')}, or all)`);
      const loaded = await Promise.all(files.map((f) => loadWarned(f)));
      // each scenario once per backend asked for (or on its own backend)
      const units = loaded.flatMap((l, k) => (backends ?? [l.scenario.backend ?? 'netns']).map((backend) => ({ l, backend, key: `${scenarioKey(files[k]!, flags.dir)}@${backend}` })));
      // balanced by an estimate of each unit's time: its variant runs times its backend's measured cost
      const shardOf = shard ? assignShards(units.map((u) => ({ key: u.key, weight: u.l.variants.length * repeat * runWeight(u.backend) })), shard.count) : null;
      const mine = shardOf ? units.filter((u) => shardOf.get(u.key) === shard!.index) : units;
      const work = mine.flatMap(({ l, backend, key }) => Array.from({ length: repeat }, (_, i) => ({ l, backend, key, round: i + 1 })));
      if (work.length === 0) process.stderr.write(`  shard ${flags.shard} has nothing to run (${units.length} scenario runs in ${shard!.count} shards)\n`);
      // the suite's backends, not this shard's: every shard's table has the same columns
      const several = new Set(units.map((u) => u.backend)).size > 1;
      const t0 = performance.now();
      let done = 0;
      const outcomes = await mapLimit(work, jobs, async ({ l, backend, round }) => {
        const on = `${several ? ` on ${backend}` : ''}${repeat > 1 ? ` (repeat ${round}/${repeat})` : ''}`;
        if (!flags.quiet) process.stderr.write(chalk.dim(`  ▸ ${l.scenario.name}${on} (${l.variants.length} variant${l.variants.length > 1 ? 's' : ''})\n`));
        const o = await runScenario(l, { backend, ...(backend === 'docker' ? { backendOptions: dockerOptions } : {}), resultsRoot: flags.results, quiet: true });
        done++;
        const mark = o.result.ok ? chalk.green('✓') : chalk.red('✗');
        if (!flags.quiet) process.stderr.write(`  ${mark} ${o.result.scenario}${on} ${chalk.dim(`${o.result.timings.total} ms (${done}/${work.length})`)}\n`);
        return o;
      });
      const { flaky, retried } = flakiness(outcomes.map((o) => o.result));
      const failed = outcomes.filter((o) => !o.result.ok);
      // one junit.xml for the whole suite, beside the runs' own folders, and the list of
      // its runs (what `flatlab report --merge` reads)
      const stamp = `suite-${new Date().toISOString().replace(/:/g, '-')}${shard ? `-shard-${shard.index}-of-${shard.count}` : ''}`;
      const root = await prepareResultsDir(flags.results, { unique: false });
      const junit = join(root, `${stamp}.junit.xml`);
      const runs: SuiteRun[] = outcomes.map((o, i) => ({ key: work[i]!.key, repeat: work[i]!.round, resultsDir: o.resultsDir }));
      await writeFile(junit, renderSuiteJunit(outcomes.map((o, i) => ({ result: o.result, ...(repeat > 1 ? { repeat: work[i]!.round } : {}) }))));
      await writeSuiteManifest(join(root, `${stamp}.json`), { shard: shard ? `${shard.index}/${shard.count}` : null, repeat, runs });
      const interrupted = outcomes.find((o) => o.interrupted)?.interrupted;
      setExit(interrupted ? interrupted.exitCode : failed.length || flaky.length ? 1 : 0);
      if (flags.json) {
        const runs = outcomes.map((o, i) => ({ scenario: o.result.scenario, backend: o.result.backend, repeat: work[i]!.round, ok: o.result.ok, resultsDir: o.resultsDir, variants: o.result.variants.map((v) => ({ variant: v.variant, ok: v.ok, summary: v.summary, ...(v.error ? { error: v.error } : {}) })) }));
        process.stdout.write(JSON.stringify({ ok: failed.length === 0 && flaky.length === 0, runs, flaky, retried, junit }, null, 2) + '\n');
        return;
      }
      process.stdout.write('\n' + renderSuiteTable(outcomes.map((o, i) => ({ result: o.result, repeat: work[i]!.round })), { several, repeats: repeat > 1 }) + '\n');
      for (const o of failed) process.stdout.write(chalk.dim(`  ${o.result.scenario}: ${o.resultsDir}\n`));
      process.stdout.write(renderFlakiness(flaky, retried, several));
      process.stdout.write(
        `\n  ${failed.length === 0 ? chalk.green(`all ${outcomes.length} scenario runs as expected`) : chalk.red.bold(`${failed.length} of ${outcomes.length} scenario runs failed`)}${repeat > 1 ? `, ${flaky.length} flaky` : ''} ${chalk.dim(`in ${Math.round(performance.now() - t0)} ms, ${jobs} at once`)}\n` +
          chalk.dim(`  results: ${flags.results} (junit: ${junit})\n\n`),
      );
    });
}
