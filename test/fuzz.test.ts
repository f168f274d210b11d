/**
 * The loader against hundreds of generated and mutated scenario files: each is accepted
 * or refused with positioned one-line errors, never a crash. Seeded, so a failure can be
 * replayed (FLATLAB_FUZZ_SEED).
 */
import t from 'tap';
import { readFile, readdir } from 'node:fs/promises';
import { parseScenarioFile } from '../src/scenario/load.js';
import { plan } from '../src/plan/plan.js';
import { UserError } from '../src/errors.js';
import { assetsIn } from '../src/assets.js';

const CASES = 600;
const seed = Number(process.env.FLATLAB_FUZZ_SEED ?? 20261126);

/** mulberry32: a small seeded PRNG */
function prng(a: number): () => number {
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const TOKENS = ['', '0', '-1', '65536', '1e309', 'true', 'null', '~', '[]', '{}', '[a, b]', '{x: 1}', '"  "', 'br100', 'eth0', 'vm_1', 'compute9',
  '10.0.0.0/24', '10.0.0.300', '300.1.1.1/8', 'fa:16:3e:00:00:01', 'ff:ff:ff:ff:ff:ff', 'group nope', 'group ssh', '0.0.0.0/0', '"1000-2000"', '"9-1"',
  'nova.network.manager.FlatManager', 'network', 'icmp', 'tcp', 'sctp', '&anchor x', '*anchor', '!!binary aGk=', '"\\u0000"', 'ä€𝄞', '"a: b"', '- x', '? k', '|\n  text'];

function mutate(text: string, r: () => number): string {
  const lines = text.split('\n');
  const pick = (n: number): number => Math.floor(r() * n);
  const rounds = 1 + pick(3);
  for (let k = 0; k < rounds; k++) {
    const i = pick(lines.length);
    const line = lines[i] ?? '';
    switch (pick(9)) {
      case 0: lines.splice(i, 1); break;
      case 1: lines.splice(i, 0, line); break;
      case 2: lines[i] = line.replace(/:\s*(.*)$/, `: ${TOKENS[pick(TOKENS.length)]}`); break;
      case 3: lines[i] = ' '.repeat(pick(6)) + line.trimStart(); break;
      case 4: lines[i] = line.slice(0, pick(line.length + 1)); break;
      case 5: lines.splice(i, 0, `${' '.repeat(pick(4) * 2)}${['colour', 'faults', 'variants', 'external', 'security_groups', 'expect'][pick(6)]}: ${TOKENS[pick(TOKENS.length)]}`); break;
      case 6: { const j = pick(line.length + 1); lines[i] = line.slice(0, j) + '{}[],:#&*!|>\'"%@`'[pick(17)] + line.slice(j); break; }
      case 7: lines[i] = line.replace(/\d+/, String(pick(1000))); break;
      default: lines.splice(i, 0, lines[pick(lines.length)] ?? '');
    }
  }
  return lines.join('\n');
}

t.test(`${CASES} mutated scenarios: accepted, or refused with positions; never a crash (seed ${seed})`, async (t) => {
  const root = new URL('../scenarios/', import.meta.url);
  const files = (await readdir(root, { recursive: true })).filter((f) => f.endsWith('.yaml')).sort();
  const bases = await Promise.all(files.map((f) => readFile(new URL(f, root), 'utf8')));
  const r = prng(seed);
  let accepted = 0;
  let refused = 0;
  const crashes: string[] = [];
  for (let n = 0; n < CASES; n++) {
    const text = mutate(bases[n % bases.length]!, r);
    try {
      const { variants } = parseScenarioFile(text, 'fuzz.yaml');
      // an accepted scenario must also plan without throwing
      for (const v of variants) plan(v.scenario, { runId: 'abcdef', runtimeRoot: '/run/flatlab', assets: assetsIn('/x') });
      accepted++;
    } catch (err) {
      if (err instanceof UserError && err.lines.length > 0 && err.lines.every((l) => /^fuzz\.yaml:\d+:\d+ \S/.test(l) && !l.includes('\n'))) {
        refused++;
      } else {
        crashes.push(`case ${n}: ${err instanceof Error ? `${err.name}: ${err.message.split('\n')[0]}` : String(err)}\n---\n${text}\n---`);
      }
    }
  }
  t.same(crashes.slice(0, 3), [], `no crash (${crashes.length} of ${CASES})`);
  t.ok(accepted > 0 && refused > 0, `both outcomes occur: ${accepted} accepted, ${refused} refused`);
});
