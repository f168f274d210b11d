/** Backends by name, as containerlab's runtime registry: one contract, one folder each. */
import { UserError } from '../errors.js';
import type { Backend } from './backend.js';
import { NetnsBackend } from './netns/netns-backend.js';
import { DockerBackend } from './docker/docker-backend.js';

const factories: Record<string, () => Backend> = {
  netns: () => new NetnsBackend(),
  docker: () => new DockerBackend(),
};

export function backendNames(): string[] {
  return Object.keys(factories);
}

export function createBackend(name: string): Backend {
  const factory = factories[name];
  if (!factory) throw new UserError(`unknown backend "${name}" (available: ${backendNames().join(', ')})`);
  return factory();
}
