/** `flatlab report`: render a run's reports again from its result.json, or join a suite's shards (--merge) */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import chalk from 'chalk';
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { flakiness } from '../../report/flakiness.js';
import { renderSuiteJunit } from '../../report/junit.js';
import { renderFlakiness, renderSuiteTable } from '../../report/suite-table.js';
import { writeReports } from '../../report/write.js';
import { DEFAULT_RESULTS_ROOT, prepareResultsDir, RESULT_SCHEMA_VERSION, type RunResult } from '../../run/results.js';
import { readSuiteManifest, writeSuiteManifest, type SuiteRun } from '../../run/suite-manifest.js';
import type { SetExit } from './shared.js';

async function readResult(dir: string): Promise<RunResult> {
  let result: RunResult;
  try {
    result = JSON.parse(await readFile(join(dir, 'result.json'), 'utf8')) as RunResult;
  } catch (err) {
    throw new UserError(`${dir}: no readable result.json (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  }
  if (result.schemaVersion !== RESULT_SCHEMA_VERSION) throw new UserError(`${dir}/result.json: schema version ${result.schemaVersion}, this flatlab reads ${RESULT_SCHEMA_VERSION}`);
  return result;
}

/**
 * The shards' runs joined: each scenario run once (a run two shards both hold is an error,
 * a missing shard is named), in the order of their keys, as the unsharded suite lists them.
 */
async function merge(roots: string[], out: string, setExit: SetExit): Promise<void> {
  const manifests = await Promise.all(roots.map(readSuiteManifest));
  const counts = new Set(manifests.map((m) => m.manifest.shard?.split('/')[1] ?? '1'));
  if (counts.size > 1) throw new UserError(`--merge: the shards were cut differently (${manifests.map((m) => `${m.file}: ${m.manifest.shard ?? 'whole'}`).join(', ')})`);
  const count = Number([...counts][0]);
  const have = new Set(manifests.map((m) => Number(m.manifest.shard?.split('/')[0] ?? 1)));
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((i) => !have.has(i));
  const seen = new Map<string, string>();
  const runs: SuiteRun[] = [];
  for (const { file, manifest } of manifests) {
    for (const r of manifest.runs) {
      const id = `${r.key}#${r.repeat}`;
      if (seen.has(id)) throw new UserError(`--merge: ${r.key} (repeat ${r.repeat}) was run by two shards: ${seen.get(id)} and ${file}`);
      seen.set(id, file);
      runs.push(r);
    }
  }
  runs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.repeat - b.repeat));
  const results = await Promise.all(runs.map((r) => readResult(r.resultsDir)));
  const repeat = Math.max(1, ...manifests.map((m) => m.manifest.repeat));
  const root = await prepareResultsDir(out, { unique: false });
  const stamp = `suite-${new Date().toISOString().replace(/:/g, '-')}-merged`;
  const junit = join(root, `${stamp}.junit.xml`);
  await writeFile(junit, renderSuiteJunit(results.map((result, i) => ({ result, ...(repeat > 1 ? { repeat: runs[i]!.repeat } : {}) }))));
  await writeSuiteManifest(join(root, `${stamp}.json`), { shard: null, repeat, runs });
  const several = new Set(results.map((r) => r.backend)).size > 1;
  process.stdout.write('\n' + renderSuiteTable(results.map((result, i) => ({ result, repeat: runs[i]!.repeat })), { several, repeats: repeat > 1 }) + '\n');
  const { flaky, retried } = flakiness(results);
  process.stdout.write(renderFlakiness(flaky, retried, several));
  const failed = results.filter((r) => !r.ok).length;
  process.stdout.write(
    `\n  ${failed === 0 ? chalk.green(`all ${results.length} scenario runs as expected`) : chalk.red.bold(`${failed} of ${results.length} scenario runs failed`)} ${chalk.dim(`(${manifests.length} of ${count} shard${count > 1 ? 's' : ''} merged)`)}\n` +
      (missing.length > 0 ? chalk.red(`  missing: shard ${missing.map((i) => `${i}/${count}`).join(', ')}\n`) : '') +
      chalk.dim(`  junit: ${junit}\n\n`),
  );
  setExit(failed > 0 || flaky.length > 0 || missing.length > 0 ? 1 : 0);
}

export function registerReport(program: Command, setExit: SetExit): void {
  program
    .command('report')
    .argument('<dirs...>', "a run's results folder (results/<scenario>/<timestamp>); with --merge, the results roots of a suite's shards")
    .option('--merge', "join the shards of a suite (flatlab suite --shard I/N) into one table and one JUnit file")
    .option('--results <dir>', 'with --merge: where the merged JUnit file goes', DEFAULT_RESULTS_ROOT)
    .option('--out <dir>', 'where report.html and junit.xml go (default: the run\'s folder, beside result.json)')
    .description("render a run's report.html and junit.xml again from result.json, or join a suite's shards (--merge)")
    .action(async (dirs: string[], flags: { merge?: boolean; results: string; out?: string }) => {
      if (flags.merge) return merge(dirs, flags.results, setExit);
      if (dirs.length !== 1) throw new UserError('report: one results folder (or --merge with the shards\' results roots)');
      const dir = dirs[0]!;
      const result = await readResult(dir);
      const out = flags.out ?? dir;
      try {
        if (flags.out) await mkdir(out, { recursive: true });
        await writeReports(out, result);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS' && code !== 'ENOENT') throw err;
        const what = code === 'EROFS' ? 'a read-only file system' : code === 'ENOENT' ? 'no such folder' : 'permission denied';
        throw new UserError(`report: cannot write into ${out} (${what}): ${flags.out ? 'choose another --out' : 'the run\'s folder belongs to its writer; say --out DIR to write the reports elsewhere'}`);
      }
      process.stdout.write(`${join(out, 'report.html')}\n${join(out, 'junit.xml')}\n`);
    });
}
