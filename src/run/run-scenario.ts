/**
 * One scenario, end to end: for each variant (concurrently, each an isolated lab with
 * its own run prefix) plan, build, lease, check, collect results, tear down.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Backend, BackendOptions } from '../backend/backend.js';
import { startTicks } from '../backend/procfs.js';
import { createBackend } from '../backend/registry.js';
import { gatewayVerdicts, leaseVerdicts } from '../checks/leases.js';
import { observe } from '../checks/observe.js';
import { neighbourTableFulls, neighbourTableNotice } from '../checks/neigh-budget.js';
import { DEFAULT_REACH, reachVerdicts, resolvedEntry, runReachChecks, type ReachOptions } from '../checks/reach.js';
import { egressVerdicts, runEgressChecks } from '../checks/egress.js';
import type { EgressResult, Observations, ReachResult, Verdict } from '../checks/types.js';
import { EnvironmentError, InterruptedError, UserError } from '../errors.js';
import { hasVmGuests, planVariant, type VariantOptions } from '../plan/variant.js';
import type { GuestKind } from '../scenario/schema.js';
import type { VmGuestsNotice } from '../result.js';
import { chooseAccel } from './accel.js';
import { hostTscKhz } from './tsc.js';
import { checkVmHost, guestImage } from './guest-image.js';
import { LAB_ASSETS } from '../assets.js';
import type { Plan } from '../plan/types.js';
import type { Release } from '../nova/releases.js';
import { checkPlacement, type LoadedScenario, type ScenarioVariant } from '../scenario/load.js';
import { bringUp, tearDown } from './lab.js';
import { applyAfterBootFaults } from './faults.js';
import { awaitLeases } from './leases.js';
import type { RunningLab } from './running-lab.js';
import { createProgress, type Progress } from './progress.js';
import {
  collectArtifacts,
  INCOMPLETE_MARKER,
  prepareResultsDir,
  resultsDirFor,
  type RunResult,
  type VariantResult,
} from './results.js';
import type { DropCount } from '../checks/counters.js';
import { withSignals } from './signals.js';
import { classifySymptoms } from '../checks/symptoms.js';
import { awaitRenewals } from '../checks/renewals.js';
import { diagnoseFailures, unleasedGuests } from '../diagnose/run-diagnosis.js';
import { runtimeRoot, targetsOf, untraversable, writeState, type RunState } from './state.js';
import { CHECKOUT, listRuns } from './runs.js';

export interface RunOptions {
  backend: string;
  /** where the backend puts things (Docker engines), kept in each run's state */
  backendOptions?: BackendOptions;
  resultsRoot: string;
  /** only this variant (default: all) */
  variant?: string;
  quiet?: boolean;
  /** `flatlab up`: keep the lab after the checks */
  keep?: boolean;
  /** check against what the scenario derives, ignoring its expect: block */
  ignoreExpect?: boolean;
  /** trace the failures the scenario expects too (default: for scenarios under a bugs/ folder) */
  explain?: boolean;
  /** the scenario's file (set by runScenario) */
  file?: string;
  /** build this nova release's behaviour instead of the scenario's release: */
  release?: Release;
  reach?: ReachOptions;
  /** the first variant's run id (the next ones count up); default random (FLATLAB_RUN_ID, for run and up) */
  runId?: string;
  /** make every guest this kind (--guest) */
  guest?: GuestKind;
}

/**
 * What vm guests need before anything is planned: QEMU and the tun device, the image
 * (built on first use, cached after), KVM or TCG, vhost-net or not. Said on stderr
 * (the run's header) and in result.json.
 */
async function prepareMachines(quiet: boolean | undefined): Promise<{ options: NonNullable<VariantOptions['machines']>; notice: VmGuestsNotice }> {
  checkVmHost();
  const image = await guestImage((l) => (quiet ? undefined : process.stderr.write(`${l}\n`)));
  const [{ accel, why }, tscKhz] = await Promise.all([chooseAccel(image), hostTscKhz()]);
  // nova's _add_dhcp_mangle_rule (2013.1-2013.2 linux_net.py) keys on this file too
  const vhostNet = existsSync('/dev/vhost-net');
  const text = `kernel ${image.kernelRelease} (image ${image.id}), ${accel.toUpperCase()} (${why}${accel === 'tcg' ? `; ${tscKhz ? `TSC ${tscKhz} kHz told to guests` : 'no constant TSC: guests calibrate their own'}` : ''}), ${vhostNet ? "vhost-net (and nova's DHCP checksum-fill rule on multi_host dnsmasq nodes, 2013.1 on)" : "no /dev/vhost-net (nor nova's DHCP checksum-fill rule: nova added it only where the device was)"}`;
  if (!quiet) process.stderr.write(`vm guests: ${text}\n`);
  return { options: { guestImage: { kernel: image.kernel, initrd: image.initrd }, accel, vhostNet, ...(tscKhz ? { tscKhz } : {}) }, notice: { image: image.id, kernel: image.kernelRelease, accel, why, vhostNet, text } };
}

