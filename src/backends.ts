/**
 * The backends a scenario may name (`backend:`), written once: the scenario schema
 * validates against it, and the registry must hold a factory for each (a type checks it).
 */
export const BACKENDS = ['netns', 'docker'] as const;
export type BackendName = (typeof BACKENDS)[number];
