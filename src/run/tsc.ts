/**
 * This machine's TSC rate, told to vm guests under TCG (tsc_early_khz=): why, and how it
 * is measured, native/tsc-khz.c says. Measured once per boot of this machine (200 ms) and
 * cached in the cache folder by the kernel's boot id; null where it cannot be trusted
 * (no constant-rate TSC, not x86, the helper not built): guests then calibrate as they can.
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NATIVE_DIR } from '../assets.js';
import { cacheRoot } from './guest-image.js';

const HELPER = join(NATIVE_DIR, 'flatlab-tsc-khz');

export async function hostTscKhz(): Promise<number | null> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  // a TSC whose rate changes with the CPU's clock, or stops in idle, has no one rate to tell
  if (!/\bconstant_tsc\b/.test(cpuinfo) || !/\bnonstop_tsc\b/.test(cpuinfo) || !existsSync(HELPER)) return null;
  const boot = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
  const file = join(cacheRoot(), 'guest', `tsc-${boot}.json`);
  const known = await readFile(file, 'utf8').then((t) => JSON.parse(t) as { khz: number }, () => null);
  if (known && Number.isInteger(known.khz) && known.khz > 0) return known.khz;
  const r = await execa(HELPER, [], { reject: false });
  const khz = Number(r.stdout.trim());
  if (r.exitCode !== 0 || !Number.isInteger(khz) || khz <= 0) return null;
  await mkdir(join(cacheRoot(), 'guest'), { recursive: true });
  await writeFile(file, JSON.stringify({ khz }) + '\n');
  return khz;
}
