/**
 * Readiness waits: poll a cheap probe until it holds or a deadline passes. Polling at a
 * short interval costs less than any fixed sleep and never waits longer than needed.
 */
export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  signal?: AbortSignal;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves with the probe's first truthy value, or undefined at the deadline. */
export async function pollUntil<T>(probe: () => Promise<T | undefined | null | false>, opts: WaitOptions): Promise<T | undefined> {
  const deadline = performance.now() + opts.timeoutMs;
  const interval = opts.intervalMs ?? 10;
  for (;;) {
    opts.signal?.throwIfAborted();
    const v = await probe();
    if (v) return v;
    if (performance.now() >= deadline) return undefined;
    await sleep(interval);
  }
}

/** Runs `fn` over `items` with at most `limit` at once, keeping order in the result. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** At most `n` holders at once; the others wait their turn, first come first served. */
export class Slots {
  private free: number;
  private readonly queue: (() => void)[] = [];

  constructor(n: number) {
    this.free = n;
  }

  async take(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.queue.push(resolve));
  }

  give(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.free++;
  }
}
