/** `flatlab schema`: print the scenario format as JSON Schema (generated from the validator) */
import type { Command } from 'commander';
import { scenarioJsonSchema } from '../../scenario/json-schema.js';

export function registerSchema(program: Command): void {
  program
    .command('schema')
    .description('print the scenario format as JSON Schema (generated from the validator)')
    .action(() => {
      process.stdout.write(JSON.stringify(scenarioJsonSchema(), null, 2) + '\n');
    });
}
