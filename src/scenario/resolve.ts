/** `flatdhcp-multihost`, `bugs/x` or a path: finds the scenario file a user means. */
import { existsSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';

export const PACKAGE_SCENARIOS = fileURLToPath(new URL('../../scenarios', import.meta.url));

export function resolveScenario(arg: string): string {
  const candidates = [arg];
  if (!/\.ya?ml$/.test(arg)) {
    candidates.push(join('scenarios', `${arg}.yaml`), join(PACKAGE_SCENARIOS, `${arg}.yaml`));
  }
  for (const c of candidates) {
    if (existsSync(c) && statSync(c).isFile()) return c.startsWith('/') ? c : resolve(c);
  }
  // there, but not a file: say what it is rather than "no such file"
  if (existsSync(arg)) {
    const st = statSync(arg);
    throw new UserError(`${arg}: ${st.isDirectory() ? 'is a folder, not a scenario file (flatlab suite --dir runs the scenarios in a folder)' : 'is not a regular file (a scenario is a YAML file)'}`);
  }
  throw new UserError(`${arg}: no such scenario file or name (looked for ${candidates.join(', ')})`);
}

/** Every scenario file under scenarios/ (recursively), or those matching the patterns (`bugs/*`, `flat-*`). */
export async function findScenarios(patterns: string[] = [], dir?: string): Promise<string[]> {
  const root = dir ? resolve(dir) : existsSync('scenarios') ? resolve('scenarios') : PACKAGE_SCENARIOS;
  const all = (await readdir(root, { recursive: true }))
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => f.replace(/\\/g, '/'))
    .sort();
  if (patterns.length === 0) return all.map((f) => join(root, f));
  const toRe = (p: string): RegExp => new RegExp(`^${p.replace(/\.ya?ml$/, '').replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}\\.ya?ml$`);
  const res = patterns.map(toRe);
  return all.filter((f) => res.some((r) => r.test(f))).map((f) => join(root, f));
}
