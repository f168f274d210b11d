/** `flatlab down`: tear down a lab started with flatlab up */
import type { Command } from 'commander';
import { labArguments, labNamed } from './shared.js';
import { findKeptLab, removeRun } from '../../run/runs.js';

export function registerDown(program: Command): void {
  labArguments(program.command('down'), 'the lab to remove')
    .option('--force', "also a lab of another user or checkout (named with --run), or one another flatlab process is still running (it then fails)")
    .description('tear down a lab started with flatlab up')
    .action(async (arg: string | undefined, flags: { run?: string; force?: boolean }) => {
      const lab = await findKeptLab(labNamed('down', arg, flags.run), flags.force === true, { othersToo: flags.force === true });
      await removeRun(lab);
      process.stdout.write(`removed ${lab.prefix} (${lab.namespaces.length} namespaces)\n`);
    });
}
