/**
 * The flatlab subcommands, one file each under commands/, registered in the order
 * `flatlab --help` lists them. Each sets the process exit code through `setExit`.
 */
import type { Command } from 'commander';
import { EnvironmentError } from '../errors.js';
import { NEEDS_ROOT, type SetExit } from './commands/shared.js';
import { notRoot } from '../root.js';
import { registerImport } from './commands/import.js';
import { registerCollectScript } from './commands/collect-script.js';
import { registerCompare } from './commands/compare.js';
import { registerRun } from './commands/run.js';
import { registerUp } from './commands/up.js';
import { registerValidate } from './commands/validate.js';
import { registerPlan } from './commands/plan.js';
import { registerExec } from './commands/exec.js';
import { registerCheck } from './commands/check.js';
import { registerDiagnose } from './commands/diagnose.js';
import { registerReport } from './commands/report.js';
import { registerGraph } from './commands/graph.js';
import { registerImage } from './commands/image.js';
import { registerSchema } from './commands/schema.js';
import { registerSuite } from './commands/suite.js';
import { registerDown } from './commands/down.js';
import { registerInspect } from './commands/inspect.js';
import { registerCompletion } from './commands/completion.js';
import { registerLs } from './commands/ls.js';
import { registerClean } from './commands/clean.js';

export function registerCommands(program: Command, setExit: SetExit): void {

  program.hook('preAction', (_program, action) => {
    // `image build`, not `build`: the words the user typed
    const words = action.parent && action.parent !== program ? `${action.parent.name()} ${action.name()}` : action.name();
    const why = NEEDS_ROOT.has(words) ? notRoot() : null;
    if (why) {
      throw new EnvironmentError(`flatlab ${words} needs root (network namespaces, iptables, other users' processes): ${why}`, `run it as root: sudo -E npx flatlab ${words} ... (from the checkout)`);
    }
  });
  registerRun(program, setExit);
  registerUp(program, setExit);
  registerValidate(program);
  registerImport(program);
  registerCollectScript(program);
  registerCompare(program, setExit);
  registerPlan(program);
  registerExec(program, setExit);
  registerCheck(program, setExit);
  registerDiagnose(program, setExit);
  registerReport(program, setExit);
  registerGraph(program);
  registerImage(program);
  registerSchema(program);
  registerSuite(program, setExit);
  registerDown(program);
  registerInspect(program);
  registerCompletion(program);
  registerLs(program);
  registerClean(program);
}
