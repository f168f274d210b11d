#!/usr/bin/env node
// Entry point: runs the compiled CLI in dist/. In a source checkout, recompiles first
// when a file under src/ is newer than the build, so an edit is never silently ignored.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const entry = `${root}dist/cli/main.js`;
const src = `${root}src`;

function newest(dir) {
  let max = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = `${dir}/${e.name}`;
    max = Math.max(max, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return max;
}

const tsc = `${root}node_modules/typescript/bin/tsc`;
if (existsSync(src) && existsSync(tsc) && (!existsSync(entry) || newest(src) > statSync(entry).mtimeMs)) {
  process.stderr.write('flatlab: src/ changed since the last build; compiling…\n');
  try {
    execFileSync(process.execPath, [tsc, '-p', `${root}tsconfig.json`], { stdio: 'inherit' });
  } catch {
    process.stderr.write('flatlab: the build failed (see above)\n');
    process.exit(3);
  }
}
// the namespace helper (native/flatlab-nsd.c): rebuilt the same way when its source changed
const nsdSrc = `${root}native/flatlab-nsd.c`;
const nsdBin = `${root}dist/native/flatlab-nsd`;
if (existsSync(nsdSrc) && (!existsSync(nsdBin) || statSync(nsdSrc).mtimeMs > statSync(nsdBin).mtimeMs)) {
  try {
    execFileSync(process.execPath, [`${root}scripts/build-native.mjs`], { stdio: 'inherit' });
  } catch {
    process.exit(3);
  }
}
if (!existsSync(entry)) {
  process.stderr.write('flatlab: not built: run ./setup.sh (or npm ci) first\n');
  process.exit(3);
}
const { main } = await import(entry);
const code = await main(process.argv.slice(2));
// Exit once the output is written, without waiting for idle keep-alive sockets (the
// Docker engine's) to time out.
process.exitCode = code;
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
