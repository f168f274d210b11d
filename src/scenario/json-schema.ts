/**
 * The scenario format as JSON Schema, generated from the zod schema (never written
 * twice), for editors: `# yaml-language-server: $schema=../schema/scenario.schema.json`.
 * Cross-field rules (a VM's host must exist...) are the loader's; the JSON Schema holds
 * the structure, names, types, enums and defaults.
 */
import { z } from 'zod';
import { FIELD_DOCS } from './field-docs.js';
import { scenarioFileSchema } from './schema.js';

type Node = Record<string, unknown>;

/** Puts FIELD_DOCS' descriptions on the properties that have none of their own. */
function describe(node: Node, path: string): void {
  const props = node.properties as Record<string, Node> | undefined;
  for (const [k, v] of Object.entries(props ?? {})) {
    const at = path ? `${path}.${k}` : k;
    if (v.description === undefined && FIELD_DOCS[at]) v.description = FIELD_DOCS[at];
    visit(v, at);
  }
}

function visit(node: Node, path: string): void {
  describe(node, path);
  for (const k of ['additionalProperties', 'items'] as const) {
    if (node[k] && typeof node[k] === 'object') visit(node[k] as Node, `${path}.*`);
  }
  for (const k of ['anyOf', 'oneOf', 'allOf'] as const) for (const x of (node[k] as Node[] | undefined) ?? []) visit(x, path);
}

export function scenarioJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(scenarioFileSchema, { io: 'input', unrepresentable: 'any' }) as Node;
  describe(schema, '');
  // top-level `x-...` keys are the home of YAML anchors for `<<` merges (the loader drops them)
  schema.patternProperties = { '^x-': { description: 'ignored: a place for YAML anchors that `<<:` merges reuse' } };
  return {
    ...schema,
    // where the published package serves it; the shipped scenarios point at their copy
    $id: 'https://unpkg.com/flatlab/schema/scenario.schema.json',
    title: 'flatlab scenario',
    description: 'A nova-network flat network to build and check with flatlab (see README.md, "Scenario format").',
  };
}
