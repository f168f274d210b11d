/** `flatlab ls`: list flatlab labs on this machine, whose they are and where they come from */
import chalk from 'chalk';
import type { Command } from 'commander';
import { listRuns } from '../../run/runs.js';
import { renderTable } from '../../report/table.js';

export function registerLs(program: Command): void {
  program
    .command('ls')
    .option('--json', 'the labs as JSON')
    .description('list flatlab labs on this machine, whose they are and where they come from')
    .action(async (flags: { json?: boolean }) => {
      const runs = await listRuns();
      if (flags.json) {
        process.stdout.write(
          JSON.stringify(
            runs.map((r) => ({ prefix: r.prefix, status: r.status, scenario: r.state?.scenario ?? null, variant: r.state?.variant ?? null, backend: r.state?.backend ?? null, engines: r.state?.backendOptions?.engines ?? null, owner: r.state?.owner ?? null, runtimeDir: r.state?.plan?.runtimeDir ?? null, namespaces: r.namespaces.length, createdAt: r.state?.createdAt ?? null })),
            null,
            2,
          ) + '\n',
        );
        return;
      }
      if (runs.length === 0) {
        process.stdout.write('no flatlab labs\n');
        return;
      }
      const rows = runs.map((r) => [
        r.prefix,
        r.status === 'dead' ? chalk.yellow('leftover') : r.status,
        r.state ? `${r.state.scenario}${r.state.variant && r.state.variant !== 'default' ? `/${r.state.variant}` : ''}` : '?',
        r.state ? `${r.state.backend}${r.state.backendOptions?.engines ? ` (engines ${r.state.backendOptions.engines.map((e) => e.name).join(', ')})` : ''}` : '?',
        String(r.namespaces.length),
        r.state ? `${r.state.owner.user ?? '?'} pid ${r.state.owner.pid}` : '?',
        r.state?.owner.checkout ?? '?',
        r.state?.createdAt ?? '',
      ]);
      process.stdout.write(renderTable(['run', 'status', 'scenario', 'backend', 'namespaces', 'owner', 'checkout', 'created'], rows) + '\n');
    });
}
