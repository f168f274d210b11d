/** Names a run gives to what it creates. All of them start with the run's prefix. */

export { sanitizeHostname } from '../nova/hostname.js';

export const PREFIX_ROOT = 'fl-';
/** `fl-` + 6 hex digits: short enough to leave room for node and VM names. */
export function runPrefix(runId: string): string {
  return `${PREFIX_ROOT}${runId}`;
}

/** Namespace of a node, VM or the fabric: `fl-1a2b3c-compute1`. */
export function netnsName(prefix: string, name: string): string {
  return `${prefix}-${name}`;
}

/** The run prefix a namespace name belongs to, if it is flatlab's. */
export function prefixOfNetns(ns: string): string | undefined {
  const m = /^(fl-[0-9a-f]{6})-/.exec(ns);
  return m?.[1];
}

/**
 * A guest's tap: libvirt's own vnet0, vnet1, ... in creation order on each host, in every
 * release (nova-network gives libvirt no target dev: releases.ts, tapNames).
 */
export function tapName(index: number): string {
  return `vnet${index}`;
}
