/**
 * Where each of a plan's targets lives in a Docker lab: a node is its container, a VM a
 * namespace inside its node's container, a share of the fabric a container on its
 * engine; the machine's own namespaces (the fabric, the external host) are absent. On a
 * remote engine, what the machine's /proc and /run/netns do for a local one is the run's
 * agent there (agent.ts).
 */
import type { Plan } from '../../plan/types.js';
import { Agent, agentName } from './agent.js';
import type { ContainerRunner, Containers } from './containers.js';
import { SESSION_SCRIPT, SessionPool } from './session.js';
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
  /** remote engine -> the sessions in its agent */
  private readonly sessions = new Map<string, SessionPool>();
  private prefix = '';

  constructor(private readonly containers: Containers) {}

  /** Learns where each of the plan's targets lives (also for a lab built earlier). */
  bind(plan: Plan, engines: EngineSpec[]): void {
    this.placements = new Map();
    this.prefix = plan.prefix;
    const home = engines[0]!.name;
    for (const n of plan.nodes) {
      this.placements.set(n.netns, { container: n.netns });
      this.containers.engineOf.set(n.netns, plan.span?.placement[n.name] ?? home);
    }
    for (const v of plan.vms) this.placements.set(v.netns, { container: plan.nodes.find((n) => n.name === v.node)!.netns, vmNetns: v.netns });
    // a share of the fabric is a container holding a namespace, reached by its attached name
    for (const site of plan.span?.sites ?? []) this.containers.engineOf.set(site.netns, site.engine);
    this.close();
    this.sessions.clear();
    this.agents.clear();
    for (const e of engines.filter((x) => x.remote)) {
      const name = agentName(plan.prefix, e.name);
      this.containers.engineOf.set(name, e.name);
      this.agents.set(e.name, new Agent((argv, input) => this.containers.exec(name, argv, input !== undefined ? { input } : {}), e.name));
      this.sessions.set(e.name, new SessionPool(() => this.containers.openSession(name, SESSION_SCRIPT)));
    }
    // a remote engine's share of the fabric is a namespace named in its agent: what runs
    // there (a fault's ebtables, a capture) runs in the agent, inside that namespace
    for (const site of plan.span?.sites ?? []) {
      if (this.agents.has(site.engine)) this.placements.set(site.netns, { container: agentName(plan.prefix, site.engine), vmNetns: site.netns });
    }
  }

  /**
   * How to run a command in a container on a remote engine without an exec of its own:
   * through a session in the run's agent there (session.ts), inside the container's mount,
   * UTS, IPC, network and PID namespaces (`nsenter` by its init's PID on that machine; the
   * agent has that machine's PIDs; the PID namespace too, since the container's /proc is
   * its: `ip` opens /proc/self). Not its cgroup: such a command is short and bounded; what
   * must live in the container is started by an exec of its own (ownExec).
   * null: a local engine's container, or no session to be had (the caller execs).
   */
  async runnerFor(container: string): Promise<ContainerRunner | null> {
    const engine = this.containers.engineOf.get(container);
    const pool = engine === undefined ? undefined : this.sessions.get(engine);
    if (!pool) return null;
    const enter = container === agentName(this.prefix, engine!) ? [] : ['nsenter', '-t', String(await this.containers.pidOf(container)), '-m', '-u', '-i', '-n', '-p', '--'];
    return async (cmd, opts) => {
      // the bound kills the command inside (timeout exits 137 then; outside it would kill
      // only nsenter, which forked the command into the PID namespace); env as env sets it
      const bound = opts.timeoutMs ? ['timeout', '-s', 'KILL', (opts.timeoutMs / 1000).toFixed(2)] : [];
      const env = opts.env ? ['env', ...Object.entries(opts.env).map(([k, v]) => `${k}=${v}`)] : [];
      const r = await pool.run([...enter, ...bound, ...env, ...cmd], opts.input);
      return r && opts.timeoutMs ? { ...r, timedOut: r.exitCode === 137 } : r;
    };
  }

  /** Ends the agents' sessions (their sockets would keep this process alive); used again, they reopen. */
  close(): void {
    for (const pool of this.sessions.values()) pool.close();
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
