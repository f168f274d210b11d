/**
 * One request for what is asked of the same place in one turn of the event loop: a
 * remote engine's exec costs a round trip through its API and a process started there
 * (0.1-0.3 s each here, seconds when dozens queue at once), so what a lab asks of one
 * container at once — every guest's lease file in a poller's round, every guest of a node
 * booting, every PID a round checks — is gathered and asked in one exec.
 */
interface Waiting<T> {
  arg: string;
  resolve(v: T): void;
  reject(e: unknown): void;
}

/** `run` gets every argument asked of a key in the turn and returns an answer per argument, in order. */
export class PerTurn<T> {
  private readonly queues = new Map<string, Waiting<T>[]>();
  constructor(private readonly run: (key: string, args: string[]) => Promise<T[]>) {}

  ask(key: string, arg: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let q = this.queues.get(key);
      if (!q) {
        q = [];
        this.queues.set(key, q);
        // after the turn's other callers (setImmediate runs once pending I/O callbacks and
        // microtasks are done): a gathering point, not a wait for time
        setImmediate(() => void this.flush(key));
      }
      q.push({ arg, resolve, reject });
    });
  }

  private async flush(key: string): Promise<void> {
    const q = this.queues.get(key)!;
    this.queues.delete(key);
    try {
      const answers = await this.run(key, q.map((w) => w.arg));
      q.forEach((w, i) => w.resolve(answers[i]!));
    } catch (err) {
      for (const w of q) w.reject(err);
    }
  }
}
