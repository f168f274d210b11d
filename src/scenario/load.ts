/**
 * Loads a scenario file: YAML (the `yaml` package's document API, which keeps source
 * ranges) -> zod schema -> semantic rules. Every problem is reported as one line
 * `file:line:col field.path: message`, and all problems are reported at once.
 */
import { readFile, stat } from 'node:fs/promises';
import { relative } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node as YamlNode } from 'yaml';
import type { core } from 'zod';
import { UserError } from '../errors.js';
import { scenarioFileSchema, scenarioSchema, variantSchema, type Scenario, DEFAULT_VARIANT } from './schema.js';
import { checkSemantics, type FieldPath, type Problem } from './semantics.js';
import { issueProblem } from './validate.js';
import { fieldName } from './problem.js';
export { fieldName } from './problem.js';

export interface ScenarioVariant {
  /** "default" when the file declares no variants */
  name: string;
  description?: string;
  /** the base with the variant's overrides merged in, validated as a whole */
  scenario: Scenario;
}

export interface LoadedScenario {
  /** the file's own scenario, without its variants */
  scenario: Scenario;
  /** what `run` runs: each declared variant, or the base alone */
  variants: ScenarioVariant[];
  /** the path it was read from, as given */
  file: string;
  /** the raw text, kept for results */
  source: string;
  /** mistakes nova accepted, one positioned line each (`file:line:col field: warning: ...`) */
  warnings: string[];
}


/** A scenario is a page of YAML; a file far larger is not one (and its errors would flood). */
export const MAX_SCENARIO_BYTES = 1024 * 1024;

export async function loadScenarioFile(file: string): Promise<LoadedScenario> {
  let bytes: Buffer;
  try {
    const st = await stat(file);
    if (st.isDirectory()) throw new UserError(`${file}: is a folder, not a scenario file`);
    if (st.size > MAX_SCENARIO_BYTES) throw new UserError(`${file}: ${st.size} bytes is not a scenario (at most ${MAX_SCENARIO_BYTES} bytes)`);
    bytes = await readFile(file);
  } catch (err) {
    if (err instanceof UserError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`${file}: cannot read scenario (${code === 'ENOENT' ? 'no such file' : code ?? String(err)})`, { cause: err });
  }
  const text = decodeScenario(bytes, file);
  const loaded = parseScenarioFile(text, file);
  // a scenario file is run: one with no VM in any variant proves nothing ("all 0 checks as expected")
  const empty = loaded.variants.find((v) => Object.keys(v.scenario.vms).length === 0);
  if (empty) {
    const lines = text.split('\n');
    const at = lines.findIndex((l) => /^vms\s*:/.test(l));
    const pos = at >= 0 ? `${at + 1}:1` : '1:1';
    throw new UserError(`${displayPath(file)}:${pos} vms: no VM${empty.name !== DEFAULT_VARIANT ? ` in variant ${empty.name}` : ''}: nothing to check (a lab proves what its guests get)`);
  }
  return { ...loaded, file, source: bytes.toString('utf8') };
}

/** The file as text: UTF-8 without NUL bytes, or one line saying where it is not. */
export function decodeScenario(bytes: Buffer, file: string): string {
  const where = (offset: number): string => {
    const before = bytes.subarray(0, offset).toString('latin1').split('\n');
    return `${before.length}:${before[before.length - 1]!.length + 1}`;
  };
  const nul = bytes.indexOf(0);
  if (nul >= 0) throw new UserError(`${file}:${where(nul)} a NUL byte: this is not a text file`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // find the first offending byte for the position
    let lo = 0;
    let hi = bytes.length;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, mid));
        lo = mid;
      } catch {
        hi = mid;
      }
    }
    throw new UserError(`${file}:${where(lo)} not UTF-8 text`);
  }
}

/** Parses and validates scenario text (base only); throws UserError listing every problem. */
export function parseScenario(source: string, file = '<scenario>'): Scenario {
  return parseScenarioFile(source, file).scenario;
}

type Where = (path: FieldPath, atKey?: boolean) => string;

/** A scenario file read as YAML: the document (for positions) and its data as a plain mapping. */
interface ReadYaml {
  doc: Document;
  where: Where;
  /** the top-level mapping, `x-...` keys left out */
  raw: Record<string, unknown>;
}

