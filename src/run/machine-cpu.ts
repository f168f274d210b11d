/**
 * The machine's busy CPU time so far (all CPUs, every process, the kernel's own work), from
 * /proc/stat: what a phase cost the machine, beside how long it took. On a 2-core VM a
 * phase bound by the CPUs shows about twice its wall time here; one that waits shows less.
 * Not this process's own time: most of a lab's work (packets, dnsmasq, the guests' DHCP
 * clients) is done by other processes and by the kernel on their behalf.
 */
import { readFileSync } from 'node:fs';

/** USER_HZ: /proc/stat counts in 1/100 s on every Linux architecture flatlab runs on */
const TICK_MS = 10;

/** Busy milliseconds since boot (user, nice, system, irq, softirq, steal), or null where /proc/stat cannot be read. */
export function machineBusyMs(read: () => string = () => readFileSync('/proc/stat', 'utf8')): number | null {
  let text: string;
  try {
    text = read();
  } catch {
    return null;
  }
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return null;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal ...
  const busy = [0, 1, 2, 5, 6, 7].reduce((sum, i) => sum + (Number.isFinite(f[i]) ? f[i]! : 0), 0);
  return busy * TICK_MS;
}
