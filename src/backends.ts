/**
 * The backends a scenario may name (`backend:`), written once: the scenario schema
 * validates against it, and the registry must hold a factory for each (a type checks it).
 */
export const BACKENDS = ['netns', 'docker'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** A Docker engine's name (--engine NAME=URL, a scenario's placement:): it appears in namespace and container names. */
export const ENGINE_NAME = /^[a-z][a-z0-9]{0,7}$/;
