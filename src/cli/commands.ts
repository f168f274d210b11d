/** The flatlab subcommands. Each sets the process exit code through `setExit`. */
import { spawn } from 'node:child_process';
import chalk from 'chalk';
import type { Command } from 'commander';
import { backendNames } from '../backend/registry.js';
import { UserError } from '../errors.js';
import { renderReport } from '../report/terminal.js';
import { renderPlan } from '../report/plan-text.js';
import { createProgress } from '../run/progress.js';
import { DEFAULT_RESULTS_ROOT, RESULT_SCHEMA_VERSION, type RunResult, type VariantResult } from '../run/results.js';
import { checkLab, planVariant, runScenario, selectVariants, summarise } from '../run/run-scenario.js';
import { findKeptLab, listRuns, reattach, removeRun } from '../run/runs.js';
import { loadScenarioFile } from '../scenario/load.js';
import { resolveScenario } from '../scenario/resolve.js';
import { renderTable } from '../report/table.js';

type SetExit = (code: number) => void;

interface RunFlags {
  backend: string;
  results: string;
  variant?: string;
  quiet?: boolean;
  json?: boolean;
}

function addRunFlags(cmd: Command): Command {
  return cmd
    .option('-b, --backend <name>', `backend (${backendNames().join(', ')})`, 'netns')
    .option('--results <dir>', 'results root', DEFAULT_RESULTS_ROOT)
    .option('--variant <name>', 'run only this variant (default: every variant)')
    .option('-q, --quiet', 'no progress lines')
    .option('--json', 'print result.json instead of the report');
}

async function runOrUp(arg: string, flags: RunFlags, keep: boolean, setExit: SetExit): Promise<void> {
  const loaded = await loadScenarioFile(resolveScenario(arg));
  // `up` keeps one lab: the variant asked for, or the first
  const variant = keep ? (flags.variant ?? loaded.variants[0]!.name) : flags.variant;
  const { result, resultsDir, interrupted } = await runScenario(loaded, {
    backend: flags.backend,
    resultsRoot: flags.results,
    quiet: flags.quiet || flags.json,
    keep,
    ...(variant !== undefined ? { variant } : {}),
  });
  process.stdout.write(flags.json ? JSON.stringify(result, null, 2) + '\n' : renderReport(result, resultsDir));
  const lab = result.variants[0];
  if (keep && lab && !lab.error) {
    const vm = lab.plan.vms[0]?.name ?? 'NODE';
    process.stdout.write(
      `  lab ${chalk.bold(lab.prefix)} (variant ${lab.variant}) is up. ` +
        `Try: flatlab exec ${vm} -- ip addr · flatlab check · flatlab down ${lab.prefix}\n\n`,
    );
  }
  setExit(interrupted ? interrupted.exitCode : exitCodeOf(result));
}

function exitCodeOf(r: RunResult): number {
  return r.ok ? 0 : 1;
}