/** Reads YAML text into a mapping, refusing what YAML or JavaScript would misread, at its line. */
function readYaml(source: string, shown: string): ReadYaml {
  const lineCounter = new LineCounter();
  // merge: YAML 1.1's `<<: *anchor`, which operators write to share a block between
  // variants (docker compose, Ansible and GitLab CI read it the same way)
  const doc = parseDocument(source, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: true });
  const at = (offset: number): string => {
    const pos = lineCounter.linePos(offset);
    return `${shown}:${pos.line}:${pos.col}`;
  };
  if (doc.errors.length > 0) {
    // the library's words name its own API; a scenario's reader needs the file's
    const say = (e: (typeof doc.errors)[number]): string => (e.code === 'MULTIPLE_DOCS' ? 'a second YAML document starts here: a scenario file holds one (put variants under variants:)' : e.message.split('\n')[0]!);
    throw new UserError(doc.errors.map((e) => `${at(e.pos[0])} ${say(e)}`));
  }
  // keys a JavaScript object would swallow (a node named __proto__ would vanish, not be refused)
  const prototypeKeys: string[] = [];
  visit(doc, {
    Pair(_key, pair) {
      const k = isScalar(pair.key) ? String(pair.key.value) : undefined;
      if (k === '__proto__' || k === 'constructor' || k === 'prototype') prototypeKeys.push(`${at((pair.key as YamlNode).range?.[0] ?? 0)} "${k}" cannot be a name or a key here (a JavaScript object's own property)`);
      return undefined;
    },
  });
  if (prototypeKeys.length) throw new UserError(prototypeKeys);
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // an alias without its anchor, or too many aliases (a "billion laughs" file)
    let offset = 0;
    visit(doc, {
      Alias(_key, node) {
        if (node.resolve(doc) !== undefined) return undefined;
        offset = node.range?.[0] ?? 0;
        return visit.BREAK;
      },
    });
    throw new UserError(`${at(offset)} ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`, { cause: err });
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new UserError(`${shown}:1:1 a scenario must be a mapping (name:, nova:, nodes:, vms:)`);
  }
  // top-level `x-...` keys hold anchors for `<<` and nothing else (compose's convention)
  const raw = Object.fromEntries(Object.entries(data).filter(([k]) => !k.startsWith('x-')));
  return { doc, where: positioner(doc, lineCounter, shown), raw };
}

/** Parses and validates scenario text and each of its variants. */
export function parseScenarioFile(source: string, file = '<scenario>'): Pick<LoadedScenario, 'scenario' | 'variants' | 'warnings'> {
  const read = readYaml(source, displayPath(file));
  const { where, raw } = read;
  // Every problem of the file at once: the base's, then each variant's that the base's do
  // not already say (a variant inherits the base's mistakes, shown at the base's line).
  const errors: string[] = [];
  const warnings: string[] = [];
  const parsed = scenarioFileSchema.safeParse(raw);
  let base: Scenario | undefined;
  let baseWarnings: Problem[] = [];
  if (!parsed.success) {
    errors.push(...parsed.error.issues.map((i) => formatIssue(i, where)));
  } else {
    const { variants: _v, ...b } = parsed.data;
    const all = checkSemantics(b);
    errors.push(...all.filter((p) => !p.warning).map((p) => formatProblem(p, where)));
    baseWarnings = all.filter((p) => p.warning);
    warnings.push(...baseWarnings.map((p) => formatProblem(p, where)));
    if (errors.length === 0) base = b;
  }
  const rawVariants = Array.isArray(raw.variants) ? (raw.variants as unknown[]) : undefined;
  if (!rawVariants) {
    if (errors.length > 0 || !base) throw new UserError(errors);
    return { scenario: base, variants: [{ name: DEFAULT_VARIANT, scenario: base }], warnings };
  }
  const baseWarned = new Set(baseWarnings.map((p) => formatProblem(p, where)));
  const variants = readVariants(read, rawVariants, { errors, warnings, baseWarned });
  if (errors.length > 0 || !base) throw new UserError(errors);
  return { scenario: base, variants, warnings };
}

/**
 * Each variant: the raw base with the variant's raw overrides merged in, validated
 * whole; a problem is shown where the variant set the field, else where the base did.
 * Its errors and warnings are added to the file's (those the base already says, once).
 */
