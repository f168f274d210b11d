/** `flatlab diagnose`: trace one flow of a live lab hop by hop and say where its packets stop */
import chalk from 'chalk';
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { DEFAULT_RESULTS_ROOT, prepareResultsDir, resultsDirFor } from '../../run/results.js';
import { diagnoseFlow } from '../../diagnose/run-diagnosis.js';
import { diagnoseLease } from '../../diagnose/run-dhcp.js';
import { egressFlow, vmFlow } from '../../diagnose/flow.js';
import { diagnoseExit, expectationOf } from '../../diagnose/expected.js';
import type { Protocol } from '../../plan/types.js';
import { join } from 'node:path';
import { findKeptLab, reattach } from '../../run/runs.js';
import type { SetExit } from './shared.js';

export function registerDiagnose(program: Command, setExit: SetExit): void {
  program
    .command('diagnose')
    .argument('<from>', 'the source VM')
    .argument('<to>', 'the destination VM, "external" for the way out, or "dhcp" for its DHCP exchange with the dnsmasq that serves it')
    .option('--proto <proto>', 'icmp, tcp or udp', 'icmp')
    .option('--port <n>', 'tcp/udp port')
    .option('--run <prefix>', 'which lab, when several are up')
    .option('--results <dir>', 'results root for the captures (default: the lab\'s own results folder, under diagnosis/)')
    .option('--json', 'print the diagnosis and its evidence as JSON')
    .description('trace one flow of a live lab hop by hop and say where its packets stop')
    .action(async (from: string, to: string, flags: { proto: string; port?: string; run?: string; results?: string; json?: boolean }) => {
      const lab = await findKeptLab(flags.run);
      const plan = lab.state.plan;
      // beside the run's own results (where `up` wrote them), not under the caller's working folder
      const capturesDir = async (): Promise<string> =>
        join(
          flags.results !== undefined || !lab.state.resultsDir
            ? await prepareResultsDir(resultsDirFor(flags.results ?? DEFAULT_RESULTS_ROOT, lab.state.scenario, new Date()))
            : lab.state.resultsDir,
          'diagnosis',
        );
      const say = (text: string, captures: string, problem: boolean, json: object): void => {
        const expectation = expectationOf(plan, from, to, flags.proto as Protocol, flags.port === undefined ? undefined : Number(flags.port));
        const exit = diagnoseExit(problem, expectation);
        const verdict = expectation ? (exit === 0 ? `as the lab expects: ${expectation.text}` : `the lab expects otherwise: ${expectation.text}`) : '';
        process.stdout.write(
          flags.json
            ? JSON.stringify({ ...json, expected: expectation, asExpected: expectation ? exit === 0 : null }, null, 2) + '\n'
            : `${text}\n${verdict ? `  ${exit === 0 ? verdict : chalk.red(verdict)}\n` : ''}${chalk.dim(`  captures: ${captures}`)}\n`,
        );
        setExit(exit);
      };
      const vmNames = plan.vms.map((v) => v.name).join(', ');
      if (!plan.vms.some((v) => v.name === from)) throw new UserError(`${lab.prefix} has no VM "${from}" (VMs: ${vmNames})`);
      if (to === 'dhcp') {
        const d = await diagnoseLease(reattach(lab.state).backend, plan, from, await capturesDir());
        if (!d) throw new UserError(`${from} gets no address from a nova dnsmasq in ${lab.prefix} (${plan.expected.addressSources[from]?.kind ?? 'none'}): no DHCP path to trace`);
        say(d.text, d.captures, d.problem, d);
        return;
      }
      if (to !== 'external' && !plan.vms.some((v) => v.name === to)) throw new UserError(`${lab.prefix} has no VM "${to}" (VMs: ${vmNames}${plan.external ? ', or external' : ''})`);
      if (to === 'external' && !plan.external) throw new UserError(`${lab.prefix} has no external network`);
      if (!['icmp', 'tcp', 'udp'].includes(flags.proto)) throw new UserError(`--proto: "${flags.proto}" is not icmp, tcp or udp`);
      const port = flags.port === undefined ? undefined : Number(flags.port);
      if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535)) throw new UserError(`--port: "${flags.port}" is not a port`);
      if (flags.proto !== 'icmp' && port === undefined && to !== 'external') throw new UserError(`--port is needed for ${flags.proto}`);
      const backend = reattach(lab.state).backend;
      const flow = to === 'external' ? egressFlow(plan, from) : vmFlow(plan, from, to, flags.proto as Protocol, port);
      const d = await diagnoseFlow(backend, plan, flow, await capturesDir());
      say(d.text, d.captures, d.problem, d);
    });
}
