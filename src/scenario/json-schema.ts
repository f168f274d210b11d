/**
 * The scenario format as JSON Schema, generated from the zod schema (never written
 * twice), for editors: `# yaml-language-server: $schema=../schema/scenario.schema.json`.
 * Cross-field rules (a VM's host must exist...) are the loader's; the JSON Schema holds
 * the structure, names, types, enums and defaults.
 */
import { z } from 'zod';
import { scenarioFileSchema } from './schema.js';

export function scenarioJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(scenarioFileSchema, { io: 'input', unrepresentable: 'any' }),
    // where the published package serves it; the shipped scenarios point at their copy
    $id: 'https://unpkg.com/flatlab/schema/scenario.schema.json',
    title: 'flatlab scenario',
    description: 'A nova-network flat network to build and check with flatlab (see README.md, "Scenario format").',
  };
}
