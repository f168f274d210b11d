/** `flatlab down`: tear down a lab started with flatlab up */
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { findKeptLab, removeRun } from '../../run/runs.js';

export function registerDown(program: Command): void {
  program
    .command('down')
    .argument('[prefix]', 'the lab to remove (default: the only kept lab of this user and checkout)')
    .option('--run <prefix>', 'the lab to remove (the same as the argument)')
    .option('--force', "also a lab of another user or checkout (named with --run), or one another flatlab process is still running (it then fails)")
    .description('tear down a lab started with flatlab up')
    .action(async (arg: string | undefined, flags: { run?: string; force?: boolean }) => {
      if (arg && flags.run && arg !== flags.run) throw new UserError(`down: two different labs named (${arg} and --run ${flags.run})`);
      const lab = await findKeptLab(arg ?? flags.run, flags.force === true, { othersToo: flags.force === true });
      await removeRun(lab);
      process.stdout.write(`removed ${lab.prefix} (${lab.namespaces.length} namespaces)\n`);
    });
}
