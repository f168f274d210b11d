/**
 * Where each of a plan's targets lives in a Docker lab: a node is its container, a VM a
 * namespace inside its node's container, a share of the fabric a container on its
 * engine; the machine's own namespaces (the fabric, the external host) are absent. On a
 * remote engine, what the machine's /proc and /run/netns do for a local one is the run's
 * agent there (agent.ts).
 */
import type { Plan } from '../../plan/types.js';
import { Agent, agentName } from './agent.js';
import type { Containers } from './containers.js';
import type { EngineSpec } from './engine.js';

export interface Placement {
  container: string;
  /** the namespace inside the container, when the target is a VM (or a remote engine's share of the fabric, in its agent) */
  vmNetns?: string;
}

export class Where {
  /** plan target (namespace name) -> where it lives; the machine's namespaces are absent */
  private placements = new Map<string, Placement>();
  /** remote engine -> the run's agent there */
  readonly agents = new Map<string, Agent>();

  constructor(private readonly containers: Containers) {}

  /** Learns where each of the plan's targets lives (also for a lab built earlier). */
  bind(plan: Plan, engines: EngineSpec[]): void {
    this.placements = new Map();
    const home = engines[0]!.name;
    for (const n of plan.nodes) {
      this.placements.set(n.netns, { container: n.netns });
      this.containers.engineOf.set(n.netns, plan.span?.placement[n.name] ?? home);
    }
    for (const v of plan.vms) this.placements.set(v.netns, { container: plan.nodes.find((n) => n.name === v.node)!.netns, vmNetns: v.netns });
    // a share of the fabric is a container holding a namespace, reached by its attached name
    for (const site of plan.span?.sites ?? []) this.containers.engineOf.set(site.netns, site.engine);
    this.agents.clear();
    for (const e of engines.filter((x) => x.remote)) {
      const name = agentName(plan.prefix, e.name);
      this.containers.engineOf.set(name, e.name);
      this.agents.set(e.name, new Agent((argv, input) => this.containers.exec(name, argv, input !== undefined ? { input } : {}), e.name));
    }
    // a remote engine's share of the fabric is a namespace named in its agent: what runs
    // there (a fault's ebtables, a capture) runs in the agent, inside that namespace
    for (const site of plan.span?.sites ?? []) {
      if (this.agents.has(site.engine)) this.placements.set(site.netns, { container: agentName(plan.prefix, site.engine), vmNetns: site.netns });
    }
  }

  of(target: string): Placement | undefined {
    return this.placements.get(target);
  }

  /** The run's agent where a target lives, when that is a remote engine. */
  agentOf(target: string): Agent | undefined {
    const p = this.placements.get(target);
    const engine = this.containers.engineOf.get(p ? p.container : target);
    return engine === undefined ? undefined : this.agents.get(engine);
  }
}
