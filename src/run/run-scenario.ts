/**
 * One scenario, end to end: plan, build, lease, check, collect results, tear down.
 */
import { randomBytes } from 'node:crypto';
import { createBackend } from '../backend/registry.js';
import type { Backend } from '../backend/backend.js';
import { gatewayVerdicts, leaseVerdicts } from '../checks/leases.js';
import { observe } from '../checks/observe.js';
import { DEFAULT_REACH, reachVerdicts, runReachChecks, type ReachOptions } from '../checks/reach.js';
import type { Observations, ReachResult, Verdict } from '../checks/types.js';
import { InterruptedError } from '../errors.js';
import { plan as makePlan } from '../plan/plan.js';
import type { Plan } from '../plan/types.js';
import type { LoadedScenario } from '../scenario/load.js';
import { ASSETS, awaitLeases, bringUp, tearDown, type RunningLab } from './lab.js';
import type { Progress } from './progress.js';
import { collectArtifacts, prepareResultsDir, resultsDirFor, RESULT_SCHEMA_VERSION, writeResult, type RunResult } from './results.js';
import { runtimeRoot, targetsOf, writeState, type RunState } from './state.js';
import { startTicks } from '../backend/netns/procfs.js';
import { withSignals } from './signals.js';

export interface RunOptions {
  backend: string;
  resultsRoot: string;
  progress: Progress;
  /** `flatlab up`: keep the lab after the checks */
  keep?: boolean;
  reach?: ReachOptions;
}

export interface RunOutcome {
  result: RunResult;
  resultsDir: string;
  /** set when a signal stopped the run (the lab is torn down all the same) */
  interrupted?: InterruptedError;
}

export function newRunId(): string {
  return randomBytes(3).toString('hex');
}

export function planScenario(loaded: LoadedScenario, runId = newRunId()): Plan {
  return makePlan(loaded.scenario, { runId, runtimeRoot: runtimeRoot(), dhcpScript: ASSETS.dhcpbridge });
}

/** Observes a running lab and checks it against the plan's expectations. */
export async function checkLab(
  lab: Pick<RunningLab, 'plan' | 'backend' | 'clients'>,
  progress: Progress,
  reachOpts: ReachOptions = DEFAULT_REACH,
): Promise<{ observations: Observations; reach: ReachResult[]; verdicts: Verdict[] }> {
  const observations = await progress.phase('observe', 'reading guests and lease logs', () => observe(lab.backend, lab.plan, lab.clients));
  const reach = await progress.phase('reach', `reachability, ${lab.plan.expected.reach.length} probes`, () =>
    runReachChecks(lab.backend, lab.plan, reachOpts),
  );
  const verdicts = [...leaseVerdicts(lab.plan, observations), ...gatewayVerdicts(lab.plan, observations), ...reachVerdicts(reach)];
  return { observations, reach, verdicts };
}

export async function runScenario(loaded: LoadedScenario, opts: RunOptions): Promise<RunOutcome> {
  const backend: Backend = createBackend(opts.backend);
  await backend.preflight();
  const startedAt = new Date();
  const t0 = performance.now();
  const plan = await opts.progress.phase('plan', 'plan', async () => planScenario(loaded));
  const resultsDir = resultsDirFor(opts.resultsRoot, plan.scenario, startedAt);
  await prepareResultsDir(resultsDir);
  const state: RunState = {
    prefix: plan.prefix,
    scenario: plan.scenario,
    file: loaded.file,
    backend: backend.name,
    owner: { pid: process.pid, startTicks: await startTicks(process.pid) },
    kept: false,
    createdAt: startedAt.toISOString(),
    processes: [],
    targets: targetsOf(plan),
    plan,
  };
  const result: RunResult = {
    schemaVersion: RESULT_SCHEMA_VERSION,
    scenario: plan.scenario,
    file: loaded.file,
    backend: backend.name,
    prefix: plan.prefix,
    startedAt: startedAt.toISOString(),
    ok: false,
    summary: { passed: 0, failed: 0 },
    plan,
    observations: null,
    reach: [],
    verdicts: [],
    timings: opts.progress.timings,
  };

  let keep = false;
  let interrupted: InterruptedError | undefined;
  try {
    await withSignals(async (signal) => {
      try {
        const lab = await bringUp(plan, backend, state, opts.progress, signal);
        await awaitLeases(lab, opts.progress, signal);
        signal.throwIfAborted();
        const checked = await checkLab(lab, opts.progress, opts.reach);
        Object.assign(result, checked);
        signal.throwIfAborted();
        if (opts.keep) {
          state.kept = true;
          keep = true;
        }
      } catch (err) {
        if (signal.aborted && signal.reason instanceof InterruptedError) {
          interrupted = signal.reason;
          result.error = interrupted.message;
        } else {
          result.error = err instanceof Error ? err.message : String(err);
          if (process.env.FLATLAB_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
        }
      } finally {
        if (keep) {
          await writeState(state);
          await collectArtifacts(plan.runtimeDir, resultsDir);
        } else {
          await opts.progress.phase('teardown', 'teardown', () =>
            tearDown(backend, plan.prefix, plan.runtimeDir, state.processes, () => collectArtifacts(plan.runtimeDir, resultsDir)),
          );
        }
      }
    });
  } finally {
    result.timings.total = Math.round(performance.now() - t0);
    result.summary = {
      passed: result.verdicts.filter((v) => v.ok).length,
      failed: result.verdicts.filter((v) => !v.ok).length,
    };
    result.ok = !result.error && result.summary.failed === 0;
    await writeResult(resultsDir, result);
  }
  return { result, resultsDir, ...(interrupted ? { interrupted } : {}) };
}
