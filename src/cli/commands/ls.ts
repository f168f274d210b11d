/** `flatlab ls`: list flatlab labs on this machine, whose they are and where they come from */
import chalk from 'chalk';
import type { Command } from 'commander';
import { isMine, listRuns, thisCaller } from '../../run/runs.js';
import { renderTable } from '../../report/table.js';
import { DEFAULT_VARIANT } from '../../scenario/schema.js';

export function registerLs(program: Command): void {
  program
    .command('ls')
    .option('--json', 'the labs as JSON')
    .option('--mine', 'only labs of this user started from this checkout (what bare lab commands pick from)')
    .description('list flatlab labs on this machine, whose they are and where they come from')
    .action(async (flags: { json?: boolean; mine?: boolean }) => {
      const caller = thisCaller();
      const all = await listRuns();
      const runs = flags.mine ? all.filter((r) => r.state && isMine(r.state, caller)) : all;
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
        process.stdout.write(flags.mine ? `no flatlab labs of yours (user ${caller.user}, checkout ${caller.checkout})${all.length ? `; ${all.length} of others (flatlab ls)` : ''}\n` : 'no flatlab labs\n');
        return;
      }
      const rows = runs.map((r) => [
        r.prefix,
        r.status === 'dead' ? chalk.yellow('leftover') : r.status,
        r.state ? `${r.state.scenario}${r.state.variant && r.state.variant !== DEFAULT_VARIANT ? `/${r.state.variant}` : ''}` : '?',
        r.state ? `${r.state.backend}${r.state.backendOptions?.engines ? ` (engines ${r.state.backendOptions.engines.map((e) => e.name).join(', ')})` : ''}` : '?',
        String(r.namespaces.length),
        r.state ? `${r.state.owner.user ?? '?'} pid ${r.state.owner.pid}` : '?',
        r.state?.owner.checkout ?? '?',
        r.state?.createdAt ?? '',
      ]);
      process.stdout.write(renderTable(['run', 'status', 'scenario', 'backend', 'namespaces', 'owner', 'checkout', 'created'], rows) + '\n');
    });
}
