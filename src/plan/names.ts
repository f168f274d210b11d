/** Names a run gives to what it creates. All of them start with the run's prefix. */

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
 * nova's `sanitize_hostname` (nova/utils.py): spaces and underscores become dashes,
 * other odd characters go, lower case, no leading/trailing dots or dashes.
 */
export function sanitizeHostname(name: string): string {
  return name
    .replace(/[ _]/g, '-')
    .replace(/[^\w.-]+/g, '')
    .toLowerCase()
    .replace(/^[.-]+|[.-]+$/g, '');
}

/** libvirt names guest taps vnet0, vnet1, ... in creation order on each host. */
export function tapName(index: number): string {
  return `vnet${index}`;
}
