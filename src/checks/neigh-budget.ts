/**
 * Pacing for probes that make the kernel learn new neighbours.
 *
 * A probe from a to b on the flat segment makes a resolve b (an ARP entry in a) and
 * teaches b about a (an entry in b); a later probe between the same two costs nothing.
 * The kernel keeps one neighbour table for every namespace of the machine, limited by
 * net.ipv4.neigh.default.gc_thresh3 (1024 on this machine), and cannot reclaim young
 * entries (see WINDOW_MS): past that, new entries are refused ("table full") and the
 * probe's packet is dropped before it leaves. flatlab changes no sysctl of the machine,
 * so it spends at most a share of that table in any window: at 1000 VMs, hundreds of
 * concurrent probes would otherwise fail for a reason that is flatlab's, not the network's.
 */
import { neighbourTableLimit } from '../backend/procfs.js';

export { neighbourTableFulls, neighbourTableLimit } from '../backend/procfs.js';

/**
 * How long a new entry stays unreclaimable: while a timer holds it (reachable 1-3 s
 * with the timers large labs get, see plan/wiring.ts; a reply's entry also waits 1 s to
 * probe), then the kernel's 5 s since its last update.
 */
const WINDOW_MS = 9000;

/** Entries a probe between two VMs that have not met creates: one on each side. */
const ENTRIES_PER_PAIR = 2;

export class NeighbourBudget implements NeighbourPacer {
  /** when each new pair was admitted, oldest first */
  private readonly admitted: number[] = [];
  private readonly known = new Set<string>();

  /** budget: entries that may be created within any windowMs */
  constructor(
    private readonly budget: number,
    private readonly windowMs = WINDOW_MS,
  ) {}

  /** The share of the table a lab's probes may use: 60%, leaving room for everything else. */
  static forMachine(): NeighbourBudget {
    return new NeighbourBudget(Math.floor(neighbourTableLimit() * 0.6));
  }

  /** Waits until a probe between a and b fits, then counts its entries (none if they have met). */
  async admit(a: string, b: string): Promise<void> {
    const key = a < b ? `${a} ${b}` : `${b} ${a}`;
    if (this.known.has(key)) return;
    this.known.add(key);
    for (;;) {
      const now = performance.now();
      while (this.admitted.length > 0 && now - this.admitted[0]! >= this.windowMs) this.admitted.shift();
      if ((this.admitted.length + 1) * ENTRIES_PER_PAIR <= this.budget || this.admitted.length === 0) {
        this.admitted.push(now);
        return;
      }
      // the oldest admission leaves the window first
      await new Promise((r) => setTimeout(r, Math.max(5, this.windowMs - (now - this.admitted[0]!))));
    }
  }
}

/** What paces probes by the neighbour entries they make: a time window, or a ledger of live entries. */
export interface NeighbourPacer {
  /** Waits until a probe from a to b may make its entries (none when a and b hold each other's). */
  admit(a: string, b: string): Promise<void>;
  /** The probe admitted for a and b is done. */
  done?(a: string, b: string): void;
  /** Every entry in namespace ns was deleted (the backend released them). */
  released?(ns: string): void;
}

/**
 * Where the backend releases neighbour entries (Backend.releaseNeighbours): the entries
 * alive now, one per namespace and peer, counted from the probe that makes them until
 * their namespace is released. A probe waits while the ledger is full and some other
 * probe is under way (whose end may release entries); with none under way it goes
 * anyway, so probes never wait on each other in a circle.
 */
export class NeighbourLedger implements NeighbourPacer {
  private live = 0;
  private inFlight = 0;
  private readonly entries = new Map<string, Set<string>>();
  private waiters: (() => void)[] = [];

  constructor(private readonly budget: number) {}

  static forMachine(): NeighbourLedger {
    return new NeighbourLedger(Math.floor(neighbourTableLimit() * 0.6));
  }

  private missing(a: string, b: string): number {
    return (this.entries.get(a)?.has(b) ? 0 : 1) + (this.entries.get(b)?.has(a) ? 0 : 1);
  }

  async admit(a: string, b: string): Promise<void> {
    while (this.missing(a, b) > 0 && this.live + this.missing(a, b) > this.budget && this.inFlight > 0) {
      await new Promise<void>((r) => this.waiters.push(r));
    }
    for (const [x, y] of [[a, b], [b, a]] as const) {
      const set = this.entries.get(x) ?? new Set<string>();
      if (!set.has(y)) this.live++;
      set.add(y);
      this.entries.set(x, set);
    }
    this.inFlight++;
  }

  done(): void {
    this.inFlight--;
    this.wake();
  }

  released(ns: string): void {
    this.live -= this.entries.get(ns)?.size ?? 0;
    this.entries.delete(ns);
    this.wake();
  }

  /** How many entries the ledger holds alive now (tests). */
  get alive(): number {
    return this.live;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }
}

/** What a run says about the machine's neighbour table, when it got in the way. */
export interface NeighbourTableNotice {
  /** entries the kernel refused during the run (machine-wide: other labs count too) */
  refused: number;
  gcThresh3: number;
  text: string;
}

export function neighbourTableNotice(before: number | null, after: number | null, vms: number): NeighbourTableNotice | null {
  if (before === null || after === null || after <= before) return null;
  const limit = neighbourTableLimit();
  const suggested = Math.max(4096, 2 ** Math.ceil(Math.log2(vms * 4)));
  return {
    refused: after - before,
    gcThresh3: limit,
    text:
      `the kernel refused ${after - before} ARP entries during this run: its neighbour table (one for all namespaces, ` +
      `net.ipv4.neigh.default.gc_thresh3 = ${limit}) was full, so DHCP replies and probes were dropped by this machine, not by ` +
      `the modelled network. flatlab changes no setting of the machine; for ${vms} VMs an operator can raise it: ` +
      `sysctl -w net.ipv4.neigh.default.gc_thresh2=${suggested / 2} net.ipv4.neigh.default.gc_thresh3=${suggested}`,
  };
}
