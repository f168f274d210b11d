/**
 * The Docker engine, through dockerode: the socket from DOCKER_HOST or the default, and
 * a clear error when no engine answers.
 */
import Docker from 'dockerode';
import { EnvironmentError } from '../../errors.js';

export function connect(): Docker {
  // dockerode reads DOCKER_HOST (unix:// or tcp://) itself and defaults to /var/run/docker.sock
  return new Docker();
}

export async function ensureEngine(docker: Docker): Promise<void> {
  try {
    await docker.ping();
  } catch (err) {
    throw new EnvironmentError(
      `no Docker engine answers at ${process.env.DOCKER_HOST ?? '/var/run/docker.sock'} (${(err as Error).message})`,
      'install and start one: apt-get install -y docker.io && dockerd & (or set DOCKER_HOST)',
    );
  }
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