export function registerCommands(program: Command, setExit: SetExit): void {
  addRunFlags(
    program
      .command('run')
      .argument('<scenario>', 'a scenario name (scenarios/NAME.yaml) or the path of a YAML file')
      .description('build the lab, check leases, gateways and reachability, tear it down'),
  ).action((arg: string, flags: RunFlags) => runOrUp(arg, flags, false, setExit));

  addRunFlags(
    program
      .command('up')
      .argument('<scenario>', 'a scenario name or file')
      .description('build the lab, check it, and keep it running (flatlab down removes it)'),
  ).action((arg: string, flags: RunFlags) => runOrUp(arg, flags, true, setExit));

  program
    .command('validate')
    .argument('<scenario...>', 'scenario names or files')
    .description('check scenario files; print file:line:col field: problem for each mistake')
    .action(async (args: string[]) => {
      const errors: string[] = [];
      for (const a of args) {
        try {
          const { file } = await loadScenarioFile(resolveScenario(a));
          process.stdout.write(`${chalk.green('ok')} ${file}\n`);
        } catch (err) {
          if (!(err instanceof UserError)) throw err;
          errors.push(...err.lines);
        }
      }
      if (errors.length) throw new UserError(errors);
    });

  program
    .command('plan')
    .argument('<scenario>', 'a scenario name or file')
    .option('--json', 'the plan as JSON')
    .option('--variant <name>', 'only this variant')
    .description('print what a run would build and expect, without building it')
    .action(async (arg: string, flags: { json?: boolean; variant?: string }) => {
      const loaded = await loadScenarioFile(resolveScenario(arg));
      const plans = selectVariants(loaded, flags.variant).map((v) => planVariant(v, '000000'));
      process.stdout.write(flags.json ? JSON.stringify(plans.length === 1 ? plans[0] : plans, null, 2) + '\n' : plans.map(renderPlan).join('\n'));
    });

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
      const child = spawn('ip', ['netns', 'exec', ns, ...command], { stdio: 'inherit' });
      const code = await new Promise<number>((resolve) => {
        child.on('error', () => resolve(127));
        child.on('exit', (c, sig) => resolve(c ?? (sig ? 128 : 1)));
      });
      setExit(code);
    });

  program
    .command('check')
    .option('--run <prefix>', 'which lab, when several are up')
    .description('observe a live lab again: leases, gateways, reachability')
    .action(async (flags: { run?: string }) => {
      const lab = await findKeptLab(flags.run);
      const progress = createProgress();
      const t0 = performance.now();
      const checked = await checkLab(reattach(lab.state), progress);
      const summary = summarise(checked.verdicts);
      const variant: VariantResult = {
        variant: lab.state.variant,
        prefix: lab.prefix,
        ok: summary.failed === 0,
        summary,
        plan: lab.state.plan,
        ...checked,
        timings: { ...progress.timings, total: Math.round(performance.now() - t0) },
      };
      const result: RunResult = {
        schemaVersion: RESULT_SCHEMA_VERSION,
        scenario: lab.state.scenario,
        file: lab.state.file,
        backend: lab.state.backend,
        startedAt: new Date().toISOString(),
        ok: variant.ok,
        summary,
        variants: [variant],
        timings: { total: variant.timings.total! },
      };
      process.stdout.write(renderReport(result, '(not saved: flatlab check observes a live lab)'));
      setExit(exitCodeOf(result));
    });

  program
    .command('down')
    .argument('[prefix]', 'the lab to remove (default: the only one)')
    .description('tear down a lab started with flatlab up')
    .action(async (prefix?: string) => {
      const lab = await findKeptLab(prefix);
      await removeRun(lab);
      process.stdout.write(`removed ${lab.prefix} (${lab.namespaces.length} namespaces)\n`);
    });

  program
    .command('ls')
    .description('list flatlab labs on this machine')
    .action(async () => {
      const runs = await listRuns();
      if (runs.length === 0) {
        process.stdout.write('no flatlab labs\n');
        return;
      }
      const rows = runs.map((r) => [
        r.prefix,
        r.status === 'dead' ? chalk.yellow('leftover') : r.status,
        r.state ? `${r.state.scenario}${r.state.variant && r.state.variant !== 'default' ? `/${r.state.variant}` : ''}` : '?',
        String(r.namespaces.length),
        r.state?.createdAt ?? '',
      ]);
      process.stdout.write(renderTable(['run', 'status', 'scenario', 'namespaces', 'created'], rows) + '\n');
    });

  program
    .command('clean')
    .option('--all', 'also remove labs kept by flatlab up')
    .description('remove what dead runs left behind (namespaces, processes, files); never a live run')
    .action(async (flags: { all?: boolean }) => {
      const runs = (await listRuns()).filter((r) => r.status === 'dead' || (flags.all && r.status === 'kept'));
      for (const r of runs) {
        await removeRun(r);
        process.stdout.write(`removed ${r.prefix} (${r.namespaces.length} namespaces)\n`);
      }
      if (runs.length === 0) process.stdout.write('nothing to clean\n');
    });
}
