/**
 * How many DHCP guests of a large lab may be in their exchange at once: a window that
 * sizes itself to what this machine answers in time.
 *
 * Every DHCP broadcast reaches every port of the flat segment and every node's dnsmasq
 * (nova's multi_host wiring), so its cost grows with the lab. udhcpc asks again after 1 s
 * without an answer, and each retry is one more broadcast for the same busy CPUs: too
 * many guests asking at once and the exchanges slow past that second, the retries add
 * load, and the lab collapses into a retry storm (64x64 with a fixed window of 128: after
 * 20 minutes 1,508 of 4,096 guests leased, 50,000-95,000 DISCOVERs logged per node). A
 * fixed width cannot suit both a 2-core VM at 4,096 guests and a large machine at 64.
 *
 * So the width adapts, as TCP's congestion window does, on the one signal that matters:
 * how long a guest took from its start to its lease. Under the target, the width grows
 * (doubling per round at first, then by one per round); over it, the width is cut by a
 * third, at most once per round (only a guest admitted after the last cut can cut again:
 * the others were admitted under the wider window being corrected). The target sits
 * well inside udhcpc's 1 s so that an exchange answered in time stays the rule.
 */

import type { Plan } from '../plan/types.js';
import type { BootStats } from '../result.js';

export interface BootWindowOptions {
  /** the widest the window may grow (FLATLAB_BOOT_WINDOW) */
  max: number;
  /** the narrowest a cut may leave it */
  min?: number;
  /** where it starts */
  start?: number;
  /** a lease slower than this (from admission) narrows the window */
  targetMs?: number;
  now?: () => number;
}

export const DEFAULT_TARGET_MS = 1000;

export class BootWindow {
  private width: number;
  private held = 0;
  private readonly queue: (() => void)[] = [];
  private lastCut = -Infinity;
  private cut = false;
  private readonly max: number;
  private readonly min: number;
  private readonly targetMs: number;
  private readonly now: () => number;
  /** the narrowest and widest it has been, and how often it was cut */
  readonly seen: { narrowest: number; widest: number; cuts: number };
  /** each leased guest's time from admission to its lease */
  private readonly leaseMs: number[] = [];
  private gaveUp = 0;

  constructor(opts: BootWindowOptions) {
    this.max = Math.max(1, opts.max);
    this.min = Math.max(1, Math.min(opts.min ?? 8, this.max));
    this.width = Math.min(this.max, Math.max(this.min, opts.start ?? 32));
    this.targetMs = opts.targetMs ?? DEFAULT_TARGET_MS;
    this.now = opts.now ?? (() => performance.now());
    this.seen = { narrowest: this.width, widest: this.width, cuts: 0 };
  }

  /** the narrowest a cut may leave it */
  get minimum(): number {
    return this.min;
  }

  /** How many may be in their exchange now. */
  get size(): number {
    return Math.floor(this.width);
  }

  /** Waits for a place; resolves with the admission time to hand back to give(). */
  async take(): Promise<number> {
    if (this.held < this.size && this.queue.length === 0) {
      this.held++;
      return this.now();
    }
    await new Promise<void>((resolve) => this.queue.push(resolve));
    return this.now();
  }

  /**
   * A guest admitted at `admittedAt` is through (leased), or gave up (`leased` false: it
   * says nothing about speed, and narrows the window as a slow one does).
   */
  give(admittedAt: number, leased = true): void {
    this.held--;
    if (!leased) this.gaveUp++;
    const t = this.now();
    if (!leased || t - admittedAt > this.targetMs) {
      if (admittedAt >= this.lastCut) {
        this.width = Math.max(this.min, Math.floor((this.width * 2) / 3));
        this.lastCut = t;
        this.cut = true;
        this.seen.cuts++;
      }
    } else {
      // slow start until the first cut, then one more place per window's worth of leases
      this.width = Math.min(this.max, this.width + (this.cut ? 1 / this.width : 1));
    }
    if (leased) this.leaseMs.push(t - admittedAt);
    this.seen.narrowest = Math.min(this.seen.narrowest, this.size);
    this.seen.widest = Math.max(this.seen.widest, this.size);
    while (this.held < this.size && this.queue.length > 0) {
      this.held++;
      this.queue.shift()!();
    }
  }

  /** What the window did, for result.json and the bench. */
  stats(): BootStats {
    const sorted = [...this.leaseMs].sort((a, b) => a - b);
    const at = (q: number): number => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0);
    return {
      window: { ...this.seen, max: this.max, targetMs: this.targetMs },
      leaseMs: { median: at(0.5), p90: at(0.9), max: at(1) },
      slow: sorted.filter((ms) => ms > this.targetMs).length,
      unleased: this.gaveUp,
    };
  }
}

/**
 * The end of a run whose DHCP this machine cannot serve: a window's worth of guests that
 * should have leased had no lease when their wait ran out, the window already narrowed
 * by them. Their clients go on asking every second or two, each ask a broadcast to every
 * port, so going on would only add load until the machine itself stalls (64x64 here,
 * before this bound: a load average over 2,000 and 20 minutes without an end). The run
 * ends with this message and tears its lab down; the verdicts say nothing of the network.
 */
export class DhcpOverload extends Error {
  constructor(plan: Plan, late: number, stats: BootStats, leasesMs: number) {
    const servers = plan.nodes.filter((n) => n.dhcp).length;
    super(
      `DHCP overloaded: ${late} guests that should have leased had no lease ${Math.round(leasesMs / 1000)} s after they started, ` +
        `with at most ${stats.window.narrowest} guests booting at once by then. On one flat segment every DHCP broadcast reaches all ` +
        `${plan.vms.length} guest ports and ${servers} dnsmasq (nova's ${servers > 1 ? 'multi_host ' : ''}wiring), and this machine's CPUs ` +
        `did not answer within udhcpc's retry time. Fewer guests per flat network, or more cores, would be served; ` +
        `the lab was torn down and nothing was checked.`,
    );
    this.name = 'DhcpOverload';
  }
}
