/**
 * Docker engines, through dockerode: one client per engine a run names (`--engine
 * NAME=URL`), addressed by Docker's own conventions (unix:// sockets, tcp:// with TLS from
 * DOCKER_CERT_PATH and DOCKER_TLS_VERIFY, ssh:// as ssh-engine.ts says, the default from
 * DOCKER_HOST), and a clear error
 * when an engine does not answer.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { createRequire } from 'node:module';

/**
 * dockerode, loaded when an engine is first reached: it takes about a third of a second
 * to load, which every command not touching Docker (validate, plan, a netns run) would
 * pay at start otherwise. It is CommonJS, so a synchronous require serves connect().
 */
let dockerode: typeof Docker | undefined;
function Dockerode(): typeof Docker {
  dockerode ??= createRequire(import.meta.url)('dockerode') as typeof Docker;
  return dockerode;
}
import { EnvironmentError, UserError } from '../../errors.js';
import { DEFAULT_ENGINE, defaultEngineUrl } from '../../backends.js';
import { sshHttpAgent, sshOptions, sshTarget, type SshTarget } from './ssh-engine.js';

/** An engine a run may place nodes on. */
export interface EngineSpec {
  name: string;
  url: string;
  /** its containers are not processes of this machine (decided at preflight, kept in the run's state) */
  remote?: boolean;
  /** the image its nodes run when not flatlab-node (a remote engine's, with the assets baked in) */
  image?: string;
}

export { DEFAULT_ENGINE, defaultEngineUrl } from '../../backends.js';

/** dockerode's options for an engine URL, as the docker CLI reads it (pure but for the certificate paths). */
export interface EngineAddress {
  socketPath?: string;
  host?: string;
  port?: number;
  protocol?: 'http' | 'https';
  /** ca.pem, cert.pem, key.pem under this folder (DOCKER_CERT_PATH, default ~/.docker) */
  certPath?: string;
  /** ssh://: `docker system dial-stdio` there over ssh (ssh-engine.ts) */
  ssh?: SshTarget;
}

export function engineAddress(url: string, env: NodeJS.ProcessEnv = process.env): EngineAddress {
  const m = /^(unix|tcp|ssh):\/\/(.+)$/.exec(url);
  if (!m) throw new UserError(`engine URL "${url}": Docker's forms are unix:///path/to/docker.sock, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT]`);
  if (m[1] === 'ssh') {
    const ssh = sshTarget(url);
    if (!ssh) throw new UserError(`engine URL "${url}": expected ssh://[USER@]HOST[:PORT]`);
    return { ssh };
  }
  if (m[1] === 'unix') {
    if (!m[2]!.startsWith('/')) throw new UserError(`engine URL "${url}": a unix socket needs an absolute path (unix:///run/docker.sock)`);
    return { socketPath: m[2]! };
  }
  const hp = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?\/?$/.exec(m[2]!);
  if (!hp) throw new UserError(`engine URL "${url}": expected tcp://HOST:PORT`);
  // as the docker CLI: TLS, verifying the engine against ca.pem, when DOCKER_TLS_VERIFY is
  // set (non-empty); DOCKER_CERT_PATH only says where the files are
  const tls = Boolean(env.DOCKER_TLS_VERIFY);
  return {
    host: hp[1]!.replace(/^\[|\]$/g, ''),
    port: hp[2] ? Number(hp[2]) : tls ? 2376 : 2375,
    protocol: tls ? 'https' : 'http',
    ...(tls ? { certPath: env.DOCKER_CERT_PATH || join(homedir(), '.docker') } : {}),
  };
}

export function connect(url: string = defaultEngineUrl()): Docker {
  const a = engineAddress(url);
  const Docker = Dockerode();
  if (a.socketPath) return new Docker({ socketPath: a.socketPath });
  // plain HTTP over the ssh channels of sshHttpAgent (the host and port only name the engine in the URL)
  if (a.ssh) return new Docker({ protocol: 'http', host: a.ssh.host, port: a.ssh.port, agent: sshHttpAgent(a.ssh, sshOptions(url, a.ssh)) } as Docker.DockerOptions);
  const tls = a.certPath
    ? (() => {
        try {
          return { ca: readFileSync(join(a.certPath!, 'ca.pem')), cert: readFileSync(join(a.certPath!, 'cert.pem')), key: readFileSync(join(a.certPath!, 'key.pem')) };
        } catch (err) {
          throw new EnvironmentError(`engine ${url}: cannot read its TLS files in ${a.certPath} (${(err as NodeJS.ErrnoException).code ?? err})`, 'set DOCKER_CERT_PATH to the folder with ca.pem, cert.pem and key.pem', { cause: err });
        }
      })()
    : {};
  return new Docker({ host: a.host!, port: a.port!, protocol: a.protocol!, ...tls });
}

export async function ensureEngine(docker: Docker, url: string = defaultEngineUrl(), name?: string): Promise<void> {
  try {
    await docker.ping();
  } catch (err) {
    throw new EnvironmentError(
      `no Docker engine answers${name ? ` for engine ${name}` : ''} at ${url} (${(err as Error).message})`,
      name && name !== DEFAULT_ENGINE ? `start it, or correct --engine ${name}=URL` : 'install and start one: apt-get install -y docker.io && dockerd & (or set DOCKER_HOST)',
      { cause: err },
    );
  }
}

/**
 * Why an engine is not this machine's, or null: its own account of its host (`docker
 * info`: Name is its UTS hostname, KernelVersion its kernel) differs from this machine's.
 * An engine in a network namespace of this machine (scripts/second-engine.sh) shares
 * both and is local; scripts/remote-engine.sh's has a hostname of its own and is remote.
 * Pure, so that the decision is made at preflight (preflight.ts).
 */
export function elsewhereProblem(info: { Name?: string; KernelVersion?: string }, here: { hostname: string; kernel: string }): string | null {
  const differs: string[] = [];
  if (info.Name !== undefined && info.Name !== here.hostname) differs.push(`its host is "${info.Name}", this machine is "${here.hostname}"`);
  if (info.KernelVersion !== undefined && info.KernelVersion !== here.kernel) differs.push(`its kernel is ${info.KernelVersion}, this machine's ${here.kernel}`);
  return differs.length ? `runs its containers on another machine (${differs.join('; ')})` : null;
}

/** Collects a dockerode progress stream (build, import) and fails on its first error. */
export function followProgress(docker: Docker, stream: NodeJS.ReadableStream, onLine?: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (err: Error | null, out: { error?: string; errorDetail?: { message?: string } }[]) => {
        const failed = out?.find((o) => o.error);
        if (err) reject(err);
        else if (failed) reject(new Error(failed.errorDetail?.message ?? failed.error));
        else resolve();
      },
      (e: { stream?: string; status?: string }) => {
        const line = (e.stream ?? e.status ?? '').trim();
        if (line && onLine) onLine(line);
      },
    );
  });
}
