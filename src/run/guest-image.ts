/**
 * The image `guest: vm` guests boot, built on this machine from Debian packages (no
 * registry, no prebuilt image): a kernel built from Debian's kernel source
 * (run/guest-kernel.ts) and an initramfs as small as a CirrOS guest's userland: static
 * busybox (its init, udhcpc, ifup, ip, its applets as links made in the archive), socat
 * with its libraries (the namespace guests' probe and service tool), flatlab's compiled
 * DHCP client script, its agent (native/guest-agent.c), and assets/guest/ (inittab, boot).
 *
 * Cached by content under the cache folder (FLATLAB_CACHE_DIR, else
 * $XDG_CACHE_HOME/flatlab, else ~/.cache/flatlab): guest/images/<id>/ holds an image,
 * <id> the hash of the kernel's source, version and configuration and the initramfs's bytes. A run reuses the kernel it has
 * and rebuilds the initramfs only when what goes in changed; `flatlab image build
 * --guest` asks apt whether a newer kernel source exists.
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { ASSETS_DIR, LAB_ASSETS, NATIVE_DIR } from '../assets.js';
import { EnvironmentError } from '../errors.js';
import { GUEST_UDHCPC_SCRIPT, type GuestImageRef } from '../plan/guest-vm.js';
import { onPath } from '../which.js';
import { cpioArchive, type CpioEntry } from './cpio.js';
import { guestKernel } from './guest-kernel.js';

export interface GuestImage extends GuestImageRef {
  id: string;
  dir: string;
  /** the guest kernel's release (uname -r inside a guest) */
  kernelRelease: string;
  /** the Debian source package it was built from, with its version */
  kernelSource: string;
}

export function cacheRoot(): string {
  if (process.env.FLATLAB_CACHE_DIR) return process.env.FLATLAB_CACHE_DIR;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'flatlab');
}

const guestCache = (): string => join(cacheRoot(), 'guest');

/** A record the cache holds (image.json), or null when it holds none yet. */
async function readRecord<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

/** A program and the shared libraries it loads (ldd's list; none for a static one). */
async function withLibraries(path: string): Promise<string[]> {
  const r = await execa('ldd', [path], { reject: false });
  const libs = r.exitCode === 0 ? [...r.stdout.matchAll(/(\/\S+) \(0x/g)].map((m) => m[1]!) : [];
  return [path, ...libs];
}

function which(cmd: string, hint: string): string {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) if (existsSync(join(dir, cmd))) return join(dir, cmd);
  throw new EnvironmentError(`the guest image needs ${cmd}`, hint);
}

