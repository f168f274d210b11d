#!/usr/bin/env node
/**
 * `npm run test:unit`: the tests under test/ (planning, the oracle, rendering, parsing,
 * the lifecycle on a fake backend; none needs root or builds a lab), compiled once by
 * tsc into .unit/ and each run by node as JavaScript, several at once: tap's TypeScript
 * loader costs 2-3 s per file, tsc (incremental) a few seconds for all of them. (Not
 * through the tap runner with its TypeScript plugin switched off: tap rebuilds itself
 * whenever its plugin set changes, and `npm test`'s next run would pay for it.) A tap
 * test file run by node prints TAP and exits non-zero when an assertion failed. Data the
 * tests read beside their sources (scenarios/, examples/, assets/, test/fixtures/ ...)
 * is linked into .unit/.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(ROOT, '.unit');
const bin = (name) => join(ROOT, 'node_modules', '.bin', name);

try {
  execFileSync(bin('tsc'), ['-p', join(ROOT, 'tsconfig.unit.json')], { stdio: 'inherit' });
} catch {
  // tsc has printed its errors; a stack of this script would only hide them
  process.stdout.write('\n0 files, 0 passed, 1 failed (the tests do not compile: see above)\n');
  process.exit(1);
}
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
const files = readdirSync(join(OUT, 'test')).filter((f) => f.endsWith('.test.js')).sort();
const only = process.argv.slice(2);
const chosen = only.length > 0 ? files.filter((f) => only.some((o) => f.startsWith(o.replace(/^test\//, '').replace(/\.test\.ts$/, '')))) : files;

/**
 * Files run in a few Node processes, several per process: most of a small test file's
 * time is Node and tap starting (half a second each, 30 times over on two cores). A file
 * that changes the process's own state (its environment, root-level hooks) runs alone.
 */
const GROUP = join(OUT, 'run-group.mjs');
writeFileSync(GROUP, `// written by scripts/unit.mjs: imports the test files given, in order, under one tap root
import t from 'tap';
for (const file of process.argv.slice(2)) {
  t.comment('file ' + file.split('/').pop().replace(/\\.js$/, '.ts'));
  await import(file);
}
`);
const source = (file) => readFileSync(join(ROOT, 'test', file.replace(/\.js$/, '.ts')), 'utf8');
const alone = (file) => /^process\.env\.\w+ =|^t\.(teardown|before|after|plan|end)\b/m.test(source(file));

function runFiles(files) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [GROUP, ...files.map((f) => join(OUT, 'test', f))], { cwd: ROOT, env: { ...process.env, TAP_COLORS: '0' } });
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (out += b));
    child.on('close', (code) => {
      const m = /^# \{ total: (\d+), pass: (\d+)[^}]*\}/m.exec(out);
      const total = m ? Number(m[1]) : 0;
      const pass = m ? Number(m[2]) : 0;
      const skip = Number(/^# \{ [^}]*\bskip: (\d+)/m.exec(out)?.[1] ?? 0);
      // every skip with its reason: `ok N - name # SKIP reason` (nested tests are indented)
      const skips = [...out.matchAll(/^\s*ok \d+ - (.*?) # SKIP\s*(.*)$/gm)].map((x) => `${x[1]}: ${x[2] || 'no reason given'}`);
      resolve({ files, ok: code === 0, total, pass, skip, skips, ms: Math.round(performance.now() - t0), out });
    });
  });
}

// groups of about equal size (by source length), one per job; the files that must run alone apart
const jobs = Math.max(2, availableParallelism() * 2);
const solo = chosen.filter(alone).map((f) => [f]);
const shared = chosen.filter((f) => !alone(f)).sort((a, b) => source(b).length - source(a).length);
const bins = Array.from({ length: Math.max(1, Math.min(jobs, shared.length)) }, () => ({ files: [], size: 0 }));
for (const f of shared) {
  const bin = bins.reduce((a, b) => (b.size < a.size ? b : a));
  bin.files.push(f);
  bin.size += source(f).length;
}
const groups = [...solo, ...bins.map((b) => b.files).filter((g) => g.length > 0)];
const results = [];
let next = 0;
await Promise.all(
  Array.from({ length: Math.min(jobs, groups.length) }, async () => {
    while (next < groups.length) {
      const r = await runFiles(groups[next++]);
      results.push(r);
      const names = r.files.map((f) => f.replace(/\.js$/, '.ts')).join(', ');
      process.stdout.write(`${r.ok ? 'ok' : 'not ok'} ${names} (${r.pass}/${r.total}${r.skip ? `, ${r.skip} skipped` : ''}, ${r.ms} ms)\n`);
      for (const s of r.skips) process.stdout.write(`    skipped: ${s}\n`);
      // what a test prints for the reader (the conformance table): lines starting `# |` or `#  `
      for (const line of r.out.split('\n').filter((l) => /^\s*# (\||CONFORMANCE)/.test(l))) process.stdout.write(`    ${line.trim().slice(2)}\n`);
      if (!r.ok) process.stdout.write(r.out.split('\n').map((l) => `    ${l}`).join('\n') + '\n');
    }
  }),
);
const passed = results.reduce((n, r) => n + r.pass, 0);
const skipped = results.reduce((n, r) => n + r.skip, 0);
const failed = results.reduce((n, r) => n + (r.total - r.pass - r.skip), 0) + results.filter((r) => !r.ok && r.total === r.pass + r.skip).length;
process.stdout.write(`\n${chosen.length} files, ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
