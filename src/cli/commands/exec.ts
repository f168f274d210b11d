/** `flatlab exec`: run a command inside a node or VM of a lab started with flatlab up */
import { spawn } from 'node:child_process';
import { onPath } from '../../which.js';
import { constants as osConstants } from 'node:os';
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { findKeptLab, reattach } from '../../run/runs.js';
import type { SetExit } from './shared.js';

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
      if (backend.name === 'netns' && !command[0]!.includes('/') && !onPath(command[0]!)) {
        // as a shell says it: the lab's namespaces share this machine's files
        process.stderr.write(`flatlab exec: ${command[0]}: command not found\n`);
        setExit(127);
        return;
      }
      const [cmd, ...args] = backend.interactiveArgv(ns, command, process.stdin.isTTY === true);
      const child = spawn(cmd!, args, { stdio: 'inherit' });
      const code = await new Promise<number>((resolve) => {
        child.on('error', () => resolve(127));
        child.on('exit', (c, sig) => resolve(c ?? (sig ? 128 + (osConstants.signals[sig] ?? 0) : 1)));
      });
      setExit(code);
    });
}
