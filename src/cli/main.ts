/**
 * The `flatlab` command. Exit codes: 0 every check as expected, 1 a check failed (or the
 * run could not complete), 2 bad input, 3 the machine is unfit, 130/143 interrupted.
 */
import { Command, CommanderError } from 'commander';
import chalk from 'chalk';
import { readFileSync } from 'node:fs';
import { EnvironmentError, UserError } from '../errors.js';
import { registerCommands } from './commands.js';
import { printableLines } from './output.js';

/** The package's version, read once from its package.json. */
function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export async function main(argv: string[]): Promise<number> {
  // https://no-color.org: a non-empty NO_COLOR turns colour off, as --no-color does
  if ((process.env.NO_COLOR ?? '') !== '' || argv.includes('--no-color')) chalk.level = 0;
  const program = new Command('flatlab')
    .description('Build nova-network flat networks in Linux namespaces and prove how they behave')
    .version(version(), '-V, --version')
    .option('--no-color', 'no colours (also: NO_COLOR=1)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError('(flatlab --help lists the commands)');
  let code = 0;
  registerCommands(program, (c: number) => {
    code = c;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    return exitCodeFor(err);
  }
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) {
    // help and version are not errors
    return err.exitCode === 0 ? 0 : 2;
  }
  if (err instanceof UserError) {
    for (const line of printableLines(err.lines)) process.stderr.write(`${line}\n`);
    return 2;
  }
  if (err instanceof EnvironmentError) {
    process.stderr.write(`${chalk.red('flatlab:')} ${err.message}\n${err.hint ? `  ${err.hint}\n` : ''}`);
    return 3;
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`${chalk.red('flatlab: error:')} ${message}\n`);
  if (process.env.FLATLAB_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return 1;
}
