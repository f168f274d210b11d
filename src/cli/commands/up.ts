/** `flatlab up`: build one variant's lab, check it, and keep it running (flatlab down removes it) */
import type { Command } from 'commander';
import { type RunFlags, addRunFlags, runOrUp, type SetExit } from './shared.js';

export function registerUp(program: Command, setExit: SetExit): void {
  addRunFlags(
    program
      .command('up')
      .argument('<scenario>', 'a scenario name or file')
      .description('build one variant\'s lab, check it, and keep it running (flatlab down removes it)'),
    'keep this variant (default: the first)',
  ).action((arg: string, flags: RunFlags) => runOrUp(arg, flags, true, setExit));
}
