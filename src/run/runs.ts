/**
 * Runs on this machine, from their state files and the namespaces that carry a flatlab
 * prefix: what `ls` lists, what `down` and `clean` remove, what `exec` and `check` enter.
 */
import { userInfo } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { ProcessRecord } from '../backend/backend.js';
import { flatlabAncestor, isSameProcess, pidsInNamespaces, startTicks } from '../backend/procfs.js';
import { inodesOf, listNamespaces } from '../backend/namespaces.js';
import { createBackend } from '../backend/registry.js';
import { UserError } from '../errors.js';
import { prefixOfNetns } from '../plan/names.js';
import { tearDown } from './lab.js';
import type { RunningLab } from './running-lab.js';
import { readStates, runtimeRoot, writeState, type RunState } from './state.js';

export type RunStatus = 'running' | 'kept' | 'dead';

export interface RunInfo {
  prefix: string;
  status: RunStatus;
  state: RunState | null;
  namespaces: string[];
}

async function flatlabNamespaces(): Promise<Map<string, string[]>> {
  const byPrefix = new Map<string, string[]>();
  for (const n of await listNamespaces()) {
    const p = prefixOfNetns(n);
    if (p) byPrefix.set(p, [...(byPrefix.get(p) ?? []), n]);
  }
  return byPrefix;
}

export async function listRuns(): Promise<RunInfo[]> {
  const [states, spaces] = await Promise.all([readStates(), flatlabNamespaces()]);
  const out: RunInfo[] = [];
  for (const s of states) {
    const alive = async (p: { pid: number; startTicks: string | null }): Promise<boolean> => p.startTicks !== null && (await isSameProcess(p.pid, p.startTicks));
    const ownerAlive = await alive(s.owner);
    // a teardown under way is the tearing process's; one whose process died is a leftover
    const status: RunStatus = s.tearingDown ? ((await alive(s.tearingDown)) ? 'running' : 'dead') : ownerAlive ? 'running' : s.kept ? 'kept' : 'dead';
    out.push({ prefix: s.prefix, status, state: s, namespaces: spaces.get(s.prefix) ?? [] });
    spaces.delete(s.prefix);
  }
  // namespaces with no state file: a run killed before it could write one, or whose state
  // was lost; still alive when a flatlab process holds processes in them (never removed)
  for (const [prefix, namespaces] of spaces) {
    const held = flatlabAncestor(await pidsInNamespaces(await inodesOf(namespaces)), process.pid);
    out.push({ prefix, status: held === null ? 'dead' : 'running', state: null, namespaces });
  }
  return out.sort((a, b) => a.prefix.localeCompare(b.prefix));
}

export async function removeRun(run: RunInfo): Promise<void> {
  // recorded before anything is removed: a teardown killed half way leaves a lab `ls`
  // and `clean` know for a leftover, not one that looks kept
  if (run.state) await writeState({ ...run.state, tearingDown: { pid: process.pid, startTicks: await startTicks(process.pid) } });
  const backend = createBackend(run.state?.backend ?? 'netns', run.state?.backendOptions);
  if (run.state?.plan) backend.bind?.(run.state.plan);
  // a lab of another runtime dir keeps its files there
  const runtimeDir = run.state?.plan?.runtimeDir ?? join(runtimeRoot(), run.prefix);
  await tearDown(backend, run.prefix, runtimeDir, run.state?.processes ?? [], undefined, run.state?.stateFile);
}

/** Who a command runs as and from where: a lab is "mine" when both match its owner's. */
export interface Caller {
  user: string;
  checkout: string;
}

/** The caller of this process: its user and the flatlab installation it runs from. */
export function thisCaller(): Caller {
  return { user: userInfo().username, checkout: CHECKOUT };
}

/** The flatlab installation this code runs from (a checkout, or an installed package). */
export const CHECKOUT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');

