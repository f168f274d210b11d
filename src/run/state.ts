/**
 * Run state files, one per run under <runtime root>/runs/<prefix>.json, written before
 * anything is created and updated as processes start. `flatlab ls`, `down`, `exec` and
 * `clean` work from them; a run whose owner process is gone is a leftover.
 */
import { statfsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { ProcessRecord } from '../backend/backend.js';
import type { Plan } from '../plan/types.js';

export const DEFAULT_RUNTIME_ROOT = '/run/flatlab';
/** where the runtime files go when /run is not in memory */
export const SHM_RUNTIME_ROOT = '/dev/shm/flatlab';

const TMPFS_MAGIC = 0x01021994;
function inMemory(dir: string): boolean {
  try {
    return statfsSync(dir).type === TMPFS_MAGIC;
  } catch {
    return false;
  }
}

let chosen: string | undefined;
/**
 * The runtime root: FLATLAB_RUNTIME_DIR, else /run/flatlab where /run is a tmpfs (as on
 * a systemd machine), else /dev/shm/flatlab. A run creates a directory and a few files
 * per VM there; on a disk file system (this machine's /run is ext4, where creating a
 * thousand small files after earlier runs deleted theirs costs seconds of CPU) that is
 * a large share of a 1000-VM run.
 */
export function runtimeRoot(): string {
  if (process.env.FLATLAB_RUNTIME_DIR) return process.env.FLATLAB_RUNTIME_DIR;
  chosen ??= inMemory('/run') || !inMemory('/dev/shm') ? DEFAULT_RUNTIME_ROOT : SHM_RUNTIME_ROOT;
  return chosen;
}

export interface RunState {
  prefix: string;
  scenario: string;
  variant: string;
  file: string;
  backend: string;
  /** the flatlab process that owns the run, with its start time */
  owner: { pid: number; startTicks: string | null };
  /** `flatlab up`: the lab outlives its owner on purpose, until `flatlab down` */
  kept: boolean;
  createdAt: string;
  processes: ProcessRecord[];
  /** the plan's target names, to map `flatlab exec NAME` to a namespace */
  targets: Record<string, string>;
  /** the whole plan, so `flatlab check` can observe a kept lab again */
  plan: Plan;
}

function stateDir(): string {
  return join(runtimeRoot(), 'runs');
}

export function statePath(prefix: string): string {
  return join(stateDir(), `${prefix}.json`);
}

/**
 * Writes of one run's state. Updates that arrive while a write is under way are
 * coalesced into one next write of the latest state: a run that starts a thousand
 * processes writes its (large) state file a few times, not a thousand.
 */
interface Writer {
  running: Promise<void> | null;
  next: { state: RunState; done: Promise<void>; resolve: () => void; reject: (e: unknown) => void } | null;
}
const writers = new Map<string, Writer>();

async function writeNow(state: RunState): Promise<void> {
  await mkdir(stateDir(), { recursive: true, mode: 0o755 });
  const tmp = `${statePath(state.prefix)}.tmp`;
  await writeFile(tmp, JSON.stringify(state, null, 2));
  await rename(tmp, statePath(state.prefix));
}

export function writeState(state: RunState): Promise<void> {
  let w = writers.get(state.prefix);
  if (!w) {
    w = { running: null, next: null };
    writers.set(state.prefix, w);
  }
  const writer = w;
  if (writer.next) return writer.next.done;
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  writer.next = { state, done, resolve, reject };
  const pump = async (): Promise<void> => {
    while (writer.next) {
      const job = writer.next;
      writer.next = null;
      try {
        await writeNow(job.state);
        job.resolve();
      } catch (err) {
        job.reject(err);
      }
    }
    writer.running = null;
  };
  if (!writer.running) writer.running = pump();
  return done;
}

export async function removeState(prefix: string): Promise<void> {
  const w = writers.get(prefix);
  if (w?.next) await w.next.done.catch(() => undefined);
  await w?.running?.catch(() => undefined);
  writers.delete(prefix);
  await rm(statePath(prefix), { force: true });
}

export async function readStates(): Promise<RunState[]> {
  let files: string[];
  try {
    files = await readdir(stateDir());
  } catch {
    return [];
  }
  const out: RunState[] = [];
  for (const f of files.filter((f) => f.endsWith('.json'))) {
    try {
      out.push(JSON.parse(await readFile(join(stateDir(), f), 'utf8')) as RunState);
    } catch {
      // a state file being written, or damaged: clean handles the namespaces anyway
    }
  }
  return out;
}

export function targetsOf(plan: Plan): Record<string, string> {
  const t: Record<string, string> = { fabric: plan.fabric.netns };
  for (const n of plan.nodes) t[n.name] = n.netns;
  for (const v of plan.vms) t[v.name] = v.netns;
  for (const h of [plan.external, plan.dhcpServer]) if (h) t[h.name] = h.netns;
  return t;
}
