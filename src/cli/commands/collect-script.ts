/** `flatlab collect-script`: print the read-only POSIX sh script that collects a real node for compare */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { COLLECT_SCRIPT } from '../../assets.js';

export function registerCollectScript(program: Command): void {
  program
    .command('collect-script')
    .option('--path', 'print where the script is instead of the script')
    .description('print the read-only POSIX sh script that collects a real node for compare (sh collect.sh OUTDIR)')
    .action(async (flags: { path?: boolean }) => {
      process.stdout.write(flags.path ? `${COLLECT_SCRIPT}\n` : await readFile(COLLECT_SCRIPT, 'utf8'));
    });
}
