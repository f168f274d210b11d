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

export class NeighbourBudget {
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
