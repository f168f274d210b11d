/**
 * The fabric across engines (plan.span): each share of it joined to the others by kernel
 * VXLAN over the underlay between the machines (plan/span.ts says what; this finds the
 * underlay's addresses and MTU, and builds it).
 *
 * A VXLAN device keeps its UDP socket in the namespace it was created in and can then be
 * moved into another (containerlab's vxlan links do the same). So each machine's device
 * is made where that machine's underlay is and moved into its fabric share at once:
 * - this machine: in the network namespace the run was given (`--underlay NETNS`), never
 *   the machine's root namespace;
 * - another engine: in that engine's host network, through a short-lived helper container
 *   on it (host network, host PIDs, NET_ADMIN and SYS_ADMIN (not --privileged, which this kind of machine refuses): it moves the device into the share's
 *   container by that engine's PID). Nothing of it stays once the device is moved.
 */
import { execa } from 'execa';
import { EnvironmentError } from '../../errors.js';
import { fabricNamespaces, vxlanCommands, SEGMENT_MTU, type VtepEnd } from '../../plan/span.js';
import type { Plan } from '../../plan/types.js';
import type { ExecResult } from '../backend.js';
import { ipBatch } from '../netns/ip.js';

export interface SpanSites {
  /** this machine's underlay: a network namespace, and its VXLAN address when given */
  underlay: { netns: string; address?: string };
  /** runs argv in an engine's underlay (its host network), with that engine's host PIDs */
  vtepExec(engine: string, argv: string[]): Promise<ExecResult>;
  /** the PID (on its engine's host) of a share's container, to move a device into it */
  pidOf(netns: string): number;
  /** runs ip or bridge lines in a share, wherever its name is known (here, or a remote engine's agent) */
  shareBatch(netns: string, tool: 'ip' | 'bridge', lines: string[]): Promise<void>;
}

/** Parses `ip -j route get` then `ip -j link show` (one JSON array per line). */
export function parseUnderlay(text: string, to: string): VtepEnd {
  const [routeLine, linksLine] = text.trim().split('\n');
  const route = (JSON.parse(routeLine ?? '[]') as { dev?: string; prefsrc?: string }[])[0];
  if (!route?.prefsrc || !route.dev) throw new Error(`no route to ${to}`);
  const link = (JSON.parse(linksLine ?? '[]') as { ifname: string; mtu: number }[]).find((l) => l.ifname === route.dev);
  return { address: route.prefsrc, underlayMtu: link?.mtu ?? SEGMENT_MTU };
}

/** This machine's end: the address given, else the only global IPv4 address of the underlay namespace. */
export async function homeEnd(u: SpanSites['underlay']): Promise<VtepEnd> {
  const r = await execa('ip', ['-n', u.netns, '-j', '-4', 'addr', 'show', 'scope', 'global'], { reject: false });
  if (r.exitCode !== 0) throw new EnvironmentError(`--underlay ${u.netns}: no such network namespace on this machine (${r.stderr.trim()})`, 'give the namespace that reaches the other engines (scripts/second-engine.sh makes flatlab-underlay-a)');
  const links = JSON.parse(r.stdout || '[]') as { ifname: string; mtu: number; addr_info: { local: string }[] }[];
  const all = links.flatMap((l) => l.addr_info.map((a) => ({ address: a.local, underlayMtu: l.mtu })));
  const chosen = u.address ? all.find((a) => a.address === u.address) : all.length === 1 ? all[0] : undefined;
  if (!chosen) {
    throw new EnvironmentError(
      u.address ? `--underlay ${u.netns}@${u.address}: ${u.netns} holds no such address (it has ${all.map((a) => a.address).join(', ') || 'none'})` : `--underlay ${u.netns}: ${all.length === 0 ? 'it holds no IPv4 address' : `it holds several addresses (${all.map((a) => a.address).join(', ')})`}`,
      `say which: --underlay ${u.netns}@ADDRESS`,
    );
  }
  return chosen;
}

/**
 * Builds the VXLAN of every segment in every share. Returns the MTU the segment keeps
 * across machines (below SEGMENT_MTU larger frames are lost between engines).
 */
export async function joinAcrossEngines(plan: Plan, s: SpanSites): Promise<number> {
  const span = plan.span!;
  const home = await homeEnd(s.underlay);
  const remote = await Promise.all(
    span.sites.map(async (site) => {
      const r = await s.vtepExec(site.engine, ['sh', '-c', 'ip -j route get "$1" && ip -j link show', 'sh', home.address]);
      try {
        if (r.exitCode !== 0) throw new Error(r.stderr.trim());
        return parseUnderlay(r.stdout, home.address);
      } catch (err) {
        throw new EnvironmentError(`engine ${site.engine}'s host has no way to this machine's underlay address ${home.address} (${(err as Error).message})`, `route the engines' underlay to each other, or give another address: --underlay ${s.underlay.netns}@ADDRESS`, { cause: err });
      }
    }),
  );
  const ends = [home, ...remote];
  let mtu = SEGMENT_MTU;
  await Promise.all(
    span.segments.flatMap((seg) =>
      fabricNamespaces(plan).map(async (share, i) => {
        // the first share is this machine's (a device moved by name); another engine's by its container's PID
        const c = vxlanCommands(seg, span.dstport, ends[i]!, ends.filter((_, j) => j !== i), i === 0 ? share : String(s.pidOf(share)));
        if (i === 0) await ipBatch(s.underlay.netns, c.underlay);
        else {
          const engine = span.sites[i - 1]!.engine;
          // the lines as arguments, printed into ip's batch: argv all the way, no shell parsing of them
          const r = await s.vtepExec(engine, ['sh', '-c', 'printf "%s\\n" "$@" | ip -batch -', 'sh', ...c.underlay]);
          if (r.exitCode !== 0) throw new Error(`the VXLAN on engine ${engine} failed: ${r.stderr.trim()}`);
        }
        // every share is a namespace name: on this machine (attached, where it is a
        // container), or on a remote engine's machine (attached in its agent)
        await s.shareBatch(share, 'ip', c.fabric);
        await s.shareBatch(share, 'bridge', c.fdb.map((argv) => argv.join(' ')));
        mtu = Math.min(mtu, c.mtu);
      }),
    ),
  );
  return mtu;
}