export interface RunOutcome {
  result: RunResult;
  resultsDir: string;
  /** set when a signal stopped the run (the labs are torn down all the same) */
  interrupted?: InterruptedError;
  /** `up`: the labs that stay; keepLabs marks them kept once the user was told */
  toKeep: RunState[];
}

/** Marks the labs of an `up` as kept: from now on they outlive this process. */
export async function keepLabs(states: RunState[]): Promise<void> {
  for (const s of states) {
    s.kept = true;
    await writeState(s);
  }
}


export function newRunId(): string {
  return randomBytes(3).toString('hex');
}

/**
 * The run ids of a run's variants: random, or FLATLAB_RUN_ID (6 hex digits) and the ids
 * after it, so that a script or a test knows its labs' prefixes before they exist. An id
 * whose namespaces or state already exist is refused by the caller.
 */
export function runIdsFor(count: number, fixed?: string): string[] {
  if (fixed === undefined || fixed === '') return Array.from({ length: count }, () => newRunId());
  if (!/^[0-9a-f]{6}$/.test(fixed)) throw new UserError(`FLATLAB_RUN_ID: "${fixed}" is not 6 lowercase hex digits`);
  return Array.from({ length: count }, (_, i) => ((parseInt(fixed, 16) + i) % 0x1000000).toString(16).padStart(6, '0'));
}

/** A variant planned for a run on this machine: its runtime root, the package's assets. */
export function planRun(variant: ScenarioVariant, runId: string, o: Omit<VariantOptions, 'runId' | 'runtimeRoot' | 'assets'> = {}): Plan {
  return planVariant(variant, { runId, runtimeRoot: runtimeRoot(), assets: LAB_ASSETS, ...o });
}

/** The variants a run covers: all, or the one asked for. */
export function selectVariants(loaded: LoadedScenario, name?: string): ScenarioVariant[] {
  if (name === undefined) return loaded.variants;
  const v = loaded.variants.find((x) => x.name === name);
  if (!v) throw new UserError(`${loaded.file}: no variant "${name}" (variants: ${loaded.variants.map((x) => x.name).join(', ')})`);
  return [v];
}

/** Observes a running lab and checks it against the plan's expectations. */
export async function checkLab(
  lab: Pick<RunningLab, 'plan' | 'backend' | 'clients'>,
  progress: Progress,
  reachOpts: ReachOptions = DEFAULT_REACH,
  beforeProbes?: () => Promise<void>,
): Promise<{ observations: Observations; reach: ReachResult[]; egress: EgressResult[]; verdicts: Verdict[]; unexpectedDrops: DropCount[] }> {
  const observations = await progress.phase('observe', 'reading guests and lease logs', () => observe(lab.backend, lab.plan, lab.clients));
  // what the run does to its guests once they hold their addresses (a hand-set foreign address)
  if (beforeProbes) await beforeProbes();
  const label = `reachability, ${lab.plan.expected.reach.length} probes${lab.plan.external ? `, ${lab.plan.expected.egress.length} ways out` : ''}`;
  const addressless = new Set(Object.values(observations.vms).filter((v) => v.addresses.length === 0).map((v) => v.vm));
  const [{ results: reach, unexpectedDrops, released }, egress] = await progress.phase('reach', label, () =>
    Promise.all([runReachChecks(lab.backend, lab.plan, reachOpts, { addressless }), runEgressChecks(lab.backend, lab.plan)]),
  );
  // what each guest's ARP table learnt from the probes: "ARP yes, ping no" or "no ARP"
  const states = await Promise.all(lab.plan.vms.map((v) => lab.backend.readVmState(v, lab.clients[v.name])));
  // (a large lab's guests released their entries after their probes: what they held then counts too)
  const learnt = (vm: string): Record<string, string> => Object.fromEntries((released?.[vm] ?? []).filter(resolvedEntry).map((e) => [e.ip, e.mac!]));
  observations.arpAfterProbes = Object.fromEntries(lab.plan.vms.map((v, i) => [v.name, { ...learnt(v.name), ...states[i]!.arp }]));
  // DHCP over time, last: it waits for the guests' own renewal timers (T1, half the lease)
  const renewals = await awaitRenewals(lab.backend, lab.plan, (label, work) => progress.phase('renewals', label, work));
  const verdicts = [
    ...leaseVerdicts(lab.plan, observations),
    ...gatewayVerdicts(lab.plan, observations),
    ...reachVerdicts(reach),
    ...egressVerdicts(egress),
    ...renewals,
  ];
  return { observations, reach, egress, verdicts, unexpectedDrops };
}