/** Whether a lab was started by the same user from the same checkout. */
export function isMine(state: RunState, caller: Caller): boolean {
  return state.owner.user === caller.user && state.owner.checkout === caller.checkout;
}

/** `fl-1a2b3c (flatdhcp-multihost, root, /work/main, 3 min old)`: enough to tell whose a lab is. */
export function describeOwner(r: RunInfo & { state: RunState }, now = Date.now()): string {
  const o = r.state.owner;
  const age = Math.max(0, Math.round((now - Date.parse(r.state.createdAt)) / 60000));
  return `${r.prefix} (${r.state.scenario}, user ${o.user ?? '?'}, checkout ${o.checkout ?? '?'}, ${age < 1 ? 'under a minute' : `${age} min`} old)`;
}

/**
 * The kept lab a command means. Named (`--run`): that one; another user's or another
 * checkout's only with `othersToo` (down's --force), and one another flatlab process is
 * still running only with `force`. Unnamed: the only kept lab of this user and checkout;
 * another process's lab on the same machine is someone's CI run, so labs that are not
 * mine are listed and never picked.
 */
export async function findKeptLab(prefix?: string, force = false, opts: { othersToo?: boolean; caller?: Caller } = {}): Promise<RunInfo & { state: RunState }> {
  const caller = opts.caller ?? thisCaller();
  const all = (await listRuns()).filter((r): r is RunInfo & { state: RunState } => r.state !== null && r.status !== 'dead');
  if (prefix) {
    const named = all.find((r) => r.prefix === prefix);
    if (!named) {
      const ls = await listRuns();
      const half = ls.find((r) => r.prefix === prefix);
      if (half) throw new UserError(`${prefix} is not a live lab (${half.state?.tearingDown ? 'torn down halfway' : 'its owner is gone'}): flatlab clean --run ${prefix} removes what is left`);
      throw new UserError(`no lab ${prefix} (flatlab ls lists them)`);
    }
    if (named.status === 'running' && !force) {
      const o = named.state.owner;
      throw new UserError(`${prefix} is being run by flatlab process ${o.pid}${named.state.scenario ? ` (${named.state.scenario})` : ''}, not kept: wait for it, or say --force`);
    }
    if (!isMine(named.state, caller) && opts.othersToo === false) {
      throw new UserError(`${describeOwner(named)} is not yours: it belongs to user ${named.state.owner.user ?? '?'} of ${named.state.owner.checkout ?? '?'}; say --force to remove it all the same`);
    }
    return named;
  }
  const kept = all.filter((r) => r.status === 'kept');
  const mine = kept.filter((r) => isMine(r.state, caller));
  const others = kept.filter((r) => !isMine(r.state, caller));
  // one line per lab of someone else: a listing, not one long line cut at the terminal's width
  const theirs = others.length ? ['labs of other users or checkouts, never picked without --run:', ...others.map((r) => `  ${describeOwner(r)}`)] : [];
  if (mine.length === 1) return mine[0]!;
  if (mine.length > 1) throw new UserError([`${mine.length} kept labs of yours (${mine.map((r) => r.prefix).join(', ')}): say which with --run PREFIX`, ...theirs]);
  throw new UserError([`no kept lab of yours (user ${caller.user}, checkout ${caller.checkout}): start one with flatlab up SCENARIO`, ...theirs]);
}

/** A kept lab as the checks need it: plan, backend and each guest's resident client. */
export function reattach(state: RunState): Pick<RunningLab, 'plan' | 'backend' | 'clients'> {
  const clients: Record<string, ProcessRecord> = {};
  for (const vm of state.plan.vms) {
    const p = state.processes.find((x) => ((x.role === 'dhcp-client' || x.role === 'guest-init') && x.target === vm.netns) || (x.role === 'guest-vm' && x.owner === vm.name));
    if (p) clients[vm.name] = p;
  }
  const backend = createBackend(state.backend, state.backendOptions);
  backend.bind?.(state.plan);
  return { plan: state.plan, backend, clients };
}
