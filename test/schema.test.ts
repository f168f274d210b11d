/** The JSON Schema for editors: generated, committed, and accepted by a standard validator. */
import t from 'tap';
import { readFile, readdir } from 'node:fs/promises';
import { parse } from 'yaml';
import Ajv2020 from 'ajv/dist/2020.js';
import { scenarioJsonSchema } from '../src/scenario/json-schema.js';

const root = new URL('../', import.meta.url);

t.test('the committed schema is the generated one (npm run schema)', async (t) => {
  const committed = JSON.parse(await readFile(new URL('schema/scenario.schema.json', root), 'utf8'));
  t.same(committed, scenarioJsonSchema());
});

t.test('every shipped scenario validates against it with a standard JSON Schema validator', async (t) => {
  const ajv = new Ajv2020.default({ strict: false, allErrors: true });
  const validate = ajv.compile(scenarioJsonSchema());
  const files = (await readdir(new URL('scenarios/', root), { recursive: true })).filter((f) => f.endsWith('.yaml'));
  t.ok(files.length >= 9);
  for (const f of files) {
    const data = parse(await readFile(new URL(`scenarios/${f}`, root), 'utf8'));
    t.ok(validate(data), f, { errors: validate.errors });
  }
  t.notOk(validate({ name: 'x', nova: { fixed_range: '10.0.0.0/24', multihost: true }, nodes: { a: {} } }), 'an unknown key is refused');
  t.notOk(validate({ name: 'x', nova: { fixed_range: '10.0.0.0/24' }, nodes: { 'bad name': {} } }), 'a bad name is refused');
});

t.test('every field of the format has a description an editor can show', async (t) => {
  const missing: string[] = [];
  const walk = (node: Record<string, any>, path: string): void => {
    for (const [k, v] of Object.entries((node.properties ?? {}) as Record<string, any>)) {
      if (typeof v.description !== 'string' || v.description.length < 8) missing.push(`${path}.${k}`);
      walk(v, `${path}.${k}`);
    }
    for (const k of ['additionalProperties', 'items']) if (node[k] && typeof node[k] === 'object') walk(node[k], `${path}.*`);
    for (const k of ['anyOf', 'oneOf', 'allOf']) for (const x of node[k] ?? []) walk(x, path);
  };
  walk(scenarioJsonSchema(), '');
  t.same(missing, []);
});
