/** `flatlab check`: observe a live lab again: leases, gateways, reachability; trace what fails */
import type { Command } from 'commander';
import { renderReport } from '../../report/terminal.js';
import { createProgress } from '../../run/progress.js';
import { DEFAULT_RESULTS_ROOT, prepareResultsDir, resultsDirFor, type VariantResult } from '../../run/results.js';
import { diagnoseFailures } from '../../diagnose/run-diagnosis.js';
import { join } from 'node:path';
import { classifySymptoms } from '../../checks/symptoms.js';
import { checkLab, summarise } from '../../run/run-scenario.js';
import { findKeptLab, reattach } from '../../run/runs.js';
import { runResult } from '../../result.js';
import { exitCodeOf, type SetExit } from './shared.js';

export function registerCheck(program: Command, setExit: SetExit): void {
  program
    .command('check')
    .option('--run <prefix>', 'which lab, when several are up')
    .option('--results <dir>', 'results root (for the captures of a diagnosis)', DEFAULT_RESULTS_ROOT)
    .option('--json', 'print the result as JSON instead of the report')
    .option('-q, --quiet', 'no progress lines')
    .description('observe a live lab again: leases, gateways, reachability; trace what fails')
    .action(async (flags: { run?: string; results: string; json?: boolean; quiet?: boolean }) => {
      const lab = await findKeptLab(flags.run);
      const progress = createProgress({ quiet: flags.quiet || flags.json });
      const t0 = performance.now();
      const live = reattach(lab.state);
      const checked = await checkLab(live, progress);
      const summary = summarise(checked.verdicts);
      let diagnoses: VariantResult['diagnoses'] = [];
      if (summary.failed > 0) {
        const dir = join(await prepareResultsDir(resultsDirFor(flags.results, lab.state.scenario, new Date())), 'diagnosis');
        diagnoses = await progress.phase('diagnose', 'tracing the failed flows hop by hop', () => diagnoseFailures(live.backend, live.plan, checked.reach, checked.egress, dir, 6, false, checked.observations));
      }
      const variant: VariantResult = {
        variant: lab.state.variant,
        prefix: lab.prefix,
        ok: summary.failed === 0,
        summary,
        plan: lab.state.plan,
        ...checked,
        diagnoses,
        symptoms: classifySymptoms(live.plan, checked.observations, checked.reach, checked.egress),
        timings: { ...progress.timings, total: Math.round(performance.now() - t0) },
        cpu: progress.cpu,
      };
      const result = runResult({ scenario: lab.state.scenario, file: lab.state.file, backend: lab.state.backend, startedAt: new Date(), variants: [variant], totalMs: variant.timings.total! });
      process.stdout.write(flags.json ? JSON.stringify(result, null, 2) + '\n' : renderReport(result, '(not saved: flatlab check observes a live lab)'));
      setExit(exitCodeOf(result));
    });
}