/** Each node's firewall as the kernel holds it, saved beside the node's other files. */
async function saveFirewalls(backend: Backend, plan: Plan, dir: string): Promise<void> {
  await Promise.all(
    plan.nodes.map(async (n) => {
      const r = await backend.exec(n.netns, ['iptables-save', '-c']);
      await mkdir(join(dir, 'nodes', n.name), { recursive: true });
      await writeFile(join(dir, 'nodes', n.name, 'iptables-save.txt'), r.exitCode === 0 ? r.stdout + '\n' : `iptables-save failed: ${r.stderr}\n`);
    }),
  );
}

export { summarise } from '../result.js';
import { writeResult } from '../report/write.js';
import { runResult, summarise } from '../result.js';
import { DEFAULT_VARIANT } from '../scenario/schema.js';

/** A variant's result before its run: nothing observed, nothing passed. */
function emptyResult(variant: ScenarioVariant, plan: Plan, progress: Progress): VariantResult {
  return {
    variant: variant.name,
    ...(variant.description ? { description: variant.description } : {}),
    prefix: plan.prefix,
    ok: false,
    summary: { passed: 0, failed: 0, skipped: 0 },
    plan,
    observations: null,
    reach: [],
    egress: [],
    verdicts: [],
    diagnoses: [],
    symptoms: [],
    timings: progress.timings,
    cpu: progress.cpu,
  };
}

interface VariantRun {
  /** `up`: the lab was checked and stays, waiting to be marked kept */
  keptReady?: boolean;
  variant: ScenarioVariant;
  plan: Plan;
  progress: Progress;
  result: VariantResult;
  state: RunState;
  dir: string;
}

