/**
 * Progress of a run's phases on stderr, and their timings for result.json. On a
 * terminal the running phase is shown and replaced by its time when it ends.
 */
import chalk from 'chalk';
import { machineBusyMs } from './machine-cpu.js';

export interface Progress {
  /**
   * Times `fn` as phase `name`, showing `label` while it runs. `outcome` says what the
   * phase achieved when it ran to its end (a ✗ where it did not, with a few words).
   */
  phase<T>(name: string, label: string, fn: () => Promise<T>, outcome?: (v: T) => { ok: boolean; detail?: string }): Promise<T>;
  note(message: string): void;
  readonly timings: Record<string, number>;
  /** the machine's busy CPU time during each phase, ms (machine-cpu.ts) */
  readonly cpu: Record<string, number>;
}

export interface ProgressOptions {
  quiet?: boolean;
  stream?: NodeJS.WriteStream;
  /** shown before each line (the variant, when several run at once) */
  label?: string;
  /** show the running phase in place (only one run at a time can) */
  live?: boolean;
}

export function createProgress(opts: ProgressOptions = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  const tty = stream.isTTY === true && opts.live !== false;
  const tag = opts.label ? chalk.cyan(`[${opts.label}] `) : '';
  const timings: Record<string, number> = {};
  const cpu: Record<string, number> = {};
  return {
    timings,
    cpu,
    async phase<T>(name: string, label: string, fn: () => Promise<T>, outcome?: (v: T) => { ok: boolean; detail?: string }): Promise<T> {
      if (tty && !opts.quiet) stream.write(chalk.dim(`  … ${tag}${label}`));
      const t0 = performance.now();
      const c0 = machineBusyMs();
      let failed = true;
      let detail = '';
      try {
        const v = await fn();
        const o = outcome?.(v);
        failed = o ? !o.ok : false;
        detail = o?.detail ? `: ${o.detail}` : '';
        return v;
      } finally {
        const ms = Math.round(performance.now() - t0);
        timings[name] = (timings[name] ?? 0) + ms;
        const c1 = c0 === null ? null : machineBusyMs();
        if (c0 !== null && c1 !== null) cpu[name] = (cpu[name] ?? 0) + (c1 - c0);
        if (!opts.quiet) {
          const mark = failed ? chalk.red('✗') : chalk.green('✓');
          stream.write(`${tty ? '\r\x1b[K' : ''}  ${mark} ${tag}${label}${detail} ${chalk.dim(`${ms} ms`)}\n`);
        }
      }
    },
    note(message: string): void {
      if (!opts.quiet) stream.write(`  ${tag}${message}\n`);
    },
  };
}