function readVariants(read: ReadYaml, rawVariants: unknown[], said: { errors: string[]; warnings: string[]; baseWarned: Set<string> }): ScenarioVariant[] {
  const { doc, where, raw } = read;
  const { errors, warnings } = said;
  const variants: ScenarioVariant[] = [];
  const seen = new Set<string>();
  const baseErrors = new Set(errors);
  rawVariants.forEach((rv, i) => {
    const v = variantSchema.safeParse(rv);
    if (!v.success) return; // its own shape errors are in the file's (above)
    const tag = ` [variant ${v.data.name}]`;
    const whereIn: Where = (path, atKey = false) => where(variantPath(doc, i, path, atKey), atKey);
    const add = (line: string): void => {
      if (!baseErrors.has(line)) errors.push(line + tag);
    };
    if (seen.has(v.data.name)) {
      errors.push(`${where(['variants', i, 'name'])} variants[${i}].name: "${v.data.name}" is declared twice`);
      return;
    }
    seen.add(v.data.name);
    const { name: _n, description: _d, ...overrides } = rv as Record<string, unknown>;
    const merged = scenarioSchema.safeParse(deepMerge(omit(raw, 'variants'), overrides));
    if (!merged.success) return merged.error.issues.map((issue) => formatIssue(issue, whereIn)).forEach(add);
    const checked = checkSemantics(merged.data);
    const vp = checked.filter((p) => !p.warning);
    if (vp.length > 0) return vp.map((p) => formatProblem(p, whereIn)).forEach(add);
    for (const w of checked.filter((p) => p.warning).map((p) => formatProblem(p, whereIn))) if (!warnings.includes(w)) warnings.push(w + (said.baseWarned.has(w) ? '' : tag));
    variants.push({ name: v.data.name, ...(v.data.description ? { description: v.data.description } : {}), scenario: merged.data });
  });
  return variants;
}

function omit(o: Record<string, unknown>, key: string): Record<string, unknown> {
  const { [key]: _drop, ...rest } = o;
  return rest;
}

/** Mappings merge key by key; anything else (lists included) is replaced; null removes. */
export function deepMerge(base: unknown, over: unknown): unknown {
  const isMapping = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
  if (!isMapping(base) || !isMapping(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === null) delete out[k];
    else out[k] = deepMerge(base[k], v);
  }
  return out;
}

function formatProblem(p: Problem, where: Where): string {
  return `${where(p.path, p.atKey)} ${fieldName(p.path)}: ${p.warning ? 'warning: ' : ''}${p.message}`;
}

function formatIssue(issue: core.$ZodIssue, where: Where): string {
  return formatProblem(issueProblem(issue), where);
}

/**
 * Finds the source offset of a path: the value's node, or (atKey) the key's node; when
 * the path does not exist (a missing field) the nearest existing ancestor, with
 * `complete` false.
 */
function locate(doc: Document, path: FieldPath, atKey: boolean): { offset: number; complete: boolean } {
  let node: unknown = doc.contents;
  let found: YamlNode | undefined = doc.contents ?? undefined;
  let depth = 0;
  for (const seg of path) {
    const last = depth === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      if (last && atKey && isScalar(pair.key)) {
        found = pair.key;
        depth++;
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
    depth++;
  }
  return { offset: found?.range?.[0] ?? 0, complete: depth === path.length };
}

function displayPath(file: string): string {
  if (file.startsWith('<')) return file;
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') ? rel : file;
}

/**
 * Checks a scenario's placement: against the engines a run was given (`--engine`), with
 * the file position of each engine it names that is not one of them (a variant's own
 * placement where it sets one). Without several engines a placement is not used.
 */
export function checkPlacement(loaded: Pick<LoadedScenario, 'file' | 'source' | 'variants'>, engines: string[]): void {
  if (engines.length < 2) return;
  const lineCounter = new LineCounter();
  const doc = parseDocument(loaded.source, { lineCounter });
  const where = positioner(doc, lineCounter, displayPath(loaded.file));
  const errors = new Set<string>();
  loaded.variants.forEach((v, i) => {
    for (const [node, engine] of Object.entries(v.scenario.placement ?? {})) {
      if (engines.includes(engine)) continue;
      const path = variantPath(doc, i, ['placement', node]);
      errors.add(`${where(path)} ${fieldName(path)}: no engine "${engine}" (engines given: ${engines.join(', ')})`);
    }
  });
  if (errors.size > 0) throw new UserError([...errors]);
}

/** `file:line:col` of a field of a parsed scenario (the nearest existing ancestor when it is missing). */
function positioner(doc: Document, lineCounter: LineCounter, shown: string): Where {
  return (path, atKey = false) => {
    const { line, col } = lineCounter.linePos(locate(doc, path, atKey).offset);
    return `${shown}:${line}:${col}`;
  };
}

/** Where variant i's value of a field is written: in the variant when it sets it, else in the base. */
function variantPath(doc: Document, i: number, path: FieldPath, atKey = false): FieldPath {
  return locate(doc, ['variants', i, ...path], atKey).complete ? ['variants', i, ...path] : path;
}
