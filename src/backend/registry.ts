/** Backends by name, as containerlab's runtime registry: one contract, one folder each. */
import { UserError } from '../errors.js';
import type { Backend, BackendOptions } from './backend.js';
import type { BackendName } from '../backends.js';
import { NetnsBackend } from './netns/netns-backend.js';
import { DockerBackend } from './docker/docker-backend.js';
import { buildDockerImage } from './docker/image.js';
import { withVmGuests } from './vm-guests.js';

// one factory for every name a scenario may give (BACKENDS), or this does not compile
const builtIn: Record<BackendName, (options: BackendOptions) => Backend> = {
  netns: (options) => {
    if (options.engines?.length || options.underlay) throw new UserError('--engine and --underlay place nodes on Docker engines: use them with --backend docker');
    return new NetnsBackend();
  },
  docker: (options) => new DockerBackend(options),
};
const factories: Record<string, (options: BackendOptions) => Backend> = { ...builtIn };

/** Adds a backend (a test's fake; a runtime of a plug-in) under a name. */
export function registerBackend(name: string, factory: (options: BackendOptions) => Backend): void {
  factories[name] = factory;
}

export function backendNames(): string[] {
  return Object.keys(factories);
}

/**
 * What a variant run costs on each backend, relative to netns, for balancing a suite's
 * shards. Measured on this project's 2-core machine with `suite --backend all`: the 17
 * shipped scenarios took 28 s on netns and 104 s on Docker (containers, their exec
 * round-trips), about 1 to 4 (as issue #26 measured it). A backend that does not say weighs as netns.
 */
const runWeights: Record<string, number> = { netns: 1, docker: 4 };

export function runWeight(backend: string): number {
  return runWeights[backend] ?? 1;
}

/** Images a backend builds before its first run (`flatlab image build`), by backend. */
const images: Record<string, (log: (line: string) => void) => Promise<string>> = {
  docker: buildDockerImage,
};

/** Builds the image a backend needs; returns a line saying what was built. */
export async function buildBackendImage(name: string, log: (line: string) => void): Promise<string> {
  const build = images[name];
  if (!build) throw new UserError(`backend "${name}" needs no image (images: ${Object.keys(images).join(', ')})`);
  return build(log);
}

export function createBackend(name: string, options: BackendOptions = {}): Backend {
  const factory = factories[name];
  if (!factory) throw new UserError(`unknown backend "${name}" (available: ${backendNames().join(', ')})`);
  // vm guests are answered by their agents whatever built the lab (vm-guests.ts)
  return withVmGuests(factory(options));
}
