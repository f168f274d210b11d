/**
 * Run state files, one per run under <runtime root>/runs/<prefix>.json, written before
 * anything is created and updated as processes start. `flatlab ls`, `down`, `exec` and
 * `clean` work from them; a run whose owner process is gone is a leftover.
 */
import { statfsSync, statSync } from 'node:fs';
import { appendFile, mkdir, open, readdir, readFile, readlink, rm, stat, symlink, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { BackendOptions, ProcessRecord } from '../backend/backend.js';
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

/**
 * Where every flatlab on the machine finds every lab, whatever its runtime dir: one
 * symbolic link per run, named by its prefix, to its state file. `ls`, `down` and `clean`
 * of one runtime dir see (and respect) the live labs of another.
 */
const REGISTRY_DIR = '/run/flatlab-labs';

/** The registry: FLATLAB_REGISTRY_DIR only for tests that run labs of a fake backend without root. */
function registryDir(): string {
  return process.env.FLATLAB_REGISTRY_DIR ?? REGISTRY_DIR;
}

export interface RunState {
  prefix: string;
  scenario: string;
  variant: string;
  file: string;
  backend: string;
  /** where the backend put things (Docker engines): a later process reaches the same places */
  backendOptions?: BackendOptions;
  /** the flatlab process that owns the run, with its start time, user and checkout */
  owner: { pid: number; startTicks: string | null; user?: string; checkout?: string; cwd?: string };
  /** where this state file is (set when read) */
  stateFile?: string;
  /** `flatlab up`: the lab outlives its owner on purpose, until `flatlab down` */
  kept: boolean;
  createdAt: string;
  processes: ProcessRecord[];
  /** the plan's target names, to map `flatlab exec NAME` to a namespace */
  targets: Record<string, string>;
  /** the variant's results folder (absolute): `diagnose` puts its captures beside the run's */
  resultsDir?: string;
  /** the whole plan, so `flatlab check` can observe a kept lab again */
  plan: Plan;
  /**
   * written before anything is removed: the process tearing the lab down. If it dies
   * half way (killed), the lab is a leftover `clean` finishes, never a live one.
   */
  tearingDown?: { pid: number; startTicks: string | null };
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

/**
 * The run's process journal beside its state file: one JSON line per process started
 * since the state file was last written whole. A thousand guests' processes appended a
 * line each, where rewriting the state file (three megabytes at 16x64: the plan) for each
 * was, once those writes were fast, hundreds of megabytes a second of copying in the
 * DHCP phase. Readers add its lines to the state's processes (readState).
 */
export function journalPath(stateFile: string): string {
  return stateFile.replace(/\.json$/, '') + '.procs';
}

/** Records a started process: a line in the journal (the state file itself is written whole only when the run's state changes). */
export async function appendProcess(state: RunState, p: ProcessRecord): Promise<void> {
  await appendFile(journalPath(statePath(state.prefix)), JSON.stringify(p) + '\n');
}

/** Each plan's bytes in the state file, made once: a plan does not change once its lab is being built. */
const planBytes = new WeakMap<object, Buffer>();

/**
 * The state file's bytes, in parts. `kept` first, alone on the second line: the reaper
 * polls it several times a second with the shell's `read`, a byte per system call, and
 * reads no further (assets/reaper). The plan is encoded once per run and the rest without
 * indentation: the file is rewritten as processes start, and at a thousand guests
 * re-encoding three megabytes of plan, indented, for every write was most of flatlab's
 * own CPU in the DHCP phase (--cpu-prof, 16x64: JSON.stringify, Buffer writes, GC).
 */
export function stateParts(state: RunState): Buffer[] {
  const { kept, plan, ...rest } = state;
  const parts: Buffer[] = [Buffer.from(`{\n  "kept": ${JSON.stringify(kept ?? false)},\n`)];
  if (typeof plan === 'object' && plan !== null) {
    let bytes = planBytes.get(plan);
    if (!bytes) {
      bytes = Buffer.from(`  "plan": ${JSON.stringify(plan)},\n`);
      planBytes.set(plan, bytes);
    }
    parts.push(bytes);
  }
  parts.push(Buffer.from(`  ${JSON.stringify(rest).slice(1)}\n`));
  return parts;
}

/** The state file's text. */
export function serialise(state: RunState): string {
  return Buffer.concat(stateParts(state)).toString('utf8');
}

async function writeNow(state: RunState): Promise<void> {
  await mkdir(stateDir(), { recursive: true, mode: 0o755 });
  // named by the writer's PID: `clean` removes the .tmp of a writer that died mid-write
  const tmp = `${statePath(state.prefix)}.${process.pid}.tmp`;
  const parts = stateParts(state);
  const file = await open(tmp, 'w');
  try {
    const { bytesWritten } = await file.writev(parts);
    const total = parts.reduce((n, b) => n + b.length, 0);
    // writev to a regular file writes all or fails; a short write is an error, not a state file
    if (bytesWritten !== total) throw new Error(`${tmp}: ${bytesWritten} of ${total} bytes written`);
  } finally {
    await file.close();
  }
  await rename(tmp, statePath(state.prefix));
  await register(state.prefix);
}

const registered = new Set<string>();
/** The machine-wide link to a run's state file (once per run). */
async function register(prefix: string): Promise<void> {
  if (registered.has(prefix)) return;
  await mkdir(registryDir(), { recursive: true, mode: 0o755 });
  const link = join(registryDir(), `${prefix}.json`);
  try {
    await symlink(statePath(prefix), link);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  registered.add(prefix);
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

/** Removes a run's state file (where it is, default this runtime dir's) and its registry link. */
export async function removeState(prefix: string, file = statePath(prefix)): Promise<void> {
  const w = writers.get(prefix);
  if (w?.next) await w.next.done.catch(() => undefined);
  await w?.running?.catch(() => undefined);
  writers.delete(prefix);
  registered.delete(prefix);
  // the link first: made after the file, removed before it, it never points at nothing
  // while its writer lives (a dangling link is what a killed writer leaves: clean's to remove)
  await rm(join(registryDir(), `${prefix}.json`), { force: true });
  await rm(file, { force: true });
  await rm(journalPath(file), { force: true });
}

async function readState(file: string): Promise<RunState | null> {
  let state: RunState;
  try {
    state = { ...(JSON.parse(await readFile(file, 'utf8')) as RunState), stateFile: file };
  } catch {
    // a state file being written, or damaged: clean handles the namespaces anyway
    return null;
  }
  const journal = await readFile(journalPath(file), 'utf8').catch(() => '');
  const known = new Set(state.processes.map((p) => `${p.pid} ${p.startTicks}`));
  for (const line of journal.split('\n')) {
    let p: ProcessRecord;
    try {
      p = JSON.parse(line) as ProcessRecord;
    } catch {
      continue; // the empty last line, or one a killed writer left half written
    }
    if (known.has(`${p.pid} ${p.startTicks}`)) continue;
    known.add(`${p.pid} ${p.startTicks}`);
    state.processes.push(p);
  }
  return state;
}

/** Every run's state: this runtime dir's, and through the registry every other one's. */
export async function readStates(): Promise<RunState[]> {
  const byPrefix = new Map<string, RunState>();
  const own = await readdir(stateDir()).catch(() => [] as string[]);
  for (const f of own.filter((f) => f.endsWith('.json'))) {
    const s = await readState(join(stateDir(), f));
    if (s) byPrefix.set(s.prefix, s);
  }
  for (const f of (await readdir(registryDir()).catch(() => [] as string[])).filter((f) => f.endsWith('.json'))) {
    if (byPrefix.has(f.slice(0, -5))) continue;
    const target = await readlink(join(registryDir(), f)).catch(() => null);
    const s = target ? await readState(target) : null;
    if (s) byPrefix.set(s.prefix, s);
  }
  return [...byPrefix.values()];
}

/**
 * What killed runs leave besides labs: `.tmp` state files of writers that are gone, and
 * registry links whose state file is gone. Returns what was removed.
 */
export async function removeStaleFiles(isAlive: (pid: number) => boolean, prefix?: string, dryRun = false): Promise<string[]> {
  const removed: string[] = [];
  const mine = (f: string): boolean => prefix === undefined || f.startsWith(`${prefix}.`);
  for (const f of (await readdir(stateDir()).catch(() => [] as string[])).filter(mine)) {
    const m = /\.(\d+)\.tmp$/.exec(f) ?? (/\.json\.tmp$/.test(f) ? [f, '0'] : null);
    // a journal whose state file is gone: its run was removed by a process killed between the two
    const orphan = f.endsWith('.procs') && !(await stat(join(stateDir(), f.replace(/\.procs$/, '.json'))).then(() => true, () => false));
    if (orphan || (m && !isAlive(Number(m[1])))) {
      if (!dryRun) await rm(join(stateDir(), f), { force: true });
      removed.push(join(stateDir(), f));
    }
  }
  for (const f of (await readdir(registryDir()).catch(() => [] as string[])).filter(mine)) {
    const link = join(registryDir(), f);
    const target = await readlink(link).catch(() => null);
    if (target && !(await stat(target).then(() => true, () => false))) {
      if (!dryRun) await rm(link, { force: true });
      removed.push(link);
    }
  }
  return removed;
}

export function targetsOf(plan: Plan): Record<string, string> {
  const t: Record<string, string> = { fabric: plan.fabric.netns };
  for (const site of plan.span?.sites ?? []) t[`fabric-${site.engine}`] = site.netns;
  for (const n of plan.nodes) t[n.name] = n.netns;
  for (const v of plan.vms) t[v.name] = v.netns;
  for (const h of [plan.external, plan.dhcpServer]) if (h) t[h.name] = h.netns;
  return t;
}

/**
 * dnsmasq drops to nobody and reads its hosts files from the runtime dir, so every folder
 * above a run's files must let other users through (o+x). Returns the first that does not.
 */
export function untraversable(dir: string = runtimeRoot()): string | null {
  let d = dir;
  for (;;) {
    try {
      if ((statSync(d).mode & 0o001) === 0) return d;
    } catch {
      // not there yet: made by the run with the right mode
    }
    const up = dirname(d);
    if (up === d) return null;
    d = up;
  }
}
