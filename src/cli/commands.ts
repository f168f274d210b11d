/** The flatlab subcommands. Each sets the process exit code through `setExit`. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { onPath } from '../which.js';
import { removeStaleFiles } from '../run/state.js';
import { constants as osConstants } from 'node:os';
import chalk from 'chalk';
import type { Command } from 'commander';
import { backendNames, buildBackendImage } from '../backend/registry.js';
import { EnvironmentError, UserError } from '../errors.js';
import { renderReport } from '../report/terminal.js';
import { renderPlan } from '../report/plan-text.js';
import { createProgress } from '../run/progress.js';
import { DEFAULT_RESULTS_ROOT, prepareResultsDir, pruneResults, RESULT_SCHEMA_VERSION, resultsDirFor, type RunResult, type VariantResult } from '../run/results.js';
import { diagnoseFailures, diagnoseFlow } from '../diagnose/run-diagnosis.js';
import { egressFlow, vmFlow } from '../diagnose/flow.js';
import type { Protocol } from '../plan/types.js';
import { RELEASES, type Release } from '../nova/releases.js';
import { join, relative } from 'node:path';
import { availableParallelism } from 'node:os';
import { scenarioJsonSchema } from '../scenario/json-schema.js';
import { renderDot, renderMermaid } from '../report/graph.js';
import { renderHtml } from '../report/html.js';
import { renderJunit, renderSuiteJunit } from '../report/junit.js';
import { readFile, writeFile } from 'node:fs/promises';
import { findScenarios, PACKAGE_SCENARIOS } from '../scenario/resolve.js';
import { mapLimit } from '../wait.js';
import { classifySymptoms } from '../checks/symptoms.js';
import { checkLab, keepLabs, planVariant, runScenario, selectVariants, summarise } from '../run/run-scenario.js';
import { findKeptLab, listRuns, reattach, removeRun } from '../run/runs.js';
import { loadScenarioFile, type LoadedScenario } from '../scenario/load.js';
import { printableLines } from './output.js';
import { bashCompletion, completionSpec, zshCompletion } from './completion.js';
import { resolveScenario } from '../scenario/resolve.js';
import { renderTable } from '../report/table.js';
import { flakiness } from '../report/flakiness.js';
import { registerImport } from './import-command.js';
import { runResult } from '../result.js';
import { registerCompare } from './compare-command.js';

type SetExit = (code: number) => void;

/** --release NAME, checked. */
function releaseFlag(name: string): Release {
  if (!(RELEASES as readonly string[]).includes(name)) throw new UserError(`--release: "${name}" is not a release (${RELEASES.join(', ')})`);
  return name as Release;
}

/** Loads a scenario and says, one line each, which mistakes nova accepted it builds. */
async function loadWarned(file: string): Promise<LoadedScenario> {
  const loaded = await loadScenarioFile(file);
  for (const w of printableLines(loaded.warnings)) process.stderr.write(`${chalk.yellow(w)}\n`);
  return loaded;
}


interface RunFlags {
  explain?: boolean;
  ignoreExpect?: boolean;
  release?: string;
  /** default: the scenario's backend:, else netns */
  backend?: string;
  results: string;
  variant?: string;
  quiet?: boolean;
  json?: boolean;
}

function addRunFlags(cmd: Command, variantHelp = 'run only this variant (default: every variant)'): Command {
  return cmd
    .option('-b, --backend <name>', `backend (${backendNames().join(', ')}; default: the scenario's backend:, else netns)`)
    .option('--results <dir>', 'results root', DEFAULT_RESULTS_ROOT)
    .option('--variant <name>', variantHelp)
    .option('--ignore-expect', "check against what the scenario derives, as if it had no expect: block")
    .option('--release <release>', `build this nova release instead of the scenario's (${RELEASES.join(', ')})`)
    .option('--explain', 'trace the failures the scenario expects too, hop by hop (default for scenarios under bugs/)')
    .option('--no-explain', 'trace only unexpected failures')
    .option('-q, --quiet', 'no progress lines')
    .option('--json', 'print result.json instead of the report');
}

