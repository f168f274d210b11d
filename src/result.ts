/**
 * result.json as types: what a run concluded, per variant. Neutral ground between the
 * run (which writes it) and the renderers (terminal, report.html, junit.xml), so neither
 * imports the other for it.
 */
import type { NeighbourTableNotice } from './checks/neigh-budget.js';
import type { DropCount } from './checks/counters.js';
import type { Symptom } from './checks/symptoms.js';
import type { EgressResult, Observations, ReachResult, Verdict } from './checks/types.js';
import type { FlowDiagnosis } from './diagnose/run-diagnosis.js';
import type { DhcpTrace } from './diagnose/run-dhcp.js';
import type { Plan } from './plan/types.js';

/** 2: one entry per variant under `variants`. 3: the plan's nodes say `isGateway` and carry `sysctls`. */
export const RESULT_SCHEMA_VERSION = 3;

/** Checks counted: `flaky` passed too, after a try that saw something else. */
export interface Summary {
  passed: number;
  failed: number;
  skipped: number;
  flaky?: number;
}

/** One variant's lab: its plan, what was observed, every verdict. */
export interface VariantResult {
  variant: string;
  description?: string;
  prefix: string;
  /** every check as expected */
  ok: boolean;
  /** set when the lab stopped before its checks (build failure, interruption) */
  error?: string;
  summary: Summary;
  plan: Plan;
  observations: Observations | null;
  /** the reachability matrix: every probe, expected and observed */
  reach: ReachResult[];
  /** the way out: what the external host saw of each guest */
  egress: EgressResult[];
  verdicts: Verdict[];
  /** the run's symptom, as an operator would describe it */
  symptoms: Symptom[];
  /** hop-by-hop traces of failed flows (one per kind of failure), with their evidence */
  /** traced failures: flows hop by hop, and missing leases on their DHCP path */
  diagnoses: (FlowDiagnosis | DhcpTrace)[];
  /** dropping rules whose counters moved during the matrix where no drop was expected */
  unexpectedDrops?: DropCount[];
  /** milliseconds per phase, and `total` */
  timings: Record<string, number>;
  /** the machine's busy CPU milliseconds per phase (all CPUs: up to twice the phase's time on two cores) */
  cpu?: Record<string, number>;
  /** a large lab: how its DHCP guests were admitted and how fast they leased */
  boot?: BootStats;
}

/** result.json */
export interface RunResult {
  schemaVersion: number;
  scenario: string;
  file: string;
  backend: string;
  startedAt: string;
  ok: boolean;
  summary: Summary;
  variants: VariantResult[];
  /** `total`: the whole run, variants in parallel */
  timings: Record<string, number>;
  /** set when the machine's shared neighbour table refused entries during the run */
  neighbourTable?: NeighbourTableNotice;
  /** the signal that stopped the run (its labs were torn down; checks may be missing) */
  interrupted?: string;
  /** how vm guests ran: their image, kernel and accelerator (run/accel.ts) */
  vmGuests?: VmGuestsNotice;
}

export interface VmGuestsNotice {
  image: string;
  kernel: string;
  accel: 'kvm' | 'tcg';
  why: string;
  vhostNet: boolean;
  /** in words, for the report */
  text: string;
}

/** A check list counted: passed, failed, skipped, and how many passed only on a later try. */
export function summarise(verdicts: Verdict[]): Summary {
  const skipped = verdicts.filter((v) => v.skipped).length;
  const passed = verdicts.filter((v) => v.ok && !v.skipped).length;
  const flaky = verdicts.filter((v) => v.ok && v.flaky).length;
  return { passed, failed: verdicts.length - passed - skipped, skipped, ...(flaky ? { flaky } : {}) };
}

/** The one way a RunResult is made (a run of every variant, or `check` of one live lab). */
export function runResult(r: { scenario: string; file: string; backend: string; startedAt: Date; variants: VariantResult[]; totalMs: number }): RunResult {
  return {
    schemaVersion: RESULT_SCHEMA_VERSION,
    scenario: r.scenario,
    file: r.file,
    backend: r.backend,
    startedAt: r.startedAt.toISOString(),
    ok: r.variants.every((v) => v.ok),
    summary: summarise(r.variants.flatMap((v) => v.verdicts)),
    variants: r.variants,
    timings: { total: Math.round(r.totalMs) },
  };
}

/** result.json's `boot`: how a large lab's DHCP guests were admitted and how fast they leased. */
export interface BootStats {
  window: { narrowest: number; widest: number; cuts: number; max: number; targetMs: number };
  /** from admission to the lease record, over the guests that leased */
  leaseMs: { median: number; p90: number; max: number };
  /** leases slower than the target (most of them a DISCOVER asked again) */
  slow: number;
  /** guests whose lease wait ran out */
  unleased: number;
}
