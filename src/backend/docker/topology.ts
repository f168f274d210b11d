/**
 * How the Docker backend builds a plan's topology (realise.ts's TopologyOps): which
 * containers hold the targets and where each batch of the one realiser runs. A target
 * on a local engine is reached by its name on this machine (a container's namespace
 * attached under the plan's name); one on a remote engine through the run's agent
 * there, which holds the same names for that machine (agent.ts).
 */
import { mkdir } from 'node:fs/promises';
import { ASSETS_DIR, NATIVE_DIR } from '../../assets.js';
import { SEGMENT_MTU } from '../../plan/span.js';
import type { Plan } from '../../plan/types.js';
import type { NetnsBackend } from '../netns/netns-backend.js';
import { bridgeBatch, ipBatch } from '../netns/ip.js';
import type { TopologyOps } from '../realise.js';
import { agentName, sysctlScript, type Agent } from './agent.js';
import type { Containers } from './containers.js';
import type { EngineSpec } from './engine.js';
import { NODE_IMAGE } from './image.js';
import { joinAcrossEngines } from './span-fabric.js';
import type { Where } from './where.js';

/** What the topology needs of the backend. */
export interface TopologyHost {
  machine: NetnsBackend;
  containers: Containers;
  where: Where;
  engines: EngineSpec[];
  /** --underlay NETNS[@ADDRESS], for a lab over several engines */
  underlay?: string | undefined;
}

/**
 * Where the realiser's work goes: the machine's namespaces and the nodes' (attached
 * under their plan names) through the machine backend; a node's own batch inside its
 * container, where its guests' namespaces are; a guest's sysctls inside its container,
 * one shell per container walking its guests.
 */
export function dockerTopology(h: TopologyHost): TopologyOps {
  return {
    createTargets: async (plan) => {
      await mkdir(plan.runtimeDir, { recursive: true, mode: 0o755 });
      const hostNs = [plan.fabric.netns, ...[plan.external, plan.dhcpServer].flatMap((x) => (x ? [x.netns] : []))];
      const sites = plan.span?.sites ?? [];
      const [, nodePids, sitePids] = await Promise.all([
        ipBatch(null, hostNs.map((ns) => `netns add ${ns}`)),
        Promise.all(plan.nodes.map((n) => startNode(h, plan, n.netns, n.name))),
        // each engine's share of the fabric: a container holding a network namespace
        Promise.all(sites.map((site) => h.containers.start(site.engine, plan, site.netns, `fabric-${site.engine}`, {}, !h.where.agents.has(site.engine)))),
        startAgents(h, plan),
      ]);
      // the containers' namespaces under the plan's names: the plan's wiring names them so
      // (here, or in the agent of the remote engine they run on, by that machine's PIDs)
      const named: [string, number][] = [...plan.nodes.map((n, i) => [n.netns, nodePids[i]!] as [string, number]), ...sites.map((site, i) => [site.netns, sitePids[i]!] as [string, number])];
      await Promise.all([
        ipBatch(null, named.filter(([ns]) => !h.where.agentOf(ns)).map(([ns, pid]) => `netns attach ${ns} ${pid}`)),
        ...[...h.where.agents].map(([engine, agent]) => agent.attach(named.filter(([ns]) => h.containers.engineOf.get(ns) === engine))),
      ]);
      await Promise.all(plan.nodes.map((n) => h.containers.batch(n.netns, plan.vms.filter((v) => v.node === n.name).map((v) => `netns add ${v.netns}`))));
    },
    // a node's batch in its container; a remote share of the fabric's in its agent
    // (placed there, inside its namespace); the machine's namespaces here
    batch: (target, lines) => {
      const p = h.where.of(target);
      if (p && !p.vmNetns) return h.containers.batch(p.container, lines);
      return h.where.agentOf(target)?.batch(target, lines) ?? ipBatch(target, lines);
    },
    setSysctls: async (entries) => {
      const inContainers = new Map<string, [string, Record<string, string>][]>();
      const onMachine: [string, Record<string, string>][] = [];
      const inAgents = new Map<Agent, [string, Record<string, string>][]>();
      for (const e of entries) {
        const p = h.where.of(e[0]);
        const agent = h.where.agentOf(e[0]);
        if (p?.vmNetns) inContainers.set(p.container, [...(inContainers.get(p.container) ?? []), e]);
        else if (agent) inAgents.set(agent, [...(inAgents.get(agent) ?? []), e]);
        else onMachine.push(e);
      }
      await Promise.all([
        ...onMachine.map(([target, values]) => h.machine.setSysctls(target, values)),
        ...[...inAgents].map(([agent, list]) => agent.sysctls(list)),
        ...[...inContainers].map(async ([container, list]) => {
          const argv = sysctlScript(list);
          const r = argv ? await h.containers.exec(container, argv) : null;
          if (r && r.exitCode !== 0) throw new Error(`sysctls of the guests in ${container} failed: ${r.stderr.trim()}`);
        }),
      ]);
    },
    joinFabric: async (plan) => {
      const [name, address] = h.underlay!.split('@') as [string, string | undefined];
      const vteps = new Map<string, string>();
      try {
        // one helper per other local engine, in its host network: where that machine's
        // underlay is (a remote engine's agent is there already)
        await Promise.all(
          plan.span!.sites.filter((site) => !h.where.agents.has(site.engine)).map(async (site) => {
            const helper = `${plan.prefix}-vtep-${site.engine}`;
            // in the host's network it has the host's hostname: the hostname check does not apply
            await h.containers.start(site.engine, plan, helper, `vtep-${site.engine}`, { NetworkMode: 'host', PidMode: 'host', CapAdd: ['NET_ADMIN', 'SYS_ADMIN'], SecurityOpt: ['apparmor=unconfined'] }, false);
            vteps.set(site.engine, helper);
          }),
        );
        const mtu = await joinAcrossEngines(plan, {
          underlay: { netns: name, ...(address ? { address } : {}) },
          vtepExec: (engine, argv) => h.where.agents.get(engine)?.host(argv) ?? h.containers.exec(vteps.get(engine)!, argv),
          pidOf: (netns) => h.containers.pids.get(netns)!,
          shareBatch: (netns, tool, lines) => h.where.agentOf(netns)?.batch(netns, lines, tool) ?? (tool === 'ip' ? ipBatch(netns, lines) : bridgeBatch(netns, lines)),
        });
        if (mtu < SEGMENT_MTU) process.stderr.write(`flatlab: the underlay between engines leaves the fabric ${mtu} bytes (not ${SEGMENT_MTU}): larger frames are lost between engines; give the underlay ${SEGMENT_MTU + 50}\n`);
      } finally {
        await Promise.all([...vteps.values()].map((v) => h.containers.remove(v)));
      }
    },
  };
}

