/** nova's own names for things a scenario names. */

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
