/**
 * The run's containers on its engines, through the Docker API: one dockerode client per
 * engine, each container's engine and host PID, creating and starting them (labelled
 * with the run's prefix), running commands in them (output demultiplexed, input on the
 * exec's own hijacked stream, never a shared file; a command past its bound killed, not
 * left running), and removing a run's containers with every failure told.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { EnvironmentError } from '../../errors.js';
import type { Plan } from '../../plan/types.js';
import type { ExecResult } from '../backend.js';
import { connect, type EngineSpec } from './engine.js';
import { engineCall } from './engine-call.js';
import { NODE_IMAGE } from './image.js';
import { withRemovalLock } from './removal-lock.js';
import { Session } from './session.js';

export const RUN_LABEL = 'org.flatlab.run';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface ContainerExecOptions {
  env?: Record<string, string>;
  /** written to the command's stdin, which is then closed */
  input?: string;
  /** the command is killed past this bound and the result says timedOut */
  timeoutMs?: number;
  /** stdout as the command wrote it (a file's content); by default its trailing white space is trimmed */
  exact?: boolean;
  /** an exec of the container's own, never another way in (a process that must live in its PID namespace and cgroup) */
  ownExec?: boolean;
}

/** Runs a command in a container another way than an exec of its own; null: it cannot now. */
export type ContainerRunner = (cmd: string[], opts: ContainerExecOptions) => Promise<ExecResult | null>;

