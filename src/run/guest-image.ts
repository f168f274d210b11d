/**
 * The image `guest: vm` guests boot, built on this machine from Debian packages (no
 * registry, no prebuilt image): Debian's cloud kernel (linux-image-cloud-amd64, fetched
 * with `apt-get download` and unpacked with dpkg-deb, never installed) and an initramfs
 * as small as a CirrOS guest's userland: static busybox (its init, udhcpc, ifup, ip),
 * socat with its libraries (the namespace guests' probe and service tool), flatlab's
 * compiled DHCP client script, its agent (native/guest-agent.c), virtio's modules, and
 * assets/guest/ (inittab, boot).
 *
 * Cached by content under the cache folder (FLATLAB_CACHE_DIR, else
 * $XDG_CACHE_HOME/flatlab, else ~/.cache/flatlab): guest/kernels/<package>/ holds the
 * unpacked kernel, guest/images/<id>/ an image, <id> the hash of the kernel package's
 * name and the initramfs's bytes. A run reuses the newest kernel it has and rebuilds
 * the initramfs only when what goes in changed; `flatlab image build --guest` asks apt
 * for the newest kernel.
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { ASSETS_DIR, LAB_ASSETS, NATIVE_DIR } from '../assets.js';
import { EnvironmentError } from '../errors.js';
import { GUEST_MODULES, GUEST_UDHCPC_SCRIPT, type GuestImageRef } from '../plan/guest-vm.js';
import { onPath } from '../which.js';
import { cpioArchive, type CpioEntry } from './cpio.js';

/** The metapackage whose dependency is the current cloud kernel. */
export const KERNEL_METAPACKAGE = 'linux-image-cloud-amd64';

export interface GuestImage extends GuestImageRef {
  id: string;
  dir: string;
  /** the guest kernel's release (uname -r inside a guest) */
  kernelRelease: string;
  kernelPackage: string;
}

export function cacheRoot(): string {
  if (process.env.FLATLAB_CACHE_DIR) return process.env.FLATLAB_CACHE_DIR;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'flatlab');
}

const guestCache = (): string => join(cacheRoot(), 'guest');

interface Kernel {
  package: string;
  release: string;
  vmlinuz: string;
  /** module name -> its .ko */
  modules: Record<string, string>;
}

async function run(argv: string[], cwd?: string): Promise<string> {
  const r = await execa(argv[0]!, argv.slice(1), { reject: false, ...(cwd ? { cwd } : {}) });
  if (r.exitCode !== 0) throw new EnvironmentError(`${argv.join(' ')} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' / ')}`, 'the guest image needs the Debian package registry (apt-get update) once; see setup.sh');
  return r.stdout;
}

/** The kernel package the metapackage depends on now (apt's view). */
async function currentKernelPackage(): Promise<string> {
  const out = await run(['apt-cache', 'depends', KERNEL_METAPACKAGE]);
  const pkg = /Depends:\s+(linux-image-\S+)/.exec(out)?.[1];
  if (!pkg) throw new EnvironmentError(`apt-cache depends ${KERNEL_METAPACKAGE} names no kernel package`, 'run apt-get update');
  return pkg;
}

/** A record the cache holds (kernel.json, image.json), or null when it holds none yet. */
async function readRecord<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

const readKernel = (dir: string): Promise<Kernel | null> => readRecord<Kernel>(join(dir, 'kernel.json'));