async function runVariant(r: VariantRun, opts: RunOptions, signal: AbortSignal): Promise<void> {
  // one backend object per lab: a backend may keep per-lab state (where targets live);
  // made from what the preflighted one learnt (which engines are remote, their images)
  const backend = createBackend(opts.backend, r.state.backendOptions ?? opts.backendOptions);
  const { plan, state, progress, result } = r;
  const t0 = performance.now();
  let keep = false;
  try {
    const lab = await bringUp(plan, backend, state, progress, signal);
    if (lab.boot) result.boot = lab.boot;
    await awaitLeases(lab, progress, signal);
    signal.throwIfAborted();
    Object.assign(result, await checkLab(lab, progress, opts.reach, () => applyAfterBootFaults(lab)));
    result.symptoms = classifySymptoms(plan, result.observations!, result.reach, result.egress);
    signal.throwIfAborted();
    const explain = opts.explain ?? /(^|\/)bugs\//.test(opts.file ?? '');
    const unleased = unleasedGuests(plan, result.observations!, explain);
    const expectedFailures = explain && (result.reach.some((x) => x.observed !== 'reachable' && x.from !== x.to) || result.egress.some((x) => x.observedSource === null) || unleased.length > 0);
    if (expectedFailures || unleased.length > 0 || result.verdicts.some((v) => !v.ok && (v.kind === 'reach' || v.kind === 'egress'))) {
      const diagnoses = await progress.phase('diagnose', explain ? 'tracing the failing flows hop by hop' : 'tracing the failed flows hop by hop', () =>
        diagnoseFailures(backend, plan, result.reach, result.egress, join(r.dir, 'diagnosis'), 6, explain, result.observations ?? undefined),
      );
      result.diagnoses = diagnoses;
    }
    signal.throwIfAborted();
    keep = opts.keep === true;
  } catch (err) {
    // A terminal's Ctrl-C reaches our `ip` children too; one of them may fail before
    // our own handler has run. Let a signal that is on its way arrive first.
    if (!signal.aborted) await new Promise((res) => setTimeout(res, 50));
    result.error = signal.aborted && signal.reason instanceof InterruptedError ? signal.reason.message : err instanceof Error ? err.message : String(err);
    if (!signal.aborted && process.env.FLATLAB_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  } finally {
    // Results that cannot be collected are a note on the run, never a reason to leave the lab behind.
    const collect = async (): Promise<void> => {
      try {
        await collectArtifacts(plan.runtimeDir, r.dir, plan.vms.length);
        await saveFirewalls(backend, plan, r.dir);
      } catch (err) {
        result.error = [result.error, `collecting results failed: ${err instanceof Error ? err.message : String(err)}`].filter(Boolean).join('; ');
      }
    };
    try {
      if (keep) {
        // marked kept only once its id has been printed (keepLabs): an `up` killed before
        // that is a dead run its reaper removes, not a kept lab nobody knows of
        await collect();
        r.keptReady = true;
      } else {
        await progress.phase('teardown', 'teardown', () => tearDown(backend, plan.prefix, plan.runtimeDir, state.processes, collect));
      }
    } catch (err) {
      result.error = [result.error, `teardown failed: ${err instanceof Error ? err.message : String(err)} (flatlab clean removes what is left)`].filter(Boolean).join('; ');
    }
    result.timings.total = Math.round(performance.now() - t0);
    result.summary = summarise(result.verdicts);
    result.ok = !result.error && result.summary.failed === 0;
  }
}

export async function runScenario(loaded: LoadedScenario, opts: RunOptions): Promise<RunOutcome> {
  const variants = selectVariants(loaded, opts.variant);
  const backend: Backend = createBackend(opts.backend, opts.backendOptions);
  const engines = opts.backendOptions?.engines?.map((e) => e.name);
  checkPlacement(loaded, engines ?? []);
  await backend.preflight();
  const closed = untraversable();
  if (closed) throw new EnvironmentError(`${closed} does not let other users through (mode o-x): dnsmasq reads its hosts files there as nobody`, `chmod o+x ${closed}, or point FLATLAB_RUNTIME_DIR elsewhere`);
  const startedAt = new Date();
  const t0 = performance.now();
  // created (or refused) before anything is built
  const resultsDir = await prepareResultsDir(resultsDirFor(opts.resultsRoot, loaded.scenario.name, startedAt));
  // says so until result.json replaces it: a run killed outright leaves it behind
  await writeFile(join(resultsDir, INCOMPLETE_MARKER), `flatlab run of ${loaded.file} (process ${process.pid}, ${startedAt.toISOString()}) did not finish: killed before it could write result.json\n`);
  const owner = { pid: process.pid, startTicks: await startTicks(process.pid), user: userInfo().username, checkout: CHECKOUT, cwd: process.cwd() };
  const several = variants.length > 1;
  const ids = runIdsFor(variants.length, opts.runId);
  if (opts.runId) {
    const taken = new Set((await listRuns()).map((r) => r.prefix));
    for (const id of ids) if (taken.has(`fl-${id}`)) throw new UserError(`FLATLAB_RUN_ID: run id ${id} is in use by another lab`);
  }
  const reach = backend.reachOptions?.() ?? opts.backendOptions;
  const machines = variants.some((v) => hasVmGuests(v.scenario, opts.guest)) ? await prepareMachines(opts.quiet) : null;
  const runs: VariantRun[] = variants.map((variant, i) => {
    const plan = planRun(variant, ids[i]!, {
      ...(opts.ignoreExpect ? { ignoreExpect: true } : {}),
      ...(opts.release ? { release: opts.release } : {}),
      ...(engines ? { engines } : {}),
      ...(opts.guest ? { guest: opts.guest } : {}),
      ...(machines ? { machines: machines.options } : {}),
    });
    const progress = createProgress({ quiet: opts.quiet, label: several ? variant.name : undefined, live: !several });
    const dir = several || variant.name !== DEFAULT_VARIANT ? join(resultsDir, variant.name) : resultsDir;
    const state: RunState = {
      resultsDir: resolve(dir),
      prefix: plan.prefix,
      scenario: plan.scenario,
      variant: variant.name,
      file: loaded.file,
      backend: backend.name,
      ...(reach && Object.keys(reach).length ? { backendOptions: reach } : {}),
      owner,
      kept: false,
      createdAt: startedAt.toISOString(),
      processes: [],
      targets: targetsOf(plan),
      plan,
    };
    return { variant, plan, progress, dir, state, result: emptyResult(variant, plan, progress) };
  });

  let interrupted: InterruptedError | undefined;
  const fullsBefore = neighbourTableFulls();
  await withSignals(async (signal) => {
    await Promise.all(runs.map((r) => runVariant(r, { ...opts, file: loaded.file }, signal)));
    if (signal.aborted && signal.reason instanceof InterruptedError) interrupted = signal.reason;
  });
  const result: RunResult = runResult({
    scenario: loaded.scenario.name,
    file: loaded.file,
    backend: backend.name,
    startedAt,
    variants: runs.map((r) => r.result),
    totalMs: performance.now() - t0,
  });
  const notice = neighbourTableNotice(fullsBefore, neighbourTableFulls(), Math.max(...runs.map((r) => r.plan.vms.length)));
  if (notice) result.neighbourTable = notice;
  if (machines) result.vmGuests = machines.notice;
  if (interrupted) result.interrupted = interrupted.signal;
  await writeResult(resultsDir, result);
  await rm(join(resultsDir, INCOMPLETE_MARKER), { force: true });
  return { result, resultsDir, toKeep: runs.filter((r) => r.keptReady).map((r) => r.state), ...(interrupted ? { interrupted } : {}) };
}
