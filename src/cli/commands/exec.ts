/** `flatlab exec`: run a command inside a node or VM of a lab started with flatlab up */
import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { findKeptLab, reattach } from '../../run/runs.js';
import type { SetExit } from './shared.js';

const LOOKUP = 'command -v "$0" >/dev/null 2>&1 || { printf "flatlab exec: %s: command not found\\n" "$0" >&2; exit 127; }; exec "$0" "$@"';

export function registerExec(program: Command, setExit: SetExit): void {
  program
    .command('exec')
    .argument('<target>', 'a node, a VM, or "fabric" of the live lab')
    .argument('<command...>', 'the command and its arguments (after --)')
    .option('--run <prefix>', 'which lab, when several are up')
    .description('run a command inside a node or VM of a lab started with flatlab up')
    .action(async (target: string, command: string[], flags: { run?: string }) => {
      const lab = await findKeptLab(flags.run);
      const ns = lab.state.targets[target];
      if (!ns) throw new UserError(`${lab.prefix} has no node or VM "${target}" (it has: ${Object.keys(lab.state.targets).join(', ')})`);
      // where the target lives is the backend's business (a namespace here, a container there)
      const { backend } = reattach(lab.state);
      // The command is looked up where it runs (a namespace here, a container there), by a
      // shell, so that a missing one is 127 and one that cannot run 126 on every backend
      // (docker exec alone says 126, ip netns exec 1); argv stays argv: the shell's script
      // is fixed, the words are its positional parameters.
      const argv = ['sh', '-c', LOOKUP, ...command];
      const [cmd, ...args] = backend.interactiveArgv(ns, argv, process.stdin.isTTY === true);
      const child = spawn(cmd!, args, { stdio: 'inherit' });
      const code = await new Promise<number>((resolve) => {
        child.on('error', () => resolve(127));
        child.on('exit', (c, sig) => resolve(c ?? (sig ? 128 + (osConstants.signals[sig] ?? 0) : 1)));
      });
      setExit(code);
    });
}
