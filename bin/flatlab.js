#!/usr/bin/env node
// Entry point: runs the compiled CLI (npm ci / npm run build compiles src/ to dist/).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('flatlab: not built yet: run `npm ci` (or `npm run build`) first\n');
  process.exit(3);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
