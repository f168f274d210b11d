/** `flatlab completion`: print a shell completion script (source <(flatlab completion bash)) */
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { relative } from 'node:path';
import { findScenarios, PACKAGE_SCENARIOS } from '../../scenario/resolve.js';
import { bashCompletion, completionSpec, zshCompletion } from '../completion.js';

export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .argument('<shell>', 'bash or zsh')
    .description('print a shell completion script (source <(flatlab completion bash))')
    .action(async (shell: string) => {
      if (shell !== 'bash' && shell !== 'zsh') throw new UserError(`completion: "${shell}" is not bash or zsh`);
      const scenarios = (await findScenarios([])).map((f) => relative(PACKAGE_SCENARIOS, f).replace(/\.ya?ml$/, ''));
      const spec = completionSpec(program, scenarios);
      process.stdout.write(shell === 'bash' ? bashCompletion(spec) : zshCompletion(spec));
    });
}
