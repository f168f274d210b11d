/** A run's result folder gets result.json and the reports rendered from it (also `flatlab report` again). */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunResult } from '../result.js';
import { renderHtml } from './html.js';
import { renderJunit } from './junit.js';

/** junit.xml and report.html beside result.json. */
export async function writeReports(dir: string, result: RunResult): Promise<void> {
  await Promise.all([writeFile(join(dir, 'junit.xml'), renderJunit(result)), writeFile(join(dir, 'report.html'), renderHtml(result))]);
}

/** result.json, then the reports; returns result.json's path. */
export async function writeResult(dir: string, result: RunResult): Promise<string> {
  const path = join(dir, 'result.json');
  await writeFile(path, JSON.stringify(result, null, 2) + '\n');
  await writeReports(dir, result);
  return path;
}
