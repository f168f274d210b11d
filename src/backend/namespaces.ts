/**
 * The machine's named network namespaces, written once for both backends and for the
 * registry of runs: where a name lives (/run/netns/NAME, as `ip netns` keeps them), the
 * names there, each one's identity (its inode), whether a process has entered its target,
 * and the processes left in a set of namespaces (found by namespace identity, never by
 * name). Reads /proc and /run/netns only; nothing is spawned.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import type { ProcessRecord } from './backend.js';
import { pidNetnsInode, pidsInNamespaces, startTicks } from './procfs.js';

/** where `ip netns` names namespaces */
export const NETNS_DIR = '/run/netns';

/** The file that names a namespace. */
export function nsPath(name: string): string {
  return `${NETNS_DIR}/${name}`;
}

/** Every named namespace of the machine (none: an empty list). */
export async function listNamespaces(): Promise<string[]> {
  return readdir(NETNS_DIR).catch(() => [] as string[]);
}

/** The names that carry `prefix-` (a run's). */
export async function namespacesWithPrefix(prefix: string): Promise<string[]> {
  return (await listNamespaces()).filter((n) => n.startsWith(`${prefix}-`));
}

/** The inode that identifies a named network namespace, or null when it is gone. */
export async function netnsInode(name: string): Promise<number | null> {
  return (await stat(nsPath(name)).catch(() => null))?.ino ?? null;
}

/** The inodes of these names (the ones that still exist). */
export async function inodesOf(names: string[]): Promise<Set<number>> {
  const inodes = await Promise.all(names.map(netnsInode));
  return new Set(inodes.filter((i): i is number => i !== null));
}

/**
 * Whether a started process already lives in its target namespace. Right after the spawn
 * it is still one of `wrappers` on its way in (`ip netns exec`; in a container also the
 * `sh` that redirects its output), and /proc/PID/net may show another namespace: nothing
 * read there may count as the lab's. `inode`: the target's identity when it is not named
 * on this machine (a VM inside a container).
 */
export async function inTarget(proc: ProcessRecord, inode?: number | null, wrappers: readonly string[] = ['ip']): Promise<boolean> {
  const [mine, target, comm] = await Promise.all([
    pidNetnsInode(proc.pid),
    inode !== undefined ? Promise.resolve(inode) : netnsInode(proc.target),
    readFile(`/proc/${proc.pid}/comm`, 'utf8').catch(() => ''),
  ]);
  return mine !== null && mine === target && !wrappers.includes(comm.trim());
}

/** The processes of this machine living in these namespaces (by inode), as records to stop by PID and start time. */
export async function processesIn(inodes: Set<number>): Promise<ProcessRecord[]> {
  const procs: ProcessRecord[] = [];
  for (const pid of await pidsInNamespaces(inodes)) {
    const ticks = await startTicks(pid);
    if (ticks) procs.push({ pid, startTicks: ticks, role: 'leftover', target: '' });
  }
  return procs;
}
