/**
 * The backends a scenario may name (`backend:`), written once: the scenario schema
 * validates against it, and the registry must hold a factory for each (a type checks it).
 */
export const BACKENDS = ['netns', 'docker'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** A Docker engine's name (--engine NAME=URL, a scenario's placement:): it appears in namespace and container names. */
export const ENGINE_NAME = /^[a-z][a-z0-9]{0,7}$/;

/** The engine's name when a run gives none: the machine's own (DOCKER_HOST or the socket). */
export const DEFAULT_ENGINE = 'local';

/** Where the engine of that name is: DOCKER_HOST, as the docker CLI reads it, else the local socket. */
export function defaultEngineUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_HOST || 'unix:///var/run/docker.sock';
}
