/** `flatlab plan`: print what a run would build and expect, without building it */
import type { Command } from 'commander';
import { renderPlan } from '../../report/plan-text.js';
import { RELEASES } from '../../nova/releases.js';
import { planRun, runIdsFor, selectVariants } from '../../run/run-scenario.js';
import { resolveScenario } from '../../scenario/resolve.js';
import { addEngineFlags, backendOptionsOf, releaseFlag, loadWarned, type EngineFlags } from './shared.js';
import { checkPlacement } from '../../scenario/load.js';

export function registerPlan(program: Command): void {
  addEngineFlags(program
    .command('plan'))
    .argument('<scenario>', 'a scenario name or file')
    .option('--json', 'the plan as JSON')
    .option('--variant <name>', 'only this variant')
    .option('--release <release>', `plan this nova release instead of the scenario's (${RELEASES.join(', ')})`)
    .description('print what a run would build and expect, without building it')
    .action(async (arg: string, flags: EngineFlags & { json?: boolean; variant?: string; release?: string }) => {
      // the engines' names place the nodes (nothing is reached: a plan builds nothing)
      const engines = backendOptionsOf(flags).engines?.map((e) => e.name);
      const loaded = await loadWarned(resolveScenario(arg));
      checkPlacement(loaded, engines ?? []);
      const release = flags.release ? releaseFlag(flags.release) : undefined;
      const variants = selectVariants(loaded, flags.variant);
      // the ids a run would use: FLATLAB_RUN_ID's when it is set (a script's known prefixes), else fl-000000 on
      const ids = runIdsFor(variants.length, process.env.FLATLAB_RUN_ID || '000000');
      const plans = variants.map((v, i) => planRun(v, ids[i]!, { ...(release ? { release } : {}), ...(engines ? { engines } : {}) }));
      process.stdout.write(flags.json ? JSON.stringify(plans.length === 1 ? plans[0] : plans, null, 2) + '\n' : plans.map(renderPlan).join('\n'));
    });
}
