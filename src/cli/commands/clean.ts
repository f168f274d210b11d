/** `flatlab clean`: remove what dead runs left behind (namespaces, processes, files); never a live run */
import { existsSync } from 'node:fs';
import { removeStaleFiles } from '../../run/state.js';
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { DEFAULT_RESULTS_ROOT, pruneResults } from '../../run/results.js';
import { listRuns, removeRun } from '../../run/runs.js';

export function registerClean(program: Command): void {
  program
    .command('clean')
    .option('--all', 'also remove labs kept by flatlab up')
    .option('--run <prefix>', 'only this run (what a run\'s reaper calls)')
    .option('--orphans', 'also fl-* namespaces no state file names (by default listed and left alone)')
    .option('-n, --dry-run', 'say what would be removed, remove nothing')
    .option('--results [dir]', 'instead: prune old results folders (default folder: the results root)')
    .option('--keep <n>', 'with --results: how many runs of each scenario to keep', '10')
    .description('remove what dead runs left behind (namespaces, processes, files); never a live run')
    .action(async (flags: { all?: boolean; run?: string; orphans?: boolean; dryRun?: boolean; results?: string | boolean; keep: string }) => {
      if (flags.dryRun && flags.results !== undefined) throw new UserError('--dry-run looks at labs; --results prunes results folders: one at a time');
      const did = flags.dryRun ? 'would remove' : 'removed';
      if (flags.results !== undefined) {
        const keep = Number(flags.keep);
        if (!Number.isInteger(keep) || keep < 0) throw new UserError(`--keep: "${flags.keep}" is not a number of runs`);
        const root = typeof flags.results === 'string' ? flags.results : DEFAULT_RESULTS_ROOT;
        const removed = await pruneResults(root, keep);
        process.stdout.write(removed.length ? removed.map((d) => `removed ${d}\n`).join('') : `nothing to prune in ${root} (keeping ${keep} per scenario)\n`);
        return;
      }
      const candidates = (await listRuns()).filter(
        (r) => (r.status === 'dead' || (flags.all && r.status === 'kept')) && (flags.run === undefined || r.prefix === flags.run),
      );
      // namespaces no state file names were not made by a flatlab run this machine knows
      // of (a run writes its state before it builds): removed only when named or asked for
      const orphan = (r: (typeof candidates)[number]): boolean => r.state === null && flags.run !== r.prefix && !flags.orphans;
      const runs = candidates.filter((r) => !orphan(r));
      for (const r of candidates.filter(orphan)) {
        process.stdout.write(`left alone ${r.prefix}: ${r.namespaces.length} namespace(s) (${r.namespaces.slice(0, 3).join(', ')}${r.namespaces.length > 3 ? ', ...' : ''}) that no state file names; flatlab clean --orphans or --run ${r.prefix} removes them\n`);
      }
      for (const r of runs) {
        if (!flags.dryRun) await removeRun(r);
        process.stdout.write(`${did} ${r.prefix} (${r.namespaces.length} namespaces)\n`);
      }
      // what a killed writer left: its .tmp state files, registry links to nothing
      // (the reaper's `clean --run P`: only P's own)
      const stale = await removeStaleFiles((pid) => pid > 0 && existsSync(`/proc/${pid}`), flags.run, flags.dryRun);
      for (const f of stale) process.stdout.write(`${did} ${f}\n`);
      if (runs.length === 0 && stale.length === 0) process.stdout.write('nothing to clean\n');
    });

}
