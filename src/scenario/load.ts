/**
 * Loads a scenario file: YAML (the `yaml` package's document API, which keeps source
 * ranges) -> zod schema -> semantic rules. Every problem is reported as one line
 * `file:line:col field.path: message`, and all problems are reported at once.
 */
import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import type { core } from 'zod';
import { UserError } from '../errors.js';
import { scenarioSchema, type Scenario } from './schema.js';
import { checkSemantics, type FieldPath, type Problem } from './semantics.js';

export interface LoadedScenario {
  scenario: Scenario;
  /** the path it was read from, as given */
  file: string;
  /** the raw text, kept for results */
  source: string;
}

export async function loadScenarioFile(file: string): Promise<LoadedScenario> {
  let source: string;
  try {
    source = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`${file}: cannot read scenario (${code === 'ENOENT' ? 'no such file' : code ?? String(err)})`);
  }
  return { scenario: parseScenario(source, file), file, source };
}

/** Parses and validates scenario text; throws UserError listing every problem. */
export function parseScenario(source: string, file = '<scenario>'): Scenario {
  const shown = displayPath(file);
  const lineCounter = new LineCounter();
  const doc = parseDocument(source, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new UserError(
      doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return `${shown}:${pos.line}:${pos.col} ${e.message.split('\n')[0]}`;
      }),
    );
  }
  const data: unknown = doc.toJS();
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new UserError(`${shown}:1:1 a scenario must be a mapping (name:, nova:, nodes:, vms:)`);
  }
  const where = (path: FieldPath, atKey = false): string => {
    const { line, col } = locate(doc, lineCounter, path, atKey);
    return `${shown}:${line}:${col}`;
  };
  const parsed = scenarioSchema.safeParse(data);
  if (!parsed.success) {
    throw new UserError(parsed.error.issues.map((i) => formatIssue(i, where)));
  }
  const problems = checkSemantics(parsed.data);
  if (problems.length > 0) {
    throw new UserError(problems.map((p) => formatProblem(p, where)));
  }
  return parsed.data;
}

function formatProblem(p: Problem, where: (path: FieldPath, atKey?: boolean) => string): string {
  return `${where(p.path, p.atKey)} ${fieldName(p.path)}: ${p.message}`;
}

function formatIssue(issue: core.$ZodIssue, where: (path: FieldPath, atKey?: boolean) => string): string {
  const path = issue.path.filter((k): k is string | number => typeof k !== 'symbol');
  if (issue.code === 'unrecognized_keys') {
    // Blame the first unknown key itself, and say what is allowed.
    const key = issue.keys[0]!;
    const full = [...path, key];
    const more = issue.keys.length > 1 ? ` (and ${issue.keys.slice(1).map((k) => `"${k}"`).join(', ')})` : '';
    return `${where(full, true)} ${fieldName(full)}: unknown key "${key}"${more}`;
  }
  if (issue.code === 'invalid_key') {
    return `${where(path, true)} ${fieldName(path)}: name ${issue.issues[0]?.message ?? 'is invalid'}`;
  }
  let message = issue.message;
  if (issue.code === 'invalid_type' && /received undefined$/.test(message)) message = 'is required';
  else if (issue.code === 'invalid_value') message = `must be one of ${issue.values.map((v) => String(v)).join(', ')}`;
  else if (issue.code === 'invalid_type') message = `must be ${issue.expected === 'record' ? 'a mapping' : `a ${issue.expected}`}`;
  return `${where(path)} ${fieldName(path)}: ${message}`;
}

/** `vms.vm_3.host`, `expect.checks[0].from` */
export function fieldName(path: FieldPath): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out ? `.${seg}` : seg;
  return out || '(top level)';
}

/**
 * Finds the source position of a path: the value's node, or (atKey) the key's node;
 * when the path does not exist (a missing field) the nearest existing ancestor.
 */
function locate(doc: Document, lc: LineCounter, path: FieldPath, atKey: boolean): { line: number; col: number } {
  let node: unknown = doc.contents;
  let found: YamlNode | undefined = doc.contents ?? undefined;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      if (last && atKey && isScalar(pair.key)) {
        found = pair.key;
        break;
      }
      node = pair.value;
      // `compute1:` with no value: point at the key
      found = (pair.value as YamlNode | null) ?? (isScalar(pair.key) ? pair.key : found);
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (!item) break;
      node = item;
      found = item as YamlNode;
    } else {
      break;
    }
  }
  const offset = found?.range?.[0] ?? 0;
  return lc.linePos(offset);
}

function displayPath(file: string): string {
  if (file.startsWith('<')) return file;
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') ? rel : file;
}