/** The kernel package unpacked into the cache: vmlinuz and the modules guests load. */
async function fetchKernel(pkg: string, log: (l: string) => void): Promise<Kernel> {
  const dir = join(guestCache(), 'kernels', pkg);
  const have = await readKernel(dir);
  if (have) return have;
  log(`guest image: fetching ${pkg} (apt-get download; unpacked, not installed)`);
  await mkdir(dirname(dir), { recursive: true });
  const tmp = await mkdtemp(join(dirname(dir), `.${pkg}-`));
  try {
    await run(['apt-get', 'download', pkg], tmp);
    const deb = (await readdir(tmp)).find((f) => f.endsWith('.deb'));
    if (!deb) throw new EnvironmentError(`apt-get download ${pkg} left no .deb`, 'run apt-get update');
    await run(['dpkg-deb', '-x', join(tmp, deb), join(tmp, 'x')]);
    const release = (await readdir(join(tmp, 'x', 'lib', 'modules')))[0]!;
    const out = join(tmp, 'kernel');
    await mkdir(join(out, 'modules'), { recursive: true });
    await copyFile(join(tmp, 'x', 'boot', `vmlinuz-${release}`), join(out, 'vmlinuz'));
    const files = (await readdir(join(tmp, 'x', 'lib', 'modules', release), { recursive: true })) as string[];
    const modules: Record<string, string> = {};
    for (const m of GUEST_MODULES) {
      const rel = files.find((f) => basename(f) === `${m}.ko`);
      if (!rel) throw new EnvironmentError(`${pkg} has no ${m}.ko`, `the guest image expects Debian's cloud kernel (${KERNEL_METAPACKAGE})`);
      modules[m] = join(dir, 'modules', `${m}.ko`);
      await copyFile(join(tmp, 'x', 'lib', 'modules', release, rel), join(out, 'modules', `${m}.ko`));
    }
    const kernel: Kernel = { package: pkg, release, vmlinuz: join(dir, 'vmlinuz'), modules };
    await writeFile(join(out, 'kernel.json'), JSON.stringify(kernel, null, 2));
    await rename(out, dir).catch(async (err) => {
      // another flatlab made the same at once: theirs is as good
      if (!(await readKernel(dir))) throw err;
    });
    await writeFile(join(guestCache(), 'kernels', 'current'), pkg);
    return (await readKernel(dir))!;
  } finally {
    await rm(tmp, { recursive: true, force: true });
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

/** The initramfs's entries: directories, busybox, socat and its libraries, the scripts, the modules. */
async function userland(kernel: Kernel): Promise<CpioEntry[]> {
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
    ...GUEST_MODULES.map((m) => [`/lib/modules/${m}.ko`, kernel.modules[m]!] as [string, string]),
  ]);
  const dirs = new Set(['/bin', '/sbin', '/usr', '/usr/bin', '/usr/sbin', '/etc', '/etc/flatlab', '/etc/network', '/etc/network/if-pre-up.d', '/etc/network/if-up.d', '/etc/network/if-down.d', '/etc/network/if-post-down.d', '/lib', '/lib/modules', '/proc', '/sys', '/dev', '/run', '/tmp', '/var', '/var/run']);
  for (const path of files.keys()) for (let d = dirname(path); d !== '/'; d = dirname(d)) dirs.add(d);
  const entries: CpioEntry[] = [...dirs].sort().map((path) => ({ path, kind: 'dir' as const, ...(path === '/tmp' ? { mode: 0o1777 } : {}) }));
  entries.push({ path: '/dev/console', kind: 'char', major: 5, minor: 1 }, { path: '/init', kind: 'symlink', target: '/bin/busybox' }, { path: '/bin/sh', kind: 'symlink', target: 'busybox' });
  for (const [path, from] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
    entries.push({ path, kind: 'file', data: await readFile(from), mode: path.startsWith('/lib/modules/') || path === '/etc/inittab' ? 0o644 : 0o755 });
  }
  return entries;
}

const readImage = (dir: string): Promise<GuestImage | null> => readRecord<GuestImage>(join(dir, 'image.json'));

/**
 * The guest image: the cached one when what goes into it is unchanged, else built.
 * `newestKernel`: ask apt for the current kernel package (else the newest one cached,
 * apt only when none is).
 */
export async function guestImage(log: (l: string) => void, newestKernel = false): Promise<GuestImage> {
  const cached = newestKernel ? null : await readFile(join(guestCache(), 'kernels', 'current'), 'utf8').catch(() => null);
  const pkg = cached?.trim() || (await currentKernelPackage());
  const kernel = await fetchKernel(pkg, log);
  const initrd = cpioArchive(await userland(kernel));
  const id = createHash('sha256').update(pkg).update('\0').update(initrd).digest('hex').slice(0, 16);
  const dir = join(guestCache(), 'images', id);
  const have = await readImage(dir);
  if (have) return have;
  log(`guest image: building ${id} (${kernel.release}, initramfs ${(initrd.length / 1e6).toFixed(1)} MB)`);
  await mkdir(dirname(dir), { recursive: true });
  const tmp = await mkdtemp(join(dirname(dir), `.${id}-`));
  const image: GuestImage = { id, dir, kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.cpio'), kernelRelease: kernel.release, kernelPackage: pkg };
  try {
    await copyFile(kernel.vmlinuz, join(tmp, 'vmlinuz'));
    await writeFile(join(tmp, 'initrd.cpio'), initrd);
    await writeFile(join(tmp, 'image.json'), JSON.stringify(image, null, 2));
    await rename(tmp, dir).catch(async (err) => {
      if (!(await readImage(dir))) throw err;
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
