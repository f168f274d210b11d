/**
 * No import cycles between the files of src/ (type imports included): a module's
 * dependencies can be read, tested and replaced one direction at a time.
 */
import t from 'tap';
import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// the TypeScript sources, also when this test runs compiled (npm run test:unit: package.json is linked there)
const SRC = join(dirname(realpathSync(fileURLToPath(new URL('../package.json', import.meta.url)))), 'src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** file -> the files of src/ it imports or re-exports from */
export function importGraph(files: string[]): Map<string, string[]> {
  const known = new Set(files);
  return new Map(
    files.map((f) => {
      const text = readFileSync(f, 'utf8');
      const deps = [...text.matchAll(/^(?:import|export)[^'"]*?from '(\.[^']+)'/gm)].map((m) => resolve(dirname(f), m[1]!.replace(/\.js$/, '.ts')));
      return [f, deps.filter((d) => known.has(d))];
    }),
  );
}

export function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const stack: string[] = [];
  const onStack = new Set<string>();
  const done = new Set<string>();
  const visit = (n: string): void => {
    stack.push(n);
    onStack.add(n);
    for (const m of graph.get(n) ?? []) {
      if (onStack.has(m)) found.push(stack.slice(stack.indexOf(m)));
      else if (!done.has(m)) visit(m);
    }
    stack.pop();
    onStack.delete(n);
    done.add(n);
  };
  for (const n of graph.keys()) if (!done.has(n)) visit(n);
  return found;
}

t.test('the cycle finder finds a cycle', async (t) => {
  t.same(cycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']]])), [['a', 'b', 'c']]);
  t.same(cycles(new Map([['a', ['b']], ['b', []]])), []);
});

t.test('no file of src/ imports itself back, directly or round about', async (t) => {
  const files = sources(SRC);
  t.ok(files.length > 50, `${files.length} files read`);
  t.same(cycles(importGraph(files)).map((c) => c.map((f) => relative(SRC, f)).join(' -> ')), []);
});

/** A file's unit at folder level: its folder under src/, or itself for a top-level file. */
function unitOf(file: string): string {
  const parts = relative(SRC, file).split('/');
  return parts.length > 1 ? parts[0]! : parts[0]!.replace(/\.ts$/, '');
}

t.test('no folder of src/ imports itself back either (a top-level file counts as its own unit)', async (t) => {
  const graph = importGraph(sources(SRC));
  const folders = new Map<string, Set<string>>();
  for (const [f, deps] of graph) {
    const a = unitOf(f);
    if (!folders.has(a)) folders.set(a, new Set());
    for (const d of deps) if (unitOf(d) !== a) folders.get(a)!.add(unitOf(d));
  }
  const asLists = new Map([...folders].map(([k, v]) => [k, [...v]]));
  t.ok(asLists.size >= 10, `${asLists.size} units`);
  t.same(cycles(asLists).map((c) => c.join(' -> ')), []);
});

/**
 * The folders (and top-level files) of src/ from the bottom up, as src/README.md lists
 * them: a unit imports only units before it. Pure data and rules first, the plan, then
 * what acts (backend, checks, diagnose), what renders, and run/ and cli/ at the end.
 */
export const ORDER = ['errors', 'wait', 'which', 'root', 'assets', 'backends', 'net', 'nova', 'scenario', 'import', 'plan', 'backend', 'checks', 'diagnose', 'result', 'report', 'compare', 'run', 'cli'];

/** The arrows between units that point up the order (or at a unit the order does not know). */
export function againstOrder(graph: Map<string, string[]>, unit: (f: string) => string, order: string[]): string[] {
  const rank = new Map(order.map((u, i) => [u, i]));
  const wrong: string[] = [];
  for (const [f, deps] of graph) {
    for (const d of deps) {
      const [a, b] = [unit(f), unit(d)];
      if (a === b) continue;
      if (!rank.has(a) || !rank.has(b) || rank.get(b)! > rank.get(a)!) wrong.push(`${a} -> ${b} (${f} imports ${d})`);
    }
  }
  return wrong;
}

t.test('the order check finds an arrow that points up, and a unit it does not know', async (t) => {
  const id = (f: string) => f.split('/')[0]!;
  t.same(againstOrder(new Map([['plan/a', ['net/b']]]), id, ORDER), []);
  t.equal(againstOrder(new Map([['compare/a', ['run/b']]]), id, ORDER).length, 1, 'compare/ importing run/');
  t.equal(againstOrder(new Map([['plan/a', ['checks/b']]]), id, ORDER).length, 1, 'plan/ importing checks/');
  t.equal(againstOrder(new Map([['novel/a', ['net/b']]]), id, ORDER).length, 1, 'a folder not in the order');
});

t.test('every arrow between folders points down the order of src/README.md; nothing outside cli/ imports run/', async (t) => {
  const graph = importGraph(sources(SRC));
  t.same(againstOrder(graph, (f) => unitOf(f), ORDER).map((w) => w.replaceAll(SRC + '/', '')), []);
  const note = readFileSync(join(SRC, 'README.md'), 'utf8');
  t.match(note, ORDER.join(' → '), 'src/README.md states the same order');
});

t.test('outside src/backend/, nothing imports a concrete backend (only the contract and the registry)', async (t) => {
  const graph = importGraph(sources(SRC));
  const offenders: string[] = [];
  for (const [f, deps] of graph) {
    if (relative(SRC, f).startsWith('backend/')) continue;
    for (const d of deps) if (/^backend\/(netns|docker)\//.test(relative(SRC, d))) offenders.push(`${relative(SRC, f)} -> ${relative(SRC, d)}`);
  }
  t.same(offenders, []);
});

t.test('src/README.md names every folder and top-level file of src/, and only those', async (t) => {
  const note = readFileSync(join(SRC, 'README.md'), 'utf8');
  const table = new Set([...note.matchAll(/^\| `([a-z]+)\/` \|/gm)].map((m) => m[1]!));
  const folders = readdirSync(SRC).filter((e) => statSync(join(SRC, e)).isDirectory());
  t.same([...table].sort(), folders.sort(), 'one table row per folder');
  const files = readdirSync(SRC).filter((e) => e.endsWith('.ts'));
  for (const f of files) t.match(note, `\`${f}\``, `${f} is described`);
  for (const b of readdirSync(join(SRC, 'backend')).filter((e) => statSync(join(SRC, 'backend', e)).isDirectory())) t.match(note, `\`${b}/\``, `backend ${b} is described`);
});
