/**
 * Runs on this machine, from their state files and the namespaces that carry a flatlab
 * prefix: what `ls` lists, what `down` and `clean` remove, what `exec` and `check` enter.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ProcessRecord } from '../backend/backend.js';
import { flatlabAncestor, isSameProcess, netnsInode, pidsInNamespaces } from '../backend/procfs.js';
import { createBackend } from '../backend/registry.js';
import { UserError } from '../errors.js';
import { prefixOfNetns } from '../plan/names.js';
import { tearDown, type RunningLab } from './lab.js';
import { readStates, runtimeRoot, type RunState } from './state.js';

export type RunStatus = 'running' | 'kept' | 'dead';

export interface RunInfo {
  prefix: string;
  status: RunStatus;
  state: RunState | null;
  namespaces: string[];
}

async function flatlabNamespaces(): Promise<Map<string, string[]>> {
  const byPrefix = new Map<string, string[]>();
  let names: string[] = [];
  try {
    names = await readdir('/run/netns');
  } catch {
    // no namespaces at all
  }
  for (const n of names) {
    const p = prefixOfNetns(n);
    if (p) byPrefix.set(p, [...(byPrefix.get(p) ?? []), n]);
  }
  return byPrefix;
}

export async function listRuns(): Promise<RunInfo[]> {
  const [states, spaces] = await Promise.all([readStates(), flatlabNamespaces()]);
  const out: RunInfo[] = [];
  for (const s of states) {
    const ownerAlive = s.owner.startTicks !== null && (await isSameProcess(s.owner.pid, s.owner.startTicks));
    out.push({ prefix: s.prefix, status: ownerAlive ? 'running' : s.kept ? 'kept' : 'dead', state: s, namespaces: spaces.get(s.prefix) ?? [] });
    spaces.delete(s.prefix);
  }
  // namespaces with no state file: a run killed before it could write one, or whose state
  // was lost; still alive when a flatlab process holds processes in them (never removed)
  for (const [prefix, namespaces] of spaces) {
    const inodes = new Set<number>();
    for (const n of namespaces) {
      const ino = await netnsInode(n);
      if (ino !== null) inodes.add(ino);
    }
    const held = flatlabAncestor(await pidsInNamespaces(inodes), process.pid);
    out.push({ prefix, status: held === null ? 'dead' : 'running', state: null, namespaces });
  }
  return out.sort((a, b) => a.prefix.localeCompare(b.prefix));
}

export async function removeRun(run: RunInfo): Promise<void> {
  const backend = createBackend(run.state?.backend ?? 'netns', run.state?.backendOptions);
  if (run.state?.plan) backend.bind?.(run.state.plan);
  // a lab of another runtime dir keeps its files there
  const runtimeDir = run.state?.plan?.runtimeDir ?? join(runtimeRoot(), run.prefix);
  await tearDown(backend, run.prefix, runtimeDir, run.state?.processes ?? [], undefined, run.state?.stateFile);
}

/**
 * The kept lab a command means: the one given, or the only kept one there is. A lab that
 * another flatlab process is still running is not a kept lab: it is never picked by
 * default, and named it is refused unless `force` (it belongs to that process).
 */
export async function findKeptLab(prefix?: string, force = false): Promise<RunInfo & { state: RunState }> {
  const all = (await listRuns()).filter((r) => r.state && r.status !== 'dead');
  if (prefix) {
    const named = all.find((r) => r.prefix === prefix);
    if (!named) throw new UserError(`no live lab ${prefix} (flatlab ls lists them)`);
    if (named.status === 'running' && !force) {
      const o = named.state!.owner;
      throw new UserError(`${prefix} is being run by flatlab process ${o.pid}${named.state!.scenario ? ` (${named.state!.scenario})` : ''}, not kept: wait for it, or say --force`);
    }
    return named as RunInfo & { state: RunState };
  }
  const kept = all.filter((r) => r.status === 'kept');
  if (kept.length === 0) throw new UserError('no kept lab: start one with flatlab up SCENARIO');
  if (kept.length > 1) throw new UserError(`${kept.length} kept labs (${kept.map((r) => r.prefix).join(', ')}): say which with --run PREFIX`);
  return kept[0] as RunInfo & { state: RunState };
}

/** A kept lab as the checks need it: plan, backend and each guest's resident client. */
export function reattach(state: RunState): Pick<RunningLab, 'plan' | 'backend' | 'clients'> {
  const clients: Record<string, ProcessRecord> = {};
  for (const vm of state.plan.vms) {
    const p = state.processes.find((x) => (x.role === 'dhcp-client' || x.role === 'guest-init') && x.target === vm.netns);
    if (p) clients[vm.name] = p;
  }
  const backend = createBackend(state.backend, state.backendOptions);
  backend.bind?.(state.plan);
  return { plan: state.plan, backend, clients };
}
