/**
 * A scenario given as data (an import, a collected node's model) validated as a file's
 * would be, with every problem as a value: the field's path and the message, never a
 * formatted line (the loader adds file positions; the importer, nova.conf lines).
 */
import type { core } from 'zod';
import type { Problem } from './problem.js';
import { scenarioSchema, type Scenario } from './schema.js';
import { checkSemantics } from './semantics.js';

/** A zod issue in the loader's words, blaming the field (or the key) at fault. */
export function issueProblem(issue: core.$ZodIssue): Problem {
  const path = issue.path.filter((k): k is string | number => typeof k !== 'symbol');
  if (issue.code === 'unrecognized_keys') {
    // blame the first unknown key itself, and name the others
    const key = issue.keys[0]!;
    const more = issue.keys.length > 1 ? ` (and ${issue.keys.slice(1).map((k) => `"${k}"`).join(', ')})` : '';
    return { path: [...path, key], atKey: true, message: `unknown key "${key}"${more}` };
  }
  if (issue.code === 'invalid_key') return { path, atKey: true, message: `name ${issue.issues[0]?.message ?? 'is invalid'}` };
  let message = issue.message;
  if (issue.code === 'invalid_type' && /received undefined$/.test(message)) message = 'is required';
  else if (issue.code === 'invalid_value') message = `must be one of ${issue.values.map((v) => String(v)).join(', ')}`;
  else if (issue.code === 'invalid_type') message = `must be ${issue.expected === 'record' ? 'a mapping' : `a ${issue.expected}`}`;
  return { path, message };
}

export type Validated = { scenario: Scenario; warnings: Problem[] } | { scenario: null; errors: Problem[] };

/** Validates scenario data once: its shape, then the rules between its fields. */
export function validateScenario(data: unknown): Validated {
  const parsed = scenarioSchema.safeParse(data);
  if (!parsed.success) return { scenario: null, errors: parsed.error.issues.map(issueProblem) };
  const problems = checkSemantics(parsed.data);
  const errors = problems.filter((p) => !p.warning);
  return errors.length ? { scenario: null, errors } : { scenario: parsed.data, warnings: problems.filter((p) => p.warning) };
}
