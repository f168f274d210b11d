/**
 * What every hop-by-hop trace needs (a flow's, a lease's): one capture per hop started at
 * once and read until complete, and the settings of a node that decide a path.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Backend } from '../backend/backend.js';
import { parseIpJsonBatch } from '../backend/vm-state.js';
import { finishCaptures, startCapture, type Capture } from '../checks/capture.js';
import type { Plan } from '../plan/types.js';
import type { NodeFacts } from './evidence.js';
import type { Hop } from './flow.js';

export async function nodeFacts(backend: Backend, plan: Plan, name: string): Promise<NodeFacts> {
  const n = plan.nodes.find((x) => x.name === name)!;
  const [links, fwd, udp, log] = await Promise.all([
    backend.exec(n.netns, ['ip', '-j', '-batch', '-'], { input: `link show dev ${n.uplink}\naddr show dev ${n.bridge}\n` }),
    backend.exec(n.netns, ['sysctl', '-n', 'net.ipv4.ip_forward', 'net.bridge.bridge-nf-call-iptables']),
    n.dhcp ? backend.exec(n.netns, ['ss', '-H', '-uln', 'sport = :67']) : Promise.resolve(null),
    n.dhcp ? backend.readFile(n.netns, `${n.dhcp.dir}/dnsmasq.stderr`) : Promise.resolve(null),
  ]);
  const listening = udp ? udp.stdout.trim() !== '' : undefined;
  const dhcp = listening === undefined ? {} : { dhcpListening: listening, ...(listening ? {} : { dhcpLog: (log ?? '').trim().split('\n').pop() ?? '' }) };
  const [forwarding, bridgeNf] = fwd.stdout.trim().split('\n');
  const [link, addr] = parseIpJsonBatch(links.stdout);
  const l = link?.[0] as { master?: string; flags?: string[] } | undefined;
  const info = ((addr?.[0] as { addr_info?: { family: string; local: string }[] } | undefined)?.addr_info ?? []).filter((a) => a.family === 'inet');
  return { uplink: n.uplink, uplinkMaster: l?.master ?? null, uplinkUp: (l?.flags ?? []).includes('UP'), bridgeAddresses: info.map((a) => a.local), ipForward: forwarding === '1', bridgeNf: bridgeNf === '1', ...dhcp };
}

/**
 * One capture per hop, all started at once (each ready once tcpdump says it listens),
 * `act` run meanwhile, every capture read until it has printed what its filter let
 * through, and each written beside the results (`NN-<hop>.txt`). A hop that cannot be
 * captured (tcpdump refuses a device that is down) sees nothing: that is evidence too,
 * kept with its reason.
 */
export async function captureHops(
  backend: Backend,
  plan: Plan,
  hops: Hop[],
  filter: string,
  name: string,
  captures: string,
  act: () => Promise<void>,
): Promise<{ texts: string[]; complete: boolean; unavailable: Map<number, string> }> {
  // Captures are written where every target of every backend sees files (the run's
  // runtime dir, shared with containers), then copied beside the results.
  const work = join(plan.runtimeDir, 'diagnosis', `${name}-${Date.now().toString(36)}`);
  await Promise.all([mkdir(captures, { recursive: true }), mkdir(work, { recursive: true, mode: 0o755 })]);
  const files = hops.map((h, i) => join(work, `${String(i + 1).padStart(2, '0')}-${h.label.replace(/[^\w.-]+/g, '_')}.txt`));
  const started = await Promise.allSettled(hops.map((h, i) => startCapture(backend, h.target, h.iface, filter, files[i]!, { extra: ['-e'] })));
  const caps = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const unavailable = new Map(started.flatMap((r, i) => (r.status === 'rejected' ? [[i, r.reason instanceof Error ? r.reason.message : String(r.reason)] as const] : [])));
  let texts: string[];
  let complete: boolean;
  try {
    await act();
    // read every capture until it has printed all that its filter let through
    const finished = await finishCaptures(backend, caps as Capture[]);
    complete = finished.complete;
    // back in hop order, an empty text where no capture ran
    let k = 0;
    texts = hops.map((_, i) => (unavailable.has(i) ? '' : (finished.texts[k++] ?? '')));
  } catch (err) {
    await backend.stopProcesses(caps.map((c) => c.proc));
    throw err;
  }
  await Promise.all(files.map((f, i) => writeFile(join(captures, basename(f)), unavailable.has(i) ? `no capture: ${unavailable.get(i)}\n` : (texts[i] ?? ''))));
  return { texts, complete, unavailable };
}