async function runOrUp(arg: string, flags: RunFlags, keep: boolean, setExit: SetExit): Promise<void> {
  const loaded = await loadWarned(resolveScenario(arg));
  // `up` keeps one lab: the variant asked for, or the first
  const variant = keep ? (flags.variant ?? loaded.variants[0]!.name) : flags.variant;
  const { result, resultsDir, interrupted, toKeep } = await runScenario(loaded, {
    backend: flags.backend ?? loaded.scenario.backend ?? 'netns',
    resultsRoot: flags.results,
    quiet: flags.quiet || flags.json,
    keep,
    ignoreExpect: flags.ignoreExpect === true,
    ...(variant !== undefined ? { variant } : {}),
    ...(flags.release ? { release: releaseFlag(flags.release) } : {}),
    ...(flags.explain !== undefined ? { explain: flags.explain } : {}),
    // scripts and tests that must know their labs' prefixes in advance
    ...(process.env.FLATLAB_RUN_ID ? { runId: process.env.FLATLAB_RUN_ID } : {}),
  });
  process.stdout.write(flags.json ? JSON.stringify(result, null, 2) + '\n' : renderReport(result, resultsDir));
  const lab = result.variants[0];
  if (keep && lab && !lab.error && toKeep.length > 0) {
    const vm = lab.plan.vms[0]?.name ?? 'NODE';
    if (!flags.json) process.stdout.write(
      `  lab ${chalk.bold(lab.prefix)} (variant ${lab.variant}) is up. ` +
        `Try: flatlab exec --run ${lab.prefix} ${vm} -- ip addr · flatlab check --run ${lab.prefix} · flatlab down ${lab.prefix}\n\n`,
    );
    await keepLabs(toKeep);
  }
  setExit(interrupted ? interrupted.exitCode : exitCodeOf(result));
}

function exitCodeOf(r: RunResult): number {
  return r.ok ? 0 : 1;
}

/** Commands that create, enter or remove labs: they need root, and say so before anything else. */
const NEEDS_ROOT = new Set(['run', 'up', 'suite', 'exec', 'check', 'diagnose', 'inspect', 'down', 'clean', 'build']);

