/** Backends by name, as containerlab's runtime registry: one contract, one folder each. */
import { UserError } from '../errors.js';
import type { Backend, BackendOptions } from './backend.js';
import type { BackendName } from '../backends.js';
import { NetnsBackend } from './netns/netns-backend.js';
import { DockerBackend } from './docker/docker-backend.js';
import { buildDockerImage } from './docker/image.js';

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
  return factory(options);
}