/** Creates and starts a node's container on its engine; returns its PID on that engine's machine. */
async function startNode(h: TopologyHost, plan: Plan, name: string, node: string): Promise<number> {
  const engine = h.containers.engineOf.get(name) ?? h.engines[0]!.name;
  const remote = h.where.agents.has(engine);
  const pid = await h.containers.start(
    engine,
    plan,
    name,
    node,
    {
      // ip netns, bridges, iptables and tcpdump inside the node; mount for ip netns exec
      CapAdd: ['NET_ADMIN', 'NET_RAW', 'SYS_ADMIN'],
      SecurityOpt: ['apparmor=unconfined'],
      // a remote engine cannot mount this machine's folders: its image holds the assets,
      // and the runtime directory is the container's own (read and written through exec)
      ...(remote ? {} : { Binds: [`${ASSETS_DIR}:${ASSETS_DIR}:ro`, `${NATIVE_DIR}:${NATIVE_DIR}:ro`, `${plan.runtimeDir}:${plan.runtimeDir}`] }),
    },
    !remote,
    h.engines.find((e) => e.name === engine)?.image ?? NODE_IMAGE,
  );
  // sysctls (ip_forward, bridge-nf-call-iptables) are the node's own: make /proc/sys writable in it
  const r = await h.containers.exec(name, ['sh', '-c', 'mount -o remount,rw /proc/sys && mkdir -p "$0"', plan.runtimeDir]);
  if (r.exitCode !== 0) throw new Error(`cannot make /proc/sys writable in ${name}: ${r.stderr.trim()}`);
  return pid;
}

/** The run's agent on each remote engine: that machine's host network and PIDs (agent.ts). */
async function startAgents(h: TopologyHost, plan: Plan): Promise<void> {
  await Promise.all(
    [...h.where.agents].map(async ([engine, agent]) => {
      await h.containers.start(engine, plan, agentName(plan.prefix, engine), `agent-${engine}`, { NetworkMode: 'host', PidMode: 'host', CapAdd: ['NET_ADMIN', 'SYS_ADMIN', 'SYS_PTRACE'], SecurityOpt: ['apparmor=unconfined'] }, false);
      await agent.prepare();
    }),
  );
}

