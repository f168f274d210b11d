/** `flatlab suite`: run every scenario (every variant, on one backend or several), several at once, and print a table */
import chalk from 'chalk';
import type { Command } from 'commander';
import { backendNames } from '../../backend/registry.js';
import { UserError } from '../../errors.js';
import { DEFAULT_RESULTS_ROOT, prepareResultsDir } from '../../run/results.js';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { renderSuiteJunit } from '../../report/junit.js';
import { writeFile } from 'node:fs/promises';
import { findScenarios } from '../../scenario/resolve.js';
import { mapLimit } from '../../wait.js';
import { runScenario } from '../../run/run-scenario.js';
import { renderTable } from '../../report/table.js';
import { flakiness } from '../../report/flakiness.js';
import { loadWarned, SetExit } from './shared.js';

export function registerSuite(program: Command, setExit: SetExit): void {
  program
    .command('suite')
    .argument('[patterns...]', 'scenario names or globs under scenarios/ (default: all)')
    .option('-j, --jobs <n>', 'scenarios at once', String(Math.max(1, Math.min(4, availableParallelism()))))
    .option('-b, --backend <names>', `backend(s): ${backendNames().join(', ')}, a comma-separated list, or all (default: each scenario's backend:, else netns)`)
    .option('--results <dir>', 'results root', DEFAULT_RESULTS_ROOT)
    .option('--dir <dir>', 'where the scenarios are (default: scenarios/)')
    .option('--repeat <n>', 'run each scenario N times and list every check whose verdict changed between repeats', '1')
    .option('--json', 'print every run (results folder, verdicts) and the flaky checks as JSON')
    .option('-q, --quiet', 'no line per run while they run')
    .description('run every scenario (every variant, on one backend or several), several at once, and print a table')
    .action(async (patterns: string[], flags: { jobs: string; backend?: string; results: string; dir?: string; repeat: string; json?: boolean; quiet?: boolean }) => {
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
      const work = loaded.flatMap((l) =>
        (backends ?? [l.scenario.backend ?? 'netns']).flatMap((backend) => Array.from({ length: repeat }, (_, i) => ({ l, backend, round: i + 1 }))),
      );
      const several = new Set(work.map((w) => w.backend)).size > 1;
      const t0 = performance.now();
      let done = 0;
      const outcomes = await mapLimit(work, jobs, async ({ l, backend, round }) => {
        const on = `${several ? ` on ${backend}` : ''}${repeat > 1 ? ` (repeat ${round}/${repeat})` : ''}`;
        if (!flags.quiet) process.stderr.write(chalk.dim(`  ▸ ${l.scenario.name}${on} (${l.variants.length} variant${l.variants.length > 1 ? 's' : ''})\n`));
        const o = await runScenario(l, { backend, resultsRoot: flags.results, quiet: true });
        done++;
        const mark = o.result.ok ? chalk.green('✓') : chalk.red('✗');
        if (!flags.quiet) process.stderr.write(`  ${mark} ${o.result.scenario}${on} ${chalk.dim(`${o.result.timings.total} ms (${done}/${work.length})`)}\n`);
        return o;
      });
      const { flaky, retried } = flakiness(outcomes.map((o) => o.result));
      const failed = outcomes.filter((o) => !o.result.ok);
      // one junit.xml for the whole suite, beside the runs' own folders
      const junit = join(await prepareResultsDir(flags.results, { unique: false }), `suite-${new Date().toISOString().replace(/:/g, '-')}.junit.xml`);
      await writeFile(junit, renderSuiteJunit(outcomes.map((o, i) => ({ result: o.result, ...(repeat > 1 ? { repeat: work[i]!.round } : {}) }))));
      const interrupted = outcomes.find((o) => o.interrupted)?.interrupted;
      setExit(interrupted ? interrupted.exitCode : failed.length || flaky.length ? 1 : 0);
      if (flags.json) {
        const runs = outcomes.map((o, i) => ({ scenario: o.result.scenario, backend: o.result.backend, repeat: work[i]!.round, ok: o.result.ok, resultsDir: o.resultsDir, variants: o.result.variants.map((v) => ({ variant: v.variant, ok: v.ok, summary: v.summary, ...(v.error ? { error: v.error } : {}) })) }));
        process.stdout.write(JSON.stringify({ ok: failed.length === 0 && flaky.length === 0, runs, flaky, retried, junit }, null, 2) + '\n');
        return;
      }
      const rows = outcomes.flatMap(({ result }, i) =>
        result.variants.map((v) => [
          result.scenario,
          ...(several ? [result.backend] : []),
          ...(repeat > 1 ? [String(work[i]!.round)] : []),
          v.variant,
          v.ok ? chalk.green('pass') : chalk.red.bold(v.error ? 'error' : 'FAIL'),
          `${v.summary.passed}/${v.summary.passed + v.summary.failed}${v.summary.skipped ? ` (+${v.summary.skipped} skipped)` : ''}`,
          v.symptoms.map((x) => x.code).join(', '),
          `${v.timings.total} ms`,
        ]),
      );
      process.stdout.write('\n' + renderTable(['scenario', ...(several ? ['backend'] : []), ...(repeat > 1 ? ['repeat'] : []), 'variant', 'result', 'checks', 'symptom', 'time'], rows) + '\n');
      for (const o of failed) process.stdout.write(chalk.dim(`  ${o.result.scenario}: ${o.resultsDir}\n`));
      if (flaky.length > 0) {
        process.stdout.write(`\n  ${chalk.red.bold(`${flaky.length} flaky check${flaky.length > 1 ? 's' : ''}`)} (the verdict changed between repeats):\n`);
        for (const f of flaky) {
          process.stdout.write(`  ${f.scenario}${several ? ` on ${f.backend}` : ''} ${f.variant}: ${f.check}\n`);
          for (const s of f.seen) process.stdout.write(chalk.dim(`      repeat ${s.repeat}: ${s.ok ? 'pass' : 'FAIL'}, observed ${s.observed}\n`));
        }
      }
      if (retried.length > 0) {
        process.stdout.write(`\n  ${chalk.yellow(`${retried.length} check${retried.length > 1 ? 's' : ''} passed only on a later try`)}:\n`);
        for (const r of retried) process.stdout.write(chalk.dim(`  ${r.scenario} ${r.variant} (repeat ${r.repeat}): ${r.check}: ${r.tries.join(' | ')}\n`));
      }
      process.stdout.write(
        `\n  ${failed.length === 0 ? chalk.green(`all ${outcomes.length} scenario runs as expected`) : chalk.red.bold(`${failed.length} of ${outcomes.length} scenario runs failed`)}${repeat > 1 ? `, ${flaky.length} flaky` : ''} ${chalk.dim(`in ${Math.round(performance.now() - t0)} ms, ${jobs} at once`)}\n` +
          chalk.dim(`  results: ${flags.results} (junit: ${junit})\n\n`),
      );
    });
}
