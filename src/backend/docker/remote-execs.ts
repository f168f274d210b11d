/**
 * Commands run in the guests of a remote node, every one asked of that node's container
 * in one turn in one exec: the probes of a round start together (up to the checks'
 * concurrency), and sixteen execs at once through a remote engine's API took 2.5 s each
 * here (each is a process the engine spawns), against 0.2 s for one exec running sixteen.
 * The commands run in parallel in that exec's shell, each with its own bound (`timeout`),
 * their output in files of a folder of the exec's own, printed back as sections.
 */
import { randomBytes } from 'node:crypto';
import type { ExecOptions, ExecResult } from '../backend.js';
import type { Containers } from './containers.js';
import { PerTurn } from './per-turn.js';
import { splitSections } from './remote-files.js';

export interface ExecItem {
  argv: string[];
  input?: string;
  timeoutMs?: number;
}

/**
 * The script and arguments running every item at once and printing, in order, each one's
 * stdout, stderr and exit status as sections after `mark` (see splitSections). Like the
 * start script it names only positions, never a word of the items. A command past its
 * bound is killed (exit status 137).
 */
export function execScript(items: ExecItem[], mark: string): string[] {
  const args: string[] = [mark];
  const pos = (word: string): string => {
    args.push(word);
    return `"\${${args.length}}"`;
  };
  const lines = ['m=$1; d=$(mktemp -d) || exit 1'];
  items.forEach((it, k) => {
    const input = it.input !== undefined ? `printf "%s" ${pos(it.input)} | ` : '';
    const bound = it.timeoutMs ? `timeout -s KILL ${pos((it.timeoutMs / 1000).toFixed(2))} ` : '';
    lines.push(`(${input}${bound}${it.argv.map(pos).join(' ')}${it.input === undefined ? ' </dev/null' : ''} >"$d/${k}.o" 2>"$d/${k}.e"; echo $? >"$d/${k}.r") &`);
  });
  lines.push('wait');
  lines.push(`for f in ${items.map((_, k) => `${k}.o ${k}.e ${k}.r`).join(' ')}; do echo "$m present"; cat "$d/$f"; printf "\\n%s end\\n" "$m"; done`);
  lines.push('rm -rf "$d"');
  return ['sh', '-c', lines.join('\n'), 'sh', ...args];
}

/** Each item's result from the batch's sections (three per item). */
export function execResults(out: string, mark: string, count: number, durationMs: number): ExecResult[] {
  const s = splitSections(out, mark, count * 3);
  return Array.from({ length: count }, (_, k) => {
    const exitCode = Number((s[k * 3 + 2] ?? '').trim());
    return { exitCode: Number.isInteger(exitCode) ? exitCode : -1, stdout: (s[k * 3] ?? '').trimEnd(), stderr: s[k * 3 + 1] ?? '', durationMs, timedOut: exitCode === 137 };
  });
}

/** Inputs larger than this go alone, on an exec's own stdin (an argument holds 128 KiB on Linux). */
export const BATCHED_INPUT_MAX = 100_000;

export class RemoteExecs {
  private readonly execs: PerTurn<ExecResult>;

  constructor(containers: Containers) {
    this.execs = new PerTurn(async (container, asked) => {
      const items = asked.map((a) => JSON.parse(a) as ExecItem);
      const mark = `--flatlab-${randomBytes(8).toString('hex')}--`;
      // each command has its own bound; the exec's is theirs plus its own cost
      const bound = Math.max(0, ...items.map((i) => i.timeoutMs ?? 0));
      const r = await containers.exec(container, execScript(items, mark), { exact: true, ...(bound ? { timeoutMs: bound + 30_000 } : {}) });
      if (r.exitCode !== 0) throw new Error(`running ${items.length} command(s) in ${container} failed: ${r.stderr.trim()}`);
      return execResults(r.stdout, mark, items.length, r.durationMs);
    });
  }

  /** Runs argv in the container (with the turn's other commands there). */
  run(container: string, argv: string[], opts: ExecOptions): Promise<ExecResult> {
    return this.execs.ask(container, JSON.stringify({ argv, ...(opts.input !== undefined ? { input: opts.input } : {}), ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) }));
  }
}
