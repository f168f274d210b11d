/** The results folder of a run: result.json plus the lab's own files (dnsmasq logs, lease logs). */
import { constants, statfsSync } from 'node:fs';
import { access, cp, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { execa } from 'execa';
import { renderJunit } from '../report/junit.js';
import { renderHtml } from '../report/html.js';
import type { NeighbourTableNotice } from '../checks/neigh-budget.js';
import type { Plan } from '../plan/types.js';
import type { FlowDiagnosis } from '../diagnose/run-diagnosis.js';
import type { Symptom } from '../checks/symptoms.js';
import type { DropCount } from '../checks/counters.js';
import type { EgressResult, Observations, ReachResult, Verdict } from '../checks/types.js';

/** 2: one entry per variant under `variants`. */
export const RESULT_SCHEMA_VERSION = 2;

/** `./results` of the folder flatlab is run from (a checkout's own when run there). */
export const DEFAULT_RESULTS_ROOT = resolve('results');

/** Checks counted: `flaky` passed too, after a try that saw something else. */
export interface Summary {
  passed: number;
  failed: number;
  skipped: number;
  flaky?: number;
}

/** One variant's lab: its plan, what was observed, every verdict. */
export interface VariantResult {
  variant: string;
  description?: string;
  prefix: string;
  /** every check as expected */
  ok: boolean;
  /** set when the lab stopped before its checks (build failure, interruption) */
  error?: string;
  summary: Summary;
  plan: Plan;
  observations: Observations | null;
  /** the reachability matrix: every probe, expected and observed */
  reach: ReachResult[];
  /** the way out: what the external host saw of each guest */
  egress: EgressResult[];
  verdicts: Verdict[];
  /** the run's symptom, as an operator would describe it */
  symptoms: Symptom[];
  /** hop-by-hop traces of failed flows (one per kind of failure), with their evidence */
  diagnoses: FlowDiagnosis[];
  /** dropping rules whose counters moved during the matrix where no drop was expected */
  unexpectedDrops?: DropCount[];
  /** milliseconds per phase, and `total` */
  timings: Record<string, number>;
}

/** result.json */
export interface RunResult {
  schemaVersion: number;
  scenario: string;
  file: string;
  backend: string;
  startedAt: string;
  ok: boolean;
  summary: Summary;
  variants: VariantResult[];
  /** `total`: the whole run, variants in parallel */
  timings: Record<string, number>;
  /** set when the machine's shared neighbour table refused entries during the run */
  neighbourTable?: NeighbourTableNotice;
  /** the signal that stopped the run (its labs were torn down; checks may be missing) */
  interrupted?: string;
}

/** A run's results folder holds this file until result.json is written. */
export const INCOMPLETE_MARKER = 'INCOMPLETE';

/** `results/<scenario>/<timestamp>/`, the timestamp sortable and safe in a path. */
export function resultsDirFor(root: string, scenario: string, startedAt: Date): string {
  return join(root, scenario, startedAt.toISOString().replace(/:/g, '-'));
}

/** File systems where no results folder can live: procfs, sysfs, cgroupfs (v1, v2). */
const PSEUDO_FS = new Map([
  [0x9fa0, '/proc'],
  [0x62656572, 'sysfs'],
  [0x27e0eb, 'cgroupfs'],
  [0x63677270, 'cgroupfs'],
]);

/**
 * Creates a run's results folder, and says why not as the user's mistake (exit 2) before
 * anything is built: the nearest existing folder must be a writable folder on a real
 * file system. Parents are made one by one (Node's recursive mkdir retries forever under
 * /proc). Two runs started in the same millisecond get `<timestamp>-2`, `-3`...
 */
export async function prepareResultsDir(dir: string, opts: { unique?: boolean } = { unique: true }): Promise<string> {
  const missing: string[] = [];
  let existing = resolve(dir);
  for (;;) {
    try {
      const st = await stat(existing);
      if (!st.isDirectory()) throw new UserError(`--results: ${existing} is not a folder (results go to ${dir})`);
      break;
    } catch (err) {
      if (err instanceof UserError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new UserError(`--results: cannot use ${existing} (${code})`);
      if (dirname(existing) === existing) throw new UserError(`--results: no folder of ${dir} exists`);
      missing.unshift(basename(existing));
      existing = dirname(existing);
    }
  }
  const fsName = PSEUDO_FS.get(statfsSync(existing).type);
  if (fsName) throw new UserError(`--results: ${existing} is on ${fsName}, where no results can be written`);
  try {
    await access(existing, constants.W_OK);
  } catch (err) {
    throw new UserError(`--results: cannot write in ${existing} (${(err as NodeJS.ErrnoException).code}${(err as NodeJS.ErrnoException).code === 'EROFS' ? ': a read-only file system' : ''})`);
  }
  let path = existing;
  for (const [i, part] of missing.entries()) {
    path = join(path, part);
    const leaf = i === missing.length - 1;
    try {
      await mkdir(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && !leaf) continue;
      if (code === 'EEXIST' && !opts.unique) return path;
      if (code === 'EEXIST') break;
      throw new UserError(`--results: cannot create ${path} (${code})`);
    }
    if (leaf) return path;
  }
  // the leaf existed already: a folder to write into (unique: false), or another run of
  // the same scenario in the same millisecond
  if (!opts.unique) return path;
  for (let n = 2; ; n++) {
    try {
      await mkdir(`${path}-${n}`);
      return `${path}-${n}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new UserError(`--results: cannot create ${path}-${n} (${(err as NodeJS.ErrnoException).code})`);
    }
  }
}

/** Above this many VMs, the guests' files are kept as one archive, vms.tar. */
export const ARCHIVE_VMS_ABOVE = 48;

/**
 * Copies the run's runtime files (nodes/<node>/..., vms/<vm>/...) beside result.json.
 * A large lab's vms/ becomes vms.tar (one `tar`): creating thousands of small files on a
 * disk file system costs seconds, and result.json already holds what each guest said.
 */
export async function collectArtifacts(runtimeDir: string, dir: string, vmCount = 0): Promise<void> {
  await mkdir(dir, { recursive: true });
  const archive = vmCount > ARCHIVE_VMS_ABOVE;
  if (archive) {
    const r = await execa('tar', ['-C', runtimeDir, '-cf', join(dir, 'vms.tar'), 'vms'], { reject: false });
    if (r.exitCode !== 0) throw new Error(`tar of the guests' files: ${r.stderr.trim()}`);
  }
  await Promise.all(
    (archive ? ['nodes', 'hosts'] : ['nodes', 'vms', 'hosts']).map((sub) =>
      cp(join(runtimeDir, sub), join(dir, sub), { recursive: true, force: true }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      }),
    ),
  );
}

export async function writeResult(dir: string, result: RunResult): Promise<string> {
  const path = join(dir, 'result.json');
  await writeFile(path, JSON.stringify(result, null, 2) + '\n');
  await writeFile(join(dir, 'junit.xml'), renderJunit(result));
  await writeFile(join(dir, 'report.html'), renderHtml(result));
  return path;
}

/**
 * Retention: keeps the newest `keep` run folders of each scenario under `root` (their
 * names are sortable timestamps) and removes the others. Only folders that look like a
 * run's (a timestamp name) are touched.
 */
export async function pruneResults(root: string, keep: number): Promise<string[]> {
  const removed: string[] = [];
  const stamp = /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z(-\d+)?$/;
  const scenarios = await readdir(root, { withFileTypes: true }).catch(() => []);
  for (const sc of scenarios.filter((d) => d.isDirectory())) {
    const dir = join(root, sc.name);
    const runs = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory() && stamp.test(d.name)).map((d) => d.name).sort();
    for (const old of runs.slice(0, Math.max(0, runs.length - keep))) {
      await rm(join(dir, old), { recursive: true, force: true });
      removed.push(join(dir, old));
    }
  }
  return removed;
}
