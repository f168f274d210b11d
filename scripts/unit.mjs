#!/usr/bin/env node
/**
 * `npm run test:unit`: the tests under test/ (planning, the oracle, rendering, parsing,
 * the lifecycle on a fake backend; none needs root or builds a lab), compiled once by
 * tsc into .unit/ and run as JavaScript: tap's TypeScript loader costs 2-3 s per file,
 * tsc (incremental) a few seconds for all of them. Data the tests read beside their
 * sources (scenarios/, examples/, assets/, test/fixtures/ ...) is linked into .unit/.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(ROOT, '.unit');
const bin = (name) => join(ROOT, 'node_modules', '.bin', name);

execFileSync(bin('tsc'), ['-p', join(ROOT, 'tsconfig.unit.json')], { stdio: 'inherit' });
const link = (from, to) => {
  if (!existsSync(to)) symlinkSync(relative(join(to, '..'), from), to);
};
for (const entry of ['scenarios', 'examples', 'assets', 'schema', 'bin', 'native', 'package.json', 'node_modules']) {
  if (existsSync(join(ROOT, entry))) link(join(ROOT, entry), join(OUT, entry));
}
mkdirSync(join(OUT, 'test'), { recursive: true });
for (const entry of readdirSync(join(ROOT, 'test'))) {
  if (!entry.endsWith('.ts')) link(join(ROOT, 'test', entry), join(OUT, 'test', entry));
}
const files = readdirSync(join(OUT, 'test')).filter((f) => f.endsWith('.test.js')).map((f) => join('.unit', 'test', f));
const r = spawnSync(bin('tap'), ['--disable-coverage', '--allow-incomplete-coverage', '--jobs', String(Math.max(2, availableParallelism())), '--plugin=!@tapjs/typescript', ...files, ...process.argv.slice(2)], { cwd: ROOT, stdio: 'inherit' });
process.exit(r.status ?? 1);
