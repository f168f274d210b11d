/** What several commands share: the run flags, loading a scenario with its warnings, exit codes. */
import chalk from 'chalk';
import type { Command } from 'commander';
import { backendNames } from '../../backend/registry.js';
import type { BackendOptions } from '../../backend/backend.js';
import { ENGINE_NAME } from '../../backends.js';
import { isIpv4 } from '../../net/ipv4.js';
import { UserError } from '../../errors.js';
import { renderReport } from '../../report/terminal.js';
import { DEFAULT_RESULTS_ROOT, type RunResult } from '../../run/results.js';
import { RELEASES, type Release } from '../../nova/releases.js';
import { keepLabs, runScenario } from '../../run/run-scenario.js';
import { loadScenarioFile, type LoadedScenario } from '../../scenario/load.js';
import { GUEST_KINDS, type GuestKind } from '../../scenario/schema.js';
import { printableLines } from '../output.js';
import { resolveScenario } from '../../scenario/resolve.js';

export type SetExit = (code: number) => void;

/** --release NAME, checked. */
export function releaseFlag(name: string): Release {
  if (!(RELEASES as readonly string[]).includes(name)) throw new UserError(`--release: "${name}" is not a release (${RELEASES.join(', ')})`);
  return name as Release;
}

/** Loads a scenario and says, one line each, which mistakes nova accepted it builds. */
export async function loadWarned(file: string): Promise<LoadedScenario> {
  const loaded = await loadScenarioFile(file);
  for (const w of printableLines(loaded.warnings)) process.stderr.write(`${chalk.yellow(w)}\n`);
  return loaded;
}


export interface RunFlags {
  explain?: boolean;
  ignoreExpect?: boolean;
  release?: string;
  /** default: the scenario's backend:, else netns */
  backend?: string;
  results: string;
  variant?: string;
  quiet?: boolean;
  json?: boolean;
  /** make every guest this kind */
  guest?: string;
}

/** --guest KIND, checked. */
export function guestFlag(kind: string | undefined): { guest?: GuestKind } {
  if (kind === undefined) return {};
  if (!(GUEST_KINDS as readonly string[]).includes(kind)) throw new UserError(`--guest: "${kind}" is not a guest kind (${GUEST_KINDS.join(', ')})`);
  return { guest: kind as GuestKind };
}

export interface EngineFlags {
  engine?: string[];
  underlay?: string;
}

/** --engine NAME=URL (repeatable) and --underlay: where a Docker lab's nodes go. */
export function addEngineFlags(cmd: Command): Command {
  return cmd
    .option('--engine <name=url>', 'Docker: an engine to place nodes on (repeat; the first is this machine\'s; unix:///…sock or tcp://HOST:PORT, TLS when DOCKER_TLS_VERIFY is set, its files from DOCKER_CERT_PATH)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--underlay <netns[@address]>', 'Docker, several engines: the network namespace of this machine where the fabric\'s VXLAN meets the other engines');
}

/** The backend options the engine flags give, checked. */
export function backendOptionsOf(flags: EngineFlags): BackendOptions {
  const engines = (flags.engine ?? []).map((arg) => {
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : '';
    const url = arg.slice(eq + 1);
    if (!ENGINE_NAME.test(name) || !url) throw new UserError(`--engine "${arg}": expected NAME=URL, NAME a lowercase letter then up to 7 lowercase letters or digits (--engine b=unix:///run/flatlab-engine-b/docker.sock)`);
    return { name, url };
  });
  const names = engines.map((e) => e.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new UserError(`--engine: "${twice}" is given twice`);
  if (flags.underlay !== undefined) {
    const [ns, address, more] = flags.underlay.split('@');
    if (!ns || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(ns) || more !== undefined || (address !== undefined && !isIpv4(address))) {
      throw new UserError(`--underlay "${flags.underlay}": expected a network namespace name, optionally @ an IPv4 address of it`);
    }
    if (engines.length < 2) throw new UserError('--underlay joins several engines: give two or more --engine NAME=URL');
  }
  return { ...(engines.length ? { engines } : {}), ...(flags.underlay ? { underlay: flags.underlay } : {}) };
}

export function addRunFlags(cmd: Command, variantHelp = 'run only this variant (default: every variant)'): Command {
  return addEngineFlags(cmd)
    .option('-b, --backend <name>', `backend (${backendNames().join(', ')}; default: the scenario's backend:, else netns)`)
    .option('--results <dir>', 'results root', DEFAULT_RESULTS_ROOT)
    .option('--variant <name>', variantHelp)
    .option('--ignore-expect', "check against what the scenario derives, as if it had no expect: block")
    .option('--release <release>', `build this nova release instead of the scenario's (${RELEASES.join(', ')})`)
    .option('--guest <kind>', `make every guest this kind instead of the scenario's (${GUEST_KINDS.join(', ')}: vm boots each in QEMU with its own kernel)`)
    .option('--explain', 'trace the failures the scenario expects too, hop by hop (default for scenarios under bugs/)')
    .option('--no-explain', 'trace only unexpected failures')
    .option('-q, --quiet', 'no progress lines')
    .option('--json', 'print result.json instead of the report');
}

export async function runOrUp(arg: string, flags: RunFlags & EngineFlags, keep: boolean, setExit: SetExit): Promise<void> {
  const backendOptions = backendOptionsOf(flags);
  const loaded = await loadWarned(resolveScenario(arg));
  // `up` keeps one lab: the variant asked for, or the first
  const variant = keep ? (flags.variant ?? loaded.variants[0]!.name) : flags.variant;
  const { result, resultsDir, interrupted, toKeep } = await runScenario(loaded, {
    backend: flags.backend ?? loaded.scenario.backend ?? 'netns',
    backendOptions,
    resultsRoot: flags.results,
    quiet: flags.quiet || flags.json,
    keep,
    ignoreExpect: flags.ignoreExpect === true,
    ...(variant !== undefined ? { variant } : {}),
    ...(flags.release ? { release: releaseFlag(flags.release) } : {}),
    ...guestFlag(flags.guest),
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

export function exitCodeOf(r: RunResult): number {
  return r.ok ? 0 : 1;
}

/** Commands that create, enter or remove labs: they need root, and say so before anything else. */
export const NEEDS_ROOT = new Set(['run', 'up', 'suite', 'exec', 'check', 'diagnose', 'inspect', 'down', 'clean', 'image build']);


/**
 * The lab a command is told of, as `[prefix]` or `--run <prefix>` (the same): added to a
 * command, and read back (two different names are refused).
 */
export function labArguments(command: Command, what: string): Command {
  return command.argument('[prefix]', `${what} (the same as --run; default: the only kept lab of this user and checkout)`).option('--run <prefix>', `${what} (the same as the argument)`);
}
export function labNamed(command: string, arg: string | undefined, run: string | undefined): string | undefined {
  if (arg && run && arg !== run) throw new UserError(`${command}: two different labs named (${arg} and --run ${run})`);
  return arg ?? run;
}
