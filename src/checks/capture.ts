/**
 * Packet captures that a verdict can rest on: tcpdump in a lab namespace, read until it
 * holds every packet the kernel handed it, never for a fixed time.
 *
 * Why: without immediate mode libpcap's TPACKET_V3 ring hands packets to tcpdump in
 * blocks (up to a 1 s timeout), and a signal that ends tcpdump before the block is
 * delivered loses them ("0 packets captured / 4 packets received by filter"): on a fast
 * machine the block happened to be delivered first, on another it never was. So every
 * capture runs with --immediate-mode and line-buffered output, and is drained before it
 * is stopped: tcpdump prints its statistics on SIGUSR1 ("N packets captured, M packets
 * received by filter, K packets dropped by kernel"); once captured + dropped reaches
 * received, everything the kernel's filter let through has been printed.
 *
 * Where a check needs more than "everything so far" (the way out needs the SYN of every
 * connection that was answered), `until` says what, and the drain waits for that too.
 */
import type { Backend, ProcessRecord } from '../backend/backend.js';
import { pollUntil } from '../wait.js';
import { captureArgv } from '../plan/captures.js';

export interface Capture {
  proc: ProcessRecord;
  target: string;
  file: string;
}

export interface CaptureStats {
  captured: number;
  received: number;
  dropped: number;
}

/** The last statistics tcpdump printed (on SIGUSR1, one line; at exit, three lines). */
export function parseCaptureStats(text: string): CaptureStats | null {
  const last = (what: string): number | null => {
    const all = [...text.matchAll(new RegExp(`(\\d+) packets? ${what}`, 'g'))];
    return all.length ? Number(all[all.length - 1]![1]) : null;
  };
  const captured = last('captured');
  const received = last('received by filter');
  const dropped = last('dropped by kernel');
  return captured === null || received === null ? null : { captured, received, dropped: dropped ?? 0 };
}

/** Whether the capture has printed every packet its filter let through. */
export function drained(s: CaptureStats | null): boolean {
  return s !== null && s.captured + s.dropped >= s.received;
}


/**
 * Starts tcpdump in `target` and waits until it says it is listening (its own readiness
 * line); throws with its log when it dies or does not get there within the bound.
 */
export async function startCapture(
  backend: Backend,
  target: string,
  iface: string,
  filter: string,
  file: string,
  opts: { extra?: string[]; readyMs?: number } = {},
): Promise<Capture> {
  const proc = await backend.startProcess(target, captureArgv(iface, filter, opts.extra), { logFile: file, role: 'capture' });
  const cap = { proc, target, file };
  const ready = await pollUntil(
    async () => {
      const text = (await backend.readFile(target, file)) ?? '';
      return text.includes('listening on') || !(await backend.isRunning(proc)) ? text : null;
    },
    { timeoutMs: opts.readyMs ?? 10000 },
  );
  if (!ready?.includes('listening on')) {
    await backend.stopProcesses([proc]);
    const log = ((await backend.readFile(target, file)) ?? '').trim().split('\n').slice(-2).join(' / ');
    throw new Error(`tcpdump on ${iface} in ${target} did not start${log ? `: ${log}` : ''}`);
  }
  return cap;
}

export interface DrainOptions {
  /** what the captures must also hold (their texts, in order), besides being drained */
  until?: (texts: string[]) => boolean;
  /** an upper bound: only a capture that never catches up waits this long */
  timeoutMs?: number;
}

/**
 * Asks each capture for its statistics until every one has printed all it received (and
 * `until` holds), twice in a row with the same counts: the captures are compared hop by
 * hop, so they must describe one moment after the flow, and the signals that cut them do
 * not arrive at once (a remote engine's capture is signalled through its API, seconds
 * after a local one under load: a reply seen on a VM's tap but not yet on the uplink its
 * bridge forwarded it to, read as "lost between them"). A second round with nothing new
 * anywhere shows every cut came after the last packet. Returns the texts and whether that
 * was reached within the bound.
 */
export async function drainCaptures(backend: Backend, caps: Capture[], opts: DrainOptions = {}): Promise<{ texts: string[]; complete: boolean }> {
  let texts: string[] = [];
  let counts: string | null = null;
  const statsCount = (t: string): number => (t.match(/packets? received by filter/g) ?? []).length;
  const done = await pollUntil(
    async () => {
      const before = await Promise.all(caps.map(async (c) => statsCount((await backend.readFile(c.target, c.file)) ?? '')));
      await Promise.all(caps.map((c) => backend.signal(c.proc, 'SIGUSR1')));
      // each capture answers with one statistics line: wait for it (or for its death)
      await pollUntil(
        async () => {
          const now = await Promise.all(caps.map((c) => backend.readFile(c.target, c.file)));
          const alive = await Promise.all(caps.map((c) => backend.isRunning(c.proc)));
          return now.every((t, i) => statsCount(t ?? '') > before[i]! || !alive[i]);
        },
        { timeoutMs: 2000, intervalMs: 5 },
      );
      texts = await Promise.all(caps.map(async (c) => (await backend.readFile(c.target, c.file)) ?? ''));
      const stats = texts.map((t) => parseCaptureStats(t));
      const now = stats.map((s) => s?.received ?? -1).join(',');
      const stable = now === counts;
      counts = now;
      return stable && stats.every((s) => drained(s)) && (opts.until?.(texts) ?? true);
    },
    { timeoutMs: opts.timeoutMs ?? 15_000, intervalMs: 20 },
  );
  return { texts, complete: done === true };
}

/** Drains, stops, and returns what each capture holds (statistics lines included). */
export async function finishCaptures(backend: Backend, caps: Capture[], opts: DrainOptions = {}): Promise<{ texts: string[]; complete: boolean }> {
  try {
    const { complete } = await drainCaptures(backend, caps, opts);
    await backend.stopProcesses(caps.map((c) => c.proc));
    // read again after the stop: tcpdump prints its final statistics as it ends
    const texts = await Promise.all(caps.map(async (c) => (await backend.readFile(c.target, c.file)) ?? ''));
    return { texts, complete };
  } catch (err) {
    await backend.stopProcesses(caps.map((c) => c.proc));
    throw err;
  }
}