export class Containers {
  private readonly clients = new Map<string, Docker>();
  /** container name -> the engine it runs on */
  readonly engineOf = new Map<string, string>();
  /** container name -> its init's PID on its engine's machine */
  readonly pids = new Map<string, number>();
  /**
   * Kills a command a bounded exec started, by the PID its engine reports: here for an
   * engine of this machine; the docker backend routes a remote engine's to its agent.
   */
  kill: (engine: string, pid: number) => Promise<void> = async (_engine, pid) => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  };

  /** the run's engines (as preflight found them, once it has: remote ones marked) */
  constructor(public engines: EngineSpec[]) {
    for (const e of engines) this.clients.set(e.name, connect(e.url));
  }

  /** An engine's client; an engine the run does not have is an error, never another engine. */
  client(engine: string): Docker {
    const c = this.clients.get(engine);
    if (!c) throw new Error(`no engine "${engine}" in this run (engines: ${this.engines.map((e) => e.name).join(', ')})`);
    return c;
  }

  /** The client of the engine a container runs on (the first engine's, for one not placed). */
  of(container: string): Docker {
    return this.client(this.engineOf.get(container) ?? this.engines[0]!.name);
  }

  /**
   * Creates and starts a container of the run on an engine (labelled with the run's
   * prefix, so destroy finds it on every engine); returns its PID on the engine's host.
   * That PID must be one of this machine's (`checkHere`): flatlab watches processes by PID
   * and shares files through the runtime directory, so every engine must run on this
   * machine (a second engine in its own network namespace, as scripts/second-engine.sh starts).
   */
  async start(engine: string, plan: Plan, name: string, role: string, host: Docker.HostConfig, checkHere = true, image = NODE_IMAGE): Promise<number> {
    this.engineOf.set(name, engine);
    const docker = this.client(engine);
    const c = await engineCall(engine, `creating container ${name}`, (abortSignal) => docker.createContainer({
      abortSignal,
      name,
      Image: image,
      Hostname: role,
      Labels: { [RUN_LABEL]: plan.prefix, 'org.flatlab.node': role, 'org.flatlab.scenario': plan.scenario },
      Cmd: ['sleep', 'infinity'],
      // no Docker network, no published port: flatlab wires the node itself
      HostConfig: { NetworkMode: 'none', Init: true, ...host },
    }));
    await engineCall(engine, `starting container ${name}`, (abortSignal) => c.start({ abortSignal }));
    const pid = (await engineCall(engine, `inspecting container ${name}`, (abortSignal) => c.inspect({ abortSignal }))).State.Pid;
    this.pids.set(name, pid);
    if (!checkHere) return pid;
    const seen = (await readFile(`/proc/${pid}/root/etc/hostname`, 'utf8').catch(() => '')).trim();
    if (seen !== role) {
      throw new EnvironmentError(
        `engine ${engine} runs its containers on another machine (its container ${name} is not process ${pid} here)`,
        'flatlab watches processes by PID and shares files through its runtime directory: every engine must run on this machine (scripts/second-engine.sh starts one in its own network namespace)',
      );
    }
    return pid;
  }

  /** A container's PID on this machine: as started, or asked of its engine (a lab this process did not build). */
  async pidOf(container: string): Promise<number | undefined> {
    if (!this.pids.has(container)) {
      const pid = (await this.of(container).getContainer(container).inspect().catch(() => null))?.State.Pid;
      if (pid) this.pids.set(container, pid);
    }
    return this.pids.get(container);
  }

  /** Another way into a container, when there is one (a remote engine's agent session: session.ts). */
  via: (container: string) => Promise<ContainerRunner | null> = async () => null;

  /** Runs a command in a container to completion, through the engine's exec (or `via`). */
  async exec(container: string, cmd: string[], opts: ContainerExecOptions = {}): Promise<ExecResult> {
    if (!opts.ownExec) {
      const runner = await this.via(container);
      const r = runner ? await runner(cmd, opts) : null;
      if (r) return opts.exact ? r : { ...r, stdout: r.stdout.trimEnd() };
    }
    const t0 = performance.now();
    const docker = this.of(container);
    const exec = await docker.getContainer(container).exec({
      Cmd: cmd,
      AttachStdout: true,
      AttachStderr: true,
      AttachStdin: opts.input !== undefined,
      ...(opts.env ? { Env: Object.entries(opts.env).map(([k, v]) => `${k}=${v}`) } : {}),
    });
    const stream = (await exec.start({ hijack: true, stdin: opts.input !== undefined })) as Duplex;
    let stdout = '';
    let stderr = '';
    const out = new PassThrough();
    const err = new PassThrough();
    out.on('data', (b: Buffer) => (stdout += b.toString()));
    err.on('data', (b: Buffer) => (stderr += b.toString()));
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        docker.modem.demuxStream(stream, out, err);
        stream.on('end', () => resolve());
        stream.on('error', reject);
        // the input, then end of file: the engine closes the command's stdin on the half-close
        if (opts.input !== undefined) stream.end(opts.input);
        if (opts.timeoutMs) {
          // a bound on a command that never ends (a probe's own timeout failed): kill it where it runs
          timer = setTimeout(() => {
            timedOut = true;
            const engine = this.engineOf.get(container) ?? this.engines[0]!.name;
            void exec.inspect().then((i) => (i.Pid ? this.kill(engine, i.Pid) : undefined)).catch(() => undefined);
          }, opts.timeoutMs);
        }
      });
    } finally {
      clearTimeout(timer);
    }
    const info = await exec.inspect();
    return { exitCode: timedOut ? -1 : (info.ExitCode ?? -1), stdout: opts.exact ? stdout : stdout.trimEnd(), stderr: timedOut ? `${stderr}timed out after ${opts.timeoutMs} ms` : stderr, durationMs: performance.now() - t0, timedOut };
  }

  /** A shell answering requests in the container (session.ts), on an exec of its own kept open. */
  async openSession(container: string, script: string): Promise<Session> {
    const docker = this.of(container);
    const exec = await docker.getContainer(container).exec({ Cmd: ['sh', '-c', script], AttachStdin: true, AttachStdout: true, AttachStderr: true });
    const stream = (await exec.start({ hijack: true, stdin: true })) as Duplex;
    const output = new PassThrough();
    // the shell's own complaints are not answers: dropped (each request's stderr is in its answer)
    docker.modem.demuxStream(stream, output, new PassThrough().resume());
    stream.on('end', () => output.end());
    return new Session({ input: stream, output }, `the session in ${container}`);
  }

  /** Runs iproute2 lines inside a container: one `ip -batch -`, the lines on its stdin. */
  async batch(container: string, lines: string[]): Promise<void> {
    if (lines.length === 0) return;
    const r = await this.exec(container, ['ip', '-batch', '-'], { input: lines.join('\n') + '\n' });
    if (r.exitCode !== 0) throw new Error(`ip -batch in ${container} failed: ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`);
  }

  /** Starts a command in a container, detached; its host PID (0: it never ran). */
  async startDetached(container: string, cmd: string[], env?: Record<string, string>): Promise<number> {
    const exec = await this.of(container).getContainer(container).exec({ Cmd: cmd, AttachStdout: false, AttachStderr: false, ...(env ? { Env: Object.entries(env).map(([k, v]) => `${k}=${v}`) } : {}) });
    await exec.start({ Detach: true });
    let pid = 0;
    // the engine reports the PID once the process runs: polled (5 ms, 1.5 s at most), no event says it
    for (let i = 0; i < 300 && pid === 0; i++) {
      pid = (await exec.inspect()).Pid ?? 0;
      if (pid === 0) await sleep(5);
    }
    return pid;
  }

  /** Removes a container (gone already is fine); any other failure is thrown, naming it. */
  async remove(container: string): Promise<void> {
    const engine = this.engines.find((e) => e.name === this.engineOf.get(container)) ?? this.engines[0]!;
    await this.removeOn(engine, container, container);
  }

  /**
   * One container removed: one at a time per engine across this machine's flatlab
   * processes (removal-lock.ts: Debian 12's engine can deadlock on two removals at once),
   * bounded (engine-call.ts); gone already is fine.
   */
  private async removeOn(engine: EngineSpec, id: string, name: string): Promise<void> {
    const docker = this.client(engine.name);
    await withRemovalLock(engine.url, () => engineCall(engine.name, `removing container ${name}`, (abortSignal) => docker.getContainer(id).remove({ force: true, abortSignal }))).catch(
      (err: { statusCode?: number; message: string }) => {
        if (err.statusCode !== 404) throw new Error(`container ${name} on engine ${engine.name} could not be removed: ${err.message}`, { cause: err });
      },
    );
  }

  /**
   * Removes the run's containers on every engine; `before` runs with each engine's
   * containers first (to stop what lives in them). Every engine is tried; the failures
   * (an engine that does not answer, a container that stays) are returned, each naming it.
   */
  async removeRun(prefix: string, before: (docker: Docker, ids: string[], engine: EngineSpec) => Promise<void>): Promise<string[]> {
    const results = await Promise.allSettled(
      this.engines.map(async (e) => {
        const docker = this.client(e.name);
        const containers = await engineCall(e.name, `listing the containers of ${prefix}`, (abortSignal) => docker.listContainers({ all: true, filters: { label: [`${RUN_LABEL}=${prefix}`] }, abortSignal })).catch((err: Error) => {
          throw new Error(`engine ${e.name} (${e.url}) did not answer: ${err.message}`, { cause: err });
        });
        await before(docker, containers.map((c) => c.Id), e);
        const removed = await Promise.allSettled(containers.map((c) => this.removeOn(e, c.Id, c.Names[0]?.replace(/^\//, '') ?? c.Id)));
        const failed = removed.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
        if (failed.length) throw new Error(failed.join('; '));
      }),
    );
    return results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
  }
}

/**
 * The network namespaces (inodes) of the VMs inside these containers, for an engine of
 * this machine. A PID its engine reports is looked at here only when it is that
 * container here (its /etc/hostname is the container's): a remote engine's PID is some
 * other process of this machine, whose namespaces are not the run's.
 */
export async function guestNamespaces(docker: Docker, ids: string[]): Promise<Set<number>> {
  const inodes = new Set<number>();
  await Promise.all(
    ids.map(async (id) => {
      const info = await docker.getContainer(id).inspect().catch(() => null);
      const pid = info?.State.Pid;
      if (!pid) return;
      const seen = (await readFile(`/proc/${pid}/root/etc/hostname`, 'utf8').catch(() => '')).trim();
      if (seen !== info.Config.Hostname) return;
      const dir = `/proc/${pid}/root/run/netns`;
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        const ino = (await stat(join(dir, name)).catch(() => null))?.ino;
        if (ino) inodes.add(ino);
      }
    }),
  );
  return inodes;
}
