/**
 * Whether this process is the machine's root. uid 0 alone is not enough: under
 * `unshare -r` (a user namespace) the uid is 0 too, yet bridge-netfilter sysctls, other
 * users' processes and the machine's /run are out of reach, and a run would fail half
 * way as a "network fault". The initial user namespace maps every uid onto itself.
 */
import { readFileSync } from 'node:fs';

/** What keeps this process from being root, in words; null when it is root. */
export function notRoot(uidMap = readUidMap()): string | null {
  if (process.getuid?.() !== 0) return `you are uid ${process.getuid?.() ?? '?'}`;
  if (uidMap === null) return null; // no /proc/self/uid_map: a kernel without user namespaces
  const whole = uidMap.trim().split('\n').some((l) => /^\s*0\s+0\s+4294967295\s*$/.test(l));
  return whole ? null : `uid 0 inside a user namespace (uid_map: ${uidMap.trim().replace(/\s+/g, ' ')}), not the machine's root`;
}

function readUidMap(): string | null {
  try {
    return readFileSync('/proc/self/uid_map', 'utf8');
  } catch {
    return null;
  }
}
