#!/usr/bin/env node
// Compiles native/flatlab-nsd.c to dist/native/flatlab-nsd when the source is newer than
// the binary. The helper is optional: without a C compiler flatlab spawns a process per
// guest and per probe instead (slower, same results), so a missing compiler is a warning.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = `${root}native/flatlab-nsd.c`;
const out = `${root}dist/native/flatlab-nsd`;

if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) process.exit(0);
mkdirSync(`${root}dist/native`, { recursive: true });
try {
  execFileSync(process.env.CC ?? 'cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', out, src], { stdio: 'inherit' });
} catch (e) {
  if (e.code === 'ENOENT') {
    process.stderr.write('build-native: no C compiler (apt-get install gcc libc6-dev): flatlab will start a process per guest and per probe instead of using flatlab-nsd\n');
    process.exit(0);
  }
  process.stderr.write('build-native: compiling native/flatlab-nsd.c failed (see above)\n');
  process.exit(1);
}
