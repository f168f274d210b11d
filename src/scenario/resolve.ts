/** `flatdhcp-multihost`, `bugs/x` or a path: finds the scenario file a user means. */
import { existsSync, statSync } from 'node:fs';
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
  throw new UserError(`${arg}: no such scenario file or name (looked for ${candidates.join(', ')})`);
}
