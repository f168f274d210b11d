/** `flatlab run`: build the lab, check leases, gateways and reachability, tear it down */
import type { Command } from 'commander';
import { type RunFlags, addRunFlags, runOrUp, type SetExit } from './shared.js';

export function registerRun(program: Command, setExit: SetExit): void {
  addRunFlags(
    program
      .command('run')
      .argument('<scenario>', 'a scenario name (scenarios/NAME.yaml) or the path of a YAML file')
      .description('build the lab, check leases, gateways and reachability, tear it down'),
  ).action((arg: string, flags: RunFlags) => runOrUp(arg, flags, false, setExit));
}
