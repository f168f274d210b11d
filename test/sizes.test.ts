/**
 * Small files, short functions: no file of src/ over 350 lines, no function (with what
 * it nests) over 80. Read with TypeScript's own parser, so a function is what the
 * compiler calls one (declarations, methods, arrows, function expressions).
 */
import t from 'tap';
import ts from 'typescript';
import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = join(dirname(realpathSync(fileURLToPath(new URL('../package.json', import.meta.url)))), 'src');
const MAX_FILE = 350;
const MAX_FUNCTION = 80;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Functions longer than `max` lines in a source text: `name:line (N lines)`. */
export function longFunctions(text: string, file: string, max: number): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isFunctionLike(n) && 'body' in n && n.body) {
      const start = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(n.getEnd()).line;
      if (end - start + 1 > max) {
        const named = n.name?.getText(sf) ?? (ts.isVariableDeclaration(n.parent) || ts.isPropertyAssignment(n.parent) ? n.parent.name.getText(sf) : '<anonymous>');
        found.push(`${named}:${start + 1} (${end - start + 1} lines)`);
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return found;
}

t.test('the length check finds a long function and passes a short one', async (t) => {
  const body = (n: number) => Array.from({ length: n }, (_, i) => `  const a${i} = ${i};`).join('\n');
  t.same(longFunctions(`function short() {\n${body(3)}\n}\n`, 'x.ts', 10), []);
  t.same(longFunctions(`export const long = () => {\n${body(20)}\n};\n`, 'x.ts', 10), ['long:1 (22 lines)']);
  t.same(longFunctions(`class A {\n  m() {\n${body(20)}\n  }\n}\n`, 'x.ts', 10), ['m:2 (22 lines)']);
});

t.test(`no file of src/ is over ${MAX_FILE} lines, no function over ${MAX_FUNCTION}`, async (t) => {
  const files = sources(SRC);
  t.ok(files.length > 100, `${files.length} files read`);
  const long: string[] = [];
  const overlong: string[] = [];
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    if (lines > MAX_FILE) long.push(`${relative(SRC, f)} (${lines} lines)`);
    overlong.push(...longFunctions(text, f, MAX_FUNCTION).map((x) => `${relative(SRC, f)} ${x}`));
  }
  t.same(long, [], 'files');
  t.same(overlong, [], 'functions');
});
