/** `flatlab report`: render report.html and junit.xml again from result.json */
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { RESULT_SCHEMA_VERSION, type RunResult } from '../../run/results.js';
import { join } from 'node:path';
import { writeReports } from '../../report/write.js';
import { readFile } from 'node:fs/promises';

export function registerReport(program: Command): void {
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
      await writeReports(dir, result);
      process.stdout.write(`${join(dir, 'report.html')}\n${join(dir, 'junit.xml')}\n`);
    });
}