export function registerCommands(program: Command, setExit: SetExit): void {
  program.hook('preAction', (_program, action) => {
    if (NEEDS_ROOT.has(action.name()) && process.getuid?.() !== 0) {
      throw new EnvironmentError(`flatlab ${action.name()} needs root (network namespaces, iptables, other users' processes)`, `run it as root: sudo -E flatlab ${action.name()} ...`);
    }
  });
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
      .description('build one variant\'s lab, check it, and keep it running (flatlab down removes it)'),
    'keep this variant (default: the first)',
  ).action((arg: string, flags: RunFlags) => runOrUp(arg, flags, true, setExit));

  program
    .command('validate')
    .argument('<scenario...>', 'scenario names or files')
    .description('check scenario files; print file:line:col field: problem for each mistake')
    .action(async (args: string[]) => {
      const errors: string[] = [];
      for (const a of args) {
        try {
          const { file } = await loadWarned(resolveScenario(a));
          process.stdout.write(`${chalk.green('ok')} ${file}\n`);
        } catch (err) {
          if (!(err instanceof UserError)) throw err;
          errors.push(...err.lines);
        }
      }
      if (errors.length) throw new UserError(errors);
    });

  registerImport(program);
  registerCompare(program, setExit);

  program
    .command('plan')
    .argument('<scenario>', 'a scenario name or file')
    .option('--json', 'the plan as JSON')
    .option('--variant <name>', 'only this variant')
    .option('--release <release>', `plan this nova release instead of the scenario's (${RELEASES.join(', ')})`)
    .description('print what a run would build and expect, without building it')
    .action(async (arg: string, flags: { json?: boolean; variant?: string; release?: string }) => {
      const loaded = await loadWarned(resolveScenario(arg));
      const release = flags.release ? releaseFlag(flags.release) : undefined;
      const plans = selectVariants(loaded, flags.variant).map((v) => planVariant(v, '000000', false, release));
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

  program
    .command('check')
    .option('--run <prefix>', 'which lab, when several are up')
    .option('--results <dir>', 'results root (for the captures of a diagnosis)', DEFAULT_RESULTS_ROOT)
    .option('--json', 'print the result as JSON instead of the report')
    .option('-q, --quiet', 'no progress lines')
    .description('observe a live lab again: leases, gateways, reachability; trace what fails')
    .action(async (flags: { run?: string; results: string; json?: boolean; quiet?: boolean }) => {
      const lab = await findKeptLab(flags.run);
      const progress = createProgress({ quiet: flags.quiet || flags.json });
      const t0 = performance.now();
      const live = reattach(lab.state);
      const checked = await checkLab(live, progress);
      const summary = summarise(checked.verdicts);
      let diagnoses: VariantResult['diagnoses'] = [];
      if (summary.failed > 0) {
        const dir = join(await prepareResultsDir(resultsDirFor(flags.results, lab.state.scenario, new Date())), 'diagnosis');
        diagnoses = await progress.phase('diagnose', 'tracing the failed flows hop by hop', () => diagnoseFailures(live.backend, live.plan, checked.reach, checked.egress, dir));
      }
      const variant: VariantResult = {
        variant: lab.state.variant,
        prefix: lab.prefix,
        ok: summary.failed === 0,
        summary,
        plan: lab.state.plan,
        ...checked,
        diagnoses,
        symptoms: classifySymptoms(live.plan, checked.observations, checked.reach, checked.egress),
        timings: { ...progress.timings, total: Math.round(performance.now() - t0) },
      };
      const result = runResult({ scenario: lab.state.scenario, file: lab.state.file, backend: lab.state.backend, startedAt: new Date(), variants: [variant], totalMs: variant.timings.total! });
      process.stdout.write(flags.json ? JSON.stringify(result, null, 2) + '\n' : renderReport(result, '(not saved: flatlab check observes a live lab)'));
      setExit(exitCodeOf(result));
    });

  program
    .command('diagnose')
    .argument('<from>', 'the source VM')
    .argument('<to>', 'the destination VM, or "external" for the way out')
    .option('--proto <proto>', 'icmp, tcp or udp', 'icmp')
    .option('--port <n>', 'tcp/udp port')
    .option('--run <prefix>', 'which lab, when several are up')
    .option('--results <dir>', 'results root (for the captures)', DEFAULT_RESULTS_ROOT)
    .option('--json', 'print the diagnosis and its evidence as JSON')
    .description('trace one flow of a live lab hop by hop and say where its packets stop')
    .action(async (from: string, to: string, flags: { proto: string; port?: string; run?: string; results: string; json?: boolean }) => {
      const lab = await findKeptLab(flags.run);
      const plan = lab.state.plan;
      const vmNames = plan.vms.map((v) => v.name).join(', ');
      if (!plan.vms.some((v) => v.name === from)) throw new UserError(`${lab.prefix} has no VM "${from}" (VMs: ${vmNames})`);
      if (to !== 'external' && !plan.vms.some((v) => v.name === to)) throw new UserError(`${lab.prefix} has no VM "${to}" (VMs: ${vmNames}${plan.external ? ', or external' : ''})`);
      if (to === 'external' && !plan.external) throw new UserError(`${lab.prefix} has no external network`);
      if (!['icmp', 'tcp', 'udp'].includes(flags.proto)) throw new UserError(`--proto: "${flags.proto}" is not icmp, tcp or udp`);
      const port = flags.port === undefined ? undefined : Number(flags.port);
      if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535)) throw new UserError(`--port: "${flags.port}" is not a port`);
      if (flags.proto !== 'icmp' && port === undefined && to !== 'external') throw new UserError(`--port is needed for ${flags.proto}`);
      const backend = reattach(lab.state).backend;
      const flow = to === 'external' ? egressFlow(plan, from) : vmFlow(plan, from, to, flags.proto as Protocol, port);
      const dir = join(await prepareResultsDir(resultsDirFor(flags.results, lab.state.scenario, new Date())), 'diagnosis');
      const d = await diagnoseFlow(backend, plan, flow, dir);
      process.stdout.write(flags.json ? JSON.stringify(d, null, 2) + '\n' : `${d.text}\n${chalk.dim(`  captures: ${d.captures}`)}\n`);
      setExit(d.problem ? 1 : 0);
    });

  program
    .command('report')
    .argument('<run-dir>', 'a results folder (results/<scenario>/<timestamp>)')
    .description('render report.html and junit.xml again from result.json')
    .action(async (dir: string) => {
      let result: RunResult;
      try {
        result = JSON.parse(await readFile(join(dir, 'result.json'), 'utf8')) as RunResult;
      } catch (err) {
        throw new UserError(`${dir}: no readable result.json (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
      }
      if (result.schemaVersion !== RESULT_SCHEMA_VERSION) throw new UserError(`${dir}/result.json: schema version ${result.schemaVersion}, this flatlab reads ${RESULT_SCHEMA_VERSION}`);
      await writeFile(join(dir, 'report.html'), renderHtml(result));
      await writeFile(join(dir, 'junit.xml'), renderJunit(result));
      process.stdout.write(`${join(dir, 'report.html')}\n${join(dir, 'junit.xml')}\n`);
    });

  program
    .command('graph')
    .argument('<scenario>', 'a scenario name or file')
    .option('--format <format>', 'mermaid or dot', 'mermaid')
    .option('--variant <name>', 'which variant (default: the first)')
    .description('print the topology a scenario builds, as Mermaid or Graphviz DOT')
    .action(async (arg: string, flags: { format: string; variant?: string }) => {
      if (flags.format !== 'mermaid' && flags.format !== 'dot') throw new UserError(`--format: "${flags.format}" is not mermaid or dot`);
      const loaded = await loadWarned(resolveScenario(arg));
      const p = planVariant(selectVariants(loaded, flags.variant)[0]!, '000000');
      process.stdout.write(flags.format === 'dot' ? renderDot(p) : renderMermaid(p));
    });

  const image = program.command('image').description('the Docker backend\'s compute-node image');
  image
    .command('build')
    .description('build the compute-node image from the Dockerfile (bootstrapping a base when no registry answers)')
    .action(async () => {
      process.stdout.write(`${await buildBackendImage('docker', (l) => process.stderr.write(`${l}\n`))}\n`);
    });

  program
    .command('schema')
    .description('print the scenario format as JSON Schema (generated from the validator)')
    .action(() => {
      process.stdout.write(JSON.stringify(scenarioJsonSchema(), null, 2) + '\n');
    });

  program
    .command('suite')
    .argument('[patterns...]', 'scenario names or globs under scenarios/ (default: all)')
    .option('-j, --jobs <n>', 'scenarios at once', String(Math.max(1, Math.min(4, availableParallelism()))))
    .option('-b, --backend <names>', `backend(s): ${backendNames().join(', ')}, a comma-separated list, or all (default: each scenario's backend:, else netns)`)
    .option('--results <dir>', 'results root', DEFAULT_RESULTS_ROOT)
    .option('--dir <dir>', 'where the scenarios are (default: scenarios/)')
    .option('--repeat <n>', 'run each scenario N times and list every check whose verdict changed between repeats', '1')
    .option('--json', 'print every run (results folder, verdicts) and the flaky checks as JSON')
    .option('-q, --quiet', 'no line per run while they run')
    .description('run every scenario (every variant, on one backend or several), several at once, and print a table')
    .action(async (patterns: string[], flags: { jobs: string; backend?: string; results: string; dir?: string; repeat: string; json?: boolean; quiet?: boolean }) => {
      const jobs = Number(flags.jobs);
      if (!Number.isInteger(jobs) || jobs < 1) throw new UserError(`--jobs: "${flags.jobs}" is not a positive number`);
      const repeat = Number(flags.repeat);
      if (!Number.isInteger(repeat) || repeat < 1) throw new UserError(`--repeat: "${flags.repeat}" is not a positive number`);
      const files = await findScenarios(patterns, flags.dir);
      if (files.length === 0) throw new UserError(`no scenario matches ${patterns.join(' ')}`);
      const backends = flags.backend === 'all' ? backendNames() : flags.backend?.split(',').map((b) => b.trim());
      for (const b of backends ?? []) if (!backendNames().includes(b)) throw new UserError(`--backend: no backend "${b}" (${backendNames().join(', ')}, or all)`);
      const loaded = await Promise.all(files.map((f) => loadWarned(f)));
      // each scenario once per backend asked for (or on its own backend)
      const work = loaded.flatMap((l) =>
        (backends ?? [l.scenario.backend ?? 'netns']).flatMap((backend) => Array.from({ length: repeat }, (_, i) => ({ l, backend, round: i + 1 }))),
      );
      const several = new Set(work.map((w) => w.backend)).size > 1;
      const t0 = performance.now();
      let done = 0;
      const outcomes = await mapLimit(work, jobs, async ({ l, backend, round }) => {
        const on = `${several ? ` on ${backend}` : ''}${repeat > 1 ? ` (repeat ${round}/${repeat})` : ''}`;
        if (!flags.quiet) process.stderr.write(chalk.dim(`  ▸ ${l.scenario.name}${on} (${l.variants.length} variant${l.variants.length > 1 ? 's' : ''})\n`));
        const o = await runScenario(l, { backend, resultsRoot: flags.results, quiet: true });
        done++;
        const mark = o.result.ok ? chalk.green('✓') : chalk.red('✗');
        if (!flags.quiet) process.stderr.write(`  ${mark} ${o.result.scenario}${on} ${chalk.dim(`${o.result.timings.total} ms (${done}/${work.length})`)}\n`);
        return o;
      });
      const { flaky, retried } = flakiness(outcomes.map((o) => o.result));
      const failed = outcomes.filter((o) => !o.result.ok);
      // one junit.xml for the whole suite, beside the runs' own folders
      const junit = join(await prepareResultsDir(flags.results, { unique: false }), `suite-${new Date().toISOString().replace(/:/g, '-')}.junit.xml`);
      await writeFile(junit, renderSuiteJunit(outcomes.map((o, i) => ({ result: o.result, ...(repeat > 1 ? { repeat: work[i]!.round } : {}) }))));
      const interrupted = outcomes.find((o) => o.interrupted)?.interrupted;
      setExit(interrupted ? interrupted.exitCode : failed.length || flaky.length ? 1 : 0);
      if (flags.json) {
        const runs = outcomes.map((o, i) => ({ scenario: o.result.scenario, backend: o.result.backend, repeat: work[i]!.round, ok: o.result.ok, resultsDir: o.resultsDir, variants: o.result.variants.map((v) => ({ variant: v.variant, ok: v.ok, summary: v.summary, ...(v.error ? { error: v.error } : {}) })) }));
        process.stdout.write(JSON.stringify({ ok: failed.length === 0 && flaky.length === 0, runs, flaky, retried, junit }, null, 2) + '\n');
        return;
      }
      const rows = outcomes.flatMap(({ result }, i) =>
        result.variants.map((v) => [
          result.scenario,
          ...(several ? [result.backend] : []),
          ...(repeat > 1 ? [String(work[i]!.round)] : []),
          v.variant,
          v.ok ? chalk.green('pass') : chalk.red.bold(v.error ? 'error' : 'FAIL'),
          `${v.summary.passed}/${v.summary.passed + v.summary.failed}${v.summary.skipped ? ` (+${v.summary.skipped} skipped)` : ''}`,
          v.symptoms.map((x) => x.code).join(', '),
          `${v.timings.total} ms`,
        ]),
      );
      process.stdout.write('\n' + renderTable(['scenario', ...(several ? ['backend'] : []), ...(repeat > 1 ? ['repeat'] : []), 'variant', 'result', 'checks', 'symptom', 'time'], rows) + '\n');
      for (const o of failed) process.stdout.write(chalk.dim(`  ${o.result.scenario}: ${o.resultsDir}\n`));
      if (flaky.length > 0) {
        process.stdout.write(`\n  ${chalk.red.bold(`${flaky.length} flaky check${flaky.length > 1 ? 's' : ''}`)} (the verdict changed between repeats):\n`);
        for (const f of flaky) {
          process.stdout.write(`  ${f.scenario}${several ? ` on ${f.backend}` : ''} ${f.variant}: ${f.check}\n`);
          for (const s of f.seen) process.stdout.write(chalk.dim(`      repeat ${s.repeat}: ${s.ok ? 'pass' : 'FAIL'}, observed ${s.observed}\n`));
        }
      }
      if (retried.length > 0) {
        process.stdout.write(`\n  ${chalk.yellow(`${retried.length} check${retried.length > 1 ? 's' : ''} passed only on a later try`)}:\n`);
        for (const r of retried) process.stdout.write(chalk.dim(`  ${r.scenario} ${r.variant} (repeat ${r.repeat}): ${r.check}: ${r.tries.join(' | ')}\n`));
      }
      process.stdout.write(
        `\n  ${failed.length === 0 ? chalk.green(`all ${outcomes.length} scenario runs as expected`) : chalk.red.bold(`${failed.length} of ${outcomes.length} scenario runs failed`)}${repeat > 1 ? `, ${flaky.length} flaky` : ''} ${chalk.dim(`in ${Math.round(performance.now() - t0)} ms, ${jobs} at once`)}\n` +
          chalk.dim(`  results: ${flags.results} (junit: ${junit})\n\n`),
      );
    });

  program
    .command('down')
    .argument('[prefix]', 'the lab to remove (default: the only kept one)')
    .option('--run <prefix>', 'the lab to remove (the same as the argument)')
    .option('--force', "also a lab another flatlab process is still running (it then fails)")
    .description('tear down a lab started with flatlab up')
    .action(async (arg: string | undefined, flags: { run?: string; force?: boolean }) => {
      if (arg && flags.run && arg !== flags.run) throw new UserError(`down: two different labs named (${arg} and --run ${flags.run})`);
      const lab = await findKeptLab(arg ?? flags.run, flags.force === true);
      await removeRun(lab);
      process.stdout.write(`removed ${lab.prefix} (${lab.namespaces.length} namespaces)\n`);
    });

  program
    .command('inspect')
    .option('--run <prefix>', 'which lab, when several are up')
    .option('--json', 'the lab as JSON')
    .description('show a live lab: backend, nodes with bridge address and uplink, VMs with MAC, address and gateway, faults, age')
    .action(async (flags: { run?: string; json?: boolean }) => {
      // read-only: a running lab may be inspected too, when named
      const lab = await findKeptLab(flags.run, true);
      const { plan, backend, clients } = reattach(lab.state);
      const states = await Promise.all(plan.vms.map((v) => backend.readVmState(v, clients[v.name])));
      const ageS = Math.round((Date.now() - Date.parse(lab.state.createdAt)) / 1000);
      const info = {
        prefix: lab.prefix,
        status: lab.status,
        scenario: plan.scenario,
        variant: plan.variant,
        release: plan.release,
        backend: lab.state.backend,
        ...(lab.state.backend === 'docker' ? { engine: process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock' } : {}),
        owner: lab.state.owner,
        ageSeconds: ageS,
        nodes: plan.nodes.map((n) => ({ name: n.name, namespace: n.netns, bridge: n.bridge, bridgeIp: n.bridgeIp, uplink: n.uplink, ...(n.public ? { myIp: n.public.ip, publicInterface: n.public.iface } : {}), vms: n.vms })),
        vms: plan.vms.map((v, i) => ({ name: v.name, node: v.node, mac: states[i]!.mac ?? v.mac, tap: v.tap, address: states[i]!.addresses[0]?.ip ?? null, planned: v.ip, gateway: states[i]!.defaultGateway })),
        faults: plan.faults.map((f) => ({ type: f.type, node: f.node, change: f.change, models: f.models })),
      };
      if (flags.json) {
        process.stdout.write(JSON.stringify(info, null, 2) + '\n');
        return;
      }
      const out = [
        `${chalk.bold(lab.prefix)} ${lab.status}: ${plan.scenario}${plan.variant !== 'default' ? ` · variant ${plan.variant}` : ''}, release ${plan.release}, backend ${info.backend}${'engine' in info ? ` (${info.engine})` : ''}, up ${ageS} s, owner ${lab.state.owner.user ?? '?'} pid ${lab.state.owner.pid}`,
        '',
        renderTable(['node', 'bridge', 'address', 'uplink', 'my_ip', 'VMs'], info.nodes.map((n) => [n.name, n.bridge, n.bridgeIp ?? '—', n.uplink, n.myIp ?? '—', n.vms.join(', ')])),
        '',
        renderTable(['VM', 'node', 'tap', 'MAC', 'address', 'gateway'], info.vms.map((v) => [v.name, v.node, v.tap, v.mac, v.address ?? '—', v.gateway ?? '—'])),
        ...(info.faults.length ? ['', ...info.faults.map((f) => chalk.yellow(`  fault ${f.type}${f.node ? ` on ${f.node}` : ''}: ${f.change} (${f.models})`))] : []),
        '',
      ];
      process.stdout.write(out.join('\n'));
    });

  program
    .command('completion')
    .argument('<shell>', 'bash or zsh')
    .description('print a shell completion script (source <(flatlab completion bash))')
    .action(async (shell: string) => {
      if (shell !== 'bash' && shell !== 'zsh') throw new UserError(`completion: "${shell}" is not bash or zsh`);
      const scenarios = (await findScenarios([])).map((f) => relative(PACKAGE_SCENARIOS, f).replace(/\.ya?ml$/, ''));
      const spec = completionSpec(program, scenarios);
      process.stdout.write(shell === 'bash' ? bashCompletion(spec) : zshCompletion(spec));
    });

  program
    .command('ls')
    .option('--json', 'the labs as JSON')
    .description('list flatlab labs on this machine, whose they are and where they come from')
    .action(async (flags: { json?: boolean }) => {
      const runs = await listRuns();
      if (flags.json) {
        process.stdout.write(
          JSON.stringify(
            runs.map((r) => ({ prefix: r.prefix, status: r.status, scenario: r.state?.scenario ?? null, variant: r.state?.variant ?? null, backend: r.state?.backend ?? null, owner: r.state?.owner ?? null, runtimeDir: r.state?.plan?.runtimeDir ?? null, namespaces: r.namespaces.length, createdAt: r.state?.createdAt ?? null })),
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
        String(r.namespaces.length),
        r.state ? `${r.state.owner.user ?? '?'} pid ${r.state.owner.pid}` : '?',
        r.state?.owner.checkout ?? '?',
        r.state?.createdAt ?? '',
      ]);
      process.stdout.write(renderTable(['run', 'status', 'scenario', 'namespaces', 'owner', 'checkout', 'created'], rows) + '\n');
    });

  program
    .command('clean')
    .option('--all', 'also remove labs kept by flatlab up')
    .option('--run <prefix>', 'only this run (what a run\'s reaper calls)')
    .option('--results [dir]', 'instead: prune old results folders (default folder: the results root)')
    .option('--keep <n>', 'with --results: how many runs of each scenario to keep', '10')
    .description('remove what dead runs left behind (namespaces, processes, files); never a live run')
    .action(async (flags: { all?: boolean; run?: string; results?: string | boolean; keep: string }) => {
      if (flags.results !== undefined) {
        const keep = Number(flags.keep);
        if (!Number.isInteger(keep) || keep < 0) throw new UserError(`--keep: "${flags.keep}" is not a number of runs`);
        const root = typeof flags.results === 'string' ? flags.results : DEFAULT_RESULTS_ROOT;
        const removed = await pruneResults(root, keep);
        process.stdout.write(removed.length ? removed.map((d) => `removed ${d}\n`).join('') : `nothing to prune in ${root} (keeping ${keep} per scenario)\n`);
        return;
      }
      const runs = (await listRuns()).filter(
        (r) => (r.status === 'dead' || (flags.all && r.status === 'kept')) && (flags.run === undefined || r.prefix === flags.run),
      );
      for (const r of runs) {
        await removeRun(r);
        process.stdout.write(`removed ${r.prefix} (${r.namespaces.length} namespaces)\n`);
      }
      // what a killed writer left: its .tmp state files, registry links to nothing
      // (the reaper's `clean --run P`: only P's own)
      const stale = await removeStaleFiles((pid) => pid > 0 && existsSync(`/proc/${pid}`), flags.run);
      for (const f of stale) process.stdout.write(`removed ${f}\n`);
      if (runs.length === 0 && stale.length === 0) process.stdout.write('nothing to clean\n');
    });
}
