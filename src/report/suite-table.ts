/** A suite's table (one row per scenario variant run) and its flakiness lines: `suite` and `report --merge` print the same. */
import chalk from 'chalk';
import type { RunResult } from '../result.js';
import type { FlakyCheck, RetriedCheck } from './flakiness.js';
import { renderTable } from './table.js';

export function renderSuiteTable(runs: { result: RunResult; repeat: number }[], opts: { several: boolean; repeats: boolean }): string {
  const rows = runs.flatMap(({ result, repeat }) =>
    result.variants.map((v) => [
      result.scenario,
      ...(opts.several ? [result.backend] : []),
      ...(opts.repeats ? [String(repeat)] : []),
      v.variant,
      v.ok ? chalk.green('pass') : chalk.red.bold(v.error ? 'error' : 'FAIL'),
      `${v.summary.passed}/${v.summary.passed + v.summary.failed}${v.summary.skipped ? ` (+${v.summary.skipped} skipped)` : ''}`,
      v.symptoms.map((x) => x.code).join(', '),
      `${v.timings.total} ms`,
    ]),
  );
  return renderTable(['scenario', ...(opts.several ? ['backend'] : []), ...(opts.repeats ? ['repeat'] : []), 'variant', 'result', 'checks', 'symptom', 'time'], rows);
}

export function renderFlakiness(flaky: FlakyCheck[], retried: RetriedCheck[], several: boolean): string {
  let out = '';
  if (flaky.length > 0) {
    out += `\n  ${chalk.red.bold(`${flaky.length} flaky check${flaky.length > 1 ? 's' : ''}`)} (the verdict changed between repeats):\n`;
    for (const f of flaky) {
      out += `  ${f.scenario}${several ? ` on ${f.backend}` : ''} ${f.variant}: ${f.check}\n`;
      for (const s of f.seen) out += chalk.dim(`      repeat ${s.repeat}: ${s.ok ? 'pass' : 'FAIL'}, observed ${s.observed}\n`);
    }
  }
  if (retried.length > 0) {
    out += `\n  ${chalk.yellow(`${retried.length} check${retried.length > 1 ? 's' : ''} passed only on a later try`)}:\n`;
    for (const r of retried) out += chalk.dim(`  ${r.scenario} ${r.variant} (repeat ${r.repeat}): ${r.check}: ${r.tries.join(' | ')}\n`);
  }
  return out;
}
