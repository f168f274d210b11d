/** The results folder of a run: result.json plus the lab's own files (dnsmasq logs, lease logs). */
import { constants, statfsSync } from 'node:fs';
import { access, cp, lstat, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { execa } from 'execa';

// the result's types live in a module of their own (src/result.ts), which the renderers
// read without depending on how a run writes its folder
export { RESULT_SCHEMA_VERSION, type RunResult, type Summary, type VariantResult } from '../result.js';

/** `./results` of the folder flatlab is run from (a checkout's own when run there). */
export const DEFAULT_RESULTS_ROOT = resolve('results');

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
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new UserError(`--results: cannot use ${existing} (${code})`, { cause: err });
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
    throw new UserError(`--results: cannot write in ${existing} (${(err as NodeJS.ErrnoException).code}${(err as NodeJS.ErrnoException).code === 'EROFS' ? ': a read-only file system' : ''})`, { cause: err });
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
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new UserError(`--results: cannot create ${path}-${n} (${(err as NodeJS.ErrnoException).code})`, { cause: err });
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
      // a kept lab's vm guests' agent sockets are live (a unix socket is no file to copy)
      cp(join(runtimeDir, sub), join(dir, sub), { recursive: true, force: true, filter: async (src) => !(await lstat(src)).isSocket() }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      }),
    ),
  );
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
