/** `flatlab validate`: check scenario files; print file:line:col field: problem for each mistake */
import chalk from 'chalk';
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { resolveScenario } from '../../scenario/resolve.js';
import { loadWarned } from './shared.js';

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .argument('<scenario...>', 'scenario names or files')
    .description('check scenario files; print file:line:col field: problem for each mistake')
    .action(async (args: string[]) => {
      const errors: string[] = [];
      for (const a of args) {
        try {
          const { file } = await loadWarned(resolveScenario(a));
          process.stdout.write(`${chalk.green('ok')} ${file}\n`);
        } catch (err) {
          if (!(err instanceof UserError)) throw err;
          errors.push(...err.lines);
        }
      }
      if (errors.length) throw new UserError(errors);
    });
}
