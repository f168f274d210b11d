/**
 * What a suite (or one shard of it) ran: `suite-<time>[-shard-I-of-N].json` beside its
 * JUnit file in the results root, one entry per scenario run with its results folder.
 * `flatlab report --merge` joins shards from these, never by globbing old results.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { PACKAGE_SCENARIOS } from '../scenario/resolve.js';

export interface SuiteRun {
  /** the scenario's path under the scenarios folder, @ the backend */
  key: string;
  repeat: number;
  resultsDir: string;
}

export interface SuiteManifest {
  /** `I/N`, or null for a whole suite */
  shard: string | null;
  repeat: number;
  runs: SuiteRun[];
}

/** A scenario file's key: its path under the scenarios folder (the same on every machine). */
export function scenarioKey(file: string, dir: string = PACKAGE_SCENARIOS): string {
  return relative(resolve(dir), resolve(file));
}

export async function writeSuiteManifest(path: string, m: SuiteManifest): Promise<void> {
  await writeFile(path, JSON.stringify(m, null, 2) + '\n');
}

/** The newest suite manifest in a results root (or the file itself, when given one). */
export async function readSuiteManifest(where: string): Promise<{ file: string; manifest: SuiteManifest }> {
  let file = where;
  if (!where.endsWith('.json')) {
    const names = (await readdir(where).catch(() => [] as string[])).filter((n) => /^suite-.*\.json$/.test(n)).sort();
    if (names.length === 0) throw new UserError(`${where}: no suite-*.json here (a results root a flatlab suite wrote into)`);
    file = join(where, names[names.length - 1]!);
  }
  try {
    return { file, manifest: JSON.parse(await readFile(file, 'utf8')) as SuiteManifest };
  } catch (err) {
    throw new UserError(`${file}: not a suite manifest (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`, { cause: err });
  }
}
