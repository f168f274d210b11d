/** `flatlab graph`: print the topology a scenario builds, as Mermaid or Graphviz DOT */
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { renderDot, renderMermaid } from '../../report/graph.js';
import { planRun, selectVariants } from '../../run/run-scenario.js';
import { resolveScenario } from '../../scenario/resolve.js';
import { loadWarned } from './shared.js';

export function registerGraph(program: Command): void {
  program
    .command('graph')
    .argument('<scenario>', 'a scenario name or file')
    .option('--format <format>', 'mermaid or dot', 'mermaid')
    .option('--variant <name>', 'which variant (default: the first)')
    .description('print the topology a scenario builds, as Mermaid or Graphviz DOT')
    .action(async (arg: string, flags: { format: string; variant?: string }) => {
      if (flags.format !== 'mermaid' && flags.format !== 'dot') throw new UserError(`--format: "${flags.format}" is not mermaid or dot`);
      const loaded = await loadWarned(resolveScenario(arg));
      const p = planRun(selectVariants(loaded, flags.variant)[0]!, '000000');
      process.stdout.write(flags.format === 'dot' ? renderDot(p) : renderMermaid(p));
    });
}
