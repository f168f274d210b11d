/**
 * Flakiness across repeats: the same scenario run N times must give every check the same
 * verdict. Pure: the runs' results in, the checks whose verdict differed out, each with
 * what was observed when it passed and when it did not.
 */
import type { RunResult } from '../result.js';

export interface FlakyCheck {
  scenario: string;
  backend: string;
  variant: string;
  /** `reach vm_1 -> vm_3 icmp` */
  check: string;
  /** repeat number (1-based) -> pass/fail and what was observed */
  seen: { repeat: number; ok: boolean; observed: string }[];
}

/** Checks that passed after a differing try within one run (listed, not failed). */
export interface RetriedCheck {
  scenario: string;
  backend: string;
  variant: string;
  check: string;
  repeat: number;
  tries: string[];
}

/** Groups runs of the same scenario on the same backend, in the order they were given. */
export function flakiness(runs: RunResult[]): { flaky: FlakyCheck[]; retried: RetriedCheck[] } {
  const groups = new Map<string, RunResult[]>();
  for (const r of runs) groups.set(`${r.scenario}\0${r.backend}`, [...(groups.get(`${r.scenario}\0${r.backend}`) ?? []), r]);
  const flaky: FlakyCheck[] = [];
  const retried: RetriedCheck[] = [];
  for (const group of groups.values()) {
    const byCheck = new Map<string, FlakyCheck>();
    group.forEach((run, i) => {
      for (const v of run.variants) {
        // a variant that did not get to its checks counts as one failed check
        const verdicts = v.error ? [{ kind: 'run', subject: '(lab)', ok: false, observed: v.error }] : v.verdicts;
        for (const c of verdicts) {
          const check = `${c.kind} ${c.subject}`;
          const key = `${v.variant}\0${check}`;
          if (!byCheck.has(key)) byCheck.set(key, { scenario: run.scenario, backend: run.backend, variant: v.variant, check, seen: [] });
          byCheck.get(key)!.seen.push({ repeat: i + 1, ok: c.ok, observed: c.observed });
          const tries = 'tries' in c ? c.tries : undefined;
          if ('flaky' in c && c.flaky && tries) retried.push({ scenario: run.scenario, backend: run.backend, variant: v.variant, check, repeat: i + 1, tries });
        }
      }
    });
    for (const c of byCheck.values()) {
      // missing in some repeat (its variant failed early) or a verdict that changed
      const changed = c.seen.length !== group.length || new Set(c.seen.map((s) => s.ok)).size > 1;
      if (changed) flaky.push(c);
    }
  }
  return { flaky, retried };
}