/** The initramfs's entries: directories, busybox and its applets' links, socat and its libraries, the scripts. */
async function userland(): Promise<CpioEntry[]> {
  if (!LAB_ASSETS.udhcpcScript.endsWith('flatlab-udhcpc-script')) throw new EnvironmentError('the guest image needs the compiled DHCP client script (dist/native/flatlab-udhcpc-script)', 'npm run build (it needs gcc)');
  const busybox = which('busybox', 'apt-get install busybox-static');
  const socat = which('socat', 'apt-get install socat');
  const agent = join(NATIVE_DIR, 'flatlab-guest-agent');
  if (!existsSync(agent)) throw new EnvironmentError('the guest image needs the compiled guest agent (dist/native/flatlab-guest-agent)', 'npm run build (it needs gcc)');
  const programs = [...(await withLibraries(busybox)), ...(await withLibraries(socat)), ...(await withLibraries(LAB_ASSETS.udhcpcScript)), ...(await withLibraries(agent))];
  const files = new Map<string, string>([
    ['/bin/busybox', busybox],
    ['/usr/bin/socat', socat],
    [GUEST_UDHCPC_SCRIPT, LAB_ASSETS.udhcpcScript],
    ['/etc/inittab', join(ASSETS_DIR, 'guest', 'inittab')],
    ['/etc/flatlab/boot', join(ASSETS_DIR, 'guest', 'boot')],
    ['/bin/flatlab-guest-agent', agent],
    ...programs.filter((p) => p !== busybox && p !== socat && p !== LAB_ASSETS.udhcpcScript && p !== agent).map((p) => [p, p] as [string, string]),
  ]);
  const applets = (await execa(busybox, ['--list-full'])).stdout.split('\n').filter(Boolean).map((a) => `/${a}`);
  const dirs = new Set(['/bin', '/sbin', '/usr', '/usr/bin', '/usr/sbin', '/etc', '/etc/flatlab', '/etc/network', '/etc/network/if-pre-up.d', '/etc/network/if-up.d', '/etc/network/if-down.d', '/etc/network/if-post-down.d', '/lib', '/proc', '/sys', '/dev', '/run', '/tmp', '/var', '/var/run']);
  for (const path of [...files.keys(), ...applets]) for (let d = dirname(path); d !== '/'; d = dirname(d)) dirs.add(d);
  const entries: CpioEntry[] = [...dirs].sort().map((path) => ({ path, kind: 'dir' as const, ...(path === '/tmp' ? { mode: 0o1777 } : {}) }));
  entries.push({ path: '/dev/console', kind: 'char', major: 5, minor: 1 }, { path: '/init', kind: 'symlink', target: '/bin/busybox' });
  // busybox's applets as links in the archive, as `busybox --install -s` would make them
  // at boot (each a system call run through the emulator, in every guest, at every boot)
  for (const path of applets) if (!files.has(path)) entries.push({ path, kind: 'symlink', target: '/bin/busybox' });
  for (const [path, from] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
    entries.push({ path, kind: 'file', data: await readFile(from), mode: path === '/etc/inittab' ? 0o644 : 0o755 });
  }
  return entries;
}

/**
 * The guest image: the cached one when what goes into it is unchanged, else built.
 * `newestKernel`: ask apt whether a newer kernel source exists (else the kernel built
 * last, apt only when none was).
 */
export async function guestImage(log: (l: string) => void, newestKernel = false): Promise<GuestImage> {
  const kernel = await guestKernel({ root: guestCache(), log }, newestKernel);
  const initrd = cpioArchive(await userland());
  const id = createHash('sha256').update(`${kernel.package}_${kernel.version}+${kernel.config}`).update('\0').update(initrd).digest('hex').slice(0, 16);
  const dir = join(guestCache(), 'images', id);
  const have = await readRecord<GuestImage>(join(dir, 'image.json'));
  if (have) return have;
  log(`guest image: building ${id} (${kernel.release}, initramfs ${(initrd.length / 1e6).toFixed(1)} MB)`);
  await mkdir(dirname(dir), { recursive: true });
  const tmp = await mkdtemp(join(dirname(dir), `.${id}-`));
  const image: GuestImage = { id, dir, kernel: join(dir, 'vmlinux'), initrd: join(dir, 'initrd.cpio'), kernelRelease: kernel.release, kernelSource: `${kernel.package} ${kernel.version}` };
  try {
    await copyFile(kernel.vmlinux, join(tmp, 'vmlinux'));
    await writeFile(join(tmp, 'initrd.cpio'), initrd);
    await writeFile(join(tmp, 'image.json'), JSON.stringify(image, null, 2));
    await rename(tmp, dir).catch(async (err) => {
      if (!(await readRecord<GuestImage>(join(dir, 'image.json')))) throw err;
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return image;
}

/** Whether this machine can run vm guests at all (QEMU, the tun device); throws saying what to do. */
export function checkVmHost(): void {
  if (!onPath('qemu-system-x86_64')) throw new EnvironmentError('guest: vm needs QEMU (qemu-system-x86_64)', 'apt-get install --no-install-recommends qemu-system-x86 (setup.sh does)');
  if (!existsSync('/dev/net/tun')) throw new EnvironmentError('guest: vm needs /dev/net/tun for its taps', 'modprobe tun');
}
