/**
 * The vm guests' kernel, built on this machine from Debian's kernel source package
 * (linux-source, fetched with `apt-get download`, unpacked, never installed): `make
 * tinyconfig` plus assets/guest/kernel.config (why that and not Debian's cloud kernel
 * binary: the fragment says), `make vmlinux`, the ELF QEMU boots at its PVH entry.
 *
 * Cached by what makes it: guest/kernels/<package>_<version>+<fragment hash>/ holds the
 * vmlinux and kernel.json; guest/kernel names the one runs use. A build takes minutes
 * (about 6 on this 2-core machine): it says how far it is as it goes, and a build that
 * fails or is interrupted leaves only its own temporary folder, removed on the way out.
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { ASSETS_DIR } from '../assets.js';
import { EnvironmentError } from '../errors.js';
import { onPath } from '../which.js';
import { configMismatches, parseKernelConfig } from './kernel-config.js';

/** The metapackage whose dependency is Debian's current kernel source (linux-source-6.1 on Debian 12). */
export const KERNEL_SOURCE_METAPACKAGE = 'linux-source';

export const KERNEL_FRAGMENT = join(ASSETS_DIR, 'guest', 'kernel.config');

/** What the build runs besides the compiler (a Debian package each; setup.sh installs them). */
const BUILD_TOOLS: [cmd: string, pkg: string][] = [
  ['gcc', 'gcc'],
  ['make', 'make'],
  ['flex', 'flex'],
  ['bison', 'bison'],
  ['bc', 'bc'],
  ['xz', 'xz-utils'],
];

export interface GuestKernel {
  /** the source package and its version (linux-source-6.1, 6.1.192-3) */
  package: string;
  version: string;
  /** uname -r inside a guest */
  release: string;
  /** the ELF QEMU boots (-kernel), at its PVH entry */
  vmlinux: string;
  /** sha256 of the options of the fragment it was configured with, first 12 hex digits */
  config: string;
}

export interface KernelCache {
  /** guest/ under the cache folder */
  root: string;
  log: (line: string) => void;
}

async function run(argv: string[], cwd?: string): Promise<string> {
  const r = await execa(argv[0]!, argv.slice(1), { reject: false, ...(cwd ? { cwd } : {}) });
  if (r.exitCode !== 0) throw new EnvironmentError(`${argv.join(' ')} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ')}`, 'the guest kernel needs the Debian package registry (apt-get update) once, and the build tools setup.sh installs');
  return r.stdout;
}

async function readKernel(dir: string): Promise<GuestKernel | null> {
  try {
    const k = JSON.parse(await readFile(join(dir, 'kernel.json'), 'utf8')) as GuestKernel;
    return k.vmlinux && existsSync(k.vmlinux) ? k : null;
  } catch {
    return null;
  }
}

/** The source package the metapackage depends on now, and the version apt would download. */
async function currentSource(): Promise<{ pkg: string; version: string }> {
  const pkg = /Depends:\s+(linux-source-\S+)/.exec(await run(['apt-cache', 'depends', KERNEL_SOURCE_METAPACKAGE]))?.[1];
  if (!pkg) throw new EnvironmentError(`apt-cache depends ${KERNEL_SOURCE_METAPACKAGE} names no kernel source package`, 'run apt-get update');
  const version = /Candidate:\s+(\S+)/.exec(await run(['apt-cache', 'policy', pkg]))?.[1];
  if (!version || version === '(none)') throw new EnvironmentError(`apt has no candidate for ${pkg}`, 'run apt-get update');
  return { pkg, version };
}

/** The fragment's options, not its text: a comment edited does not rebuild the kernel. */
const fragmentHash = (text: string): string =>
  createHash('sha256')
    .update([...parseKernelConfig(text)].map(([k, v]) => `${k}=${v ?? 'n'}`).sort().join('\n'))
    .digest('hex')
    .slice(0, 12);

/**
 * The guests' kernel: the one guest/kernel names when it was built from this fragment,
 * else (or with `newest`: when apt's current source differs) built now.
 */
export async function guestKernel(cache: KernelCache, newest = false): Promise<GuestKernel> {
  const fragment = await readFile(KERNEL_FRAGMENT, 'utf8');
  const config = fragmentHash(fragment);
  const named = (await readFile(join(cache.root, 'kernel'), 'utf8').catch(() => '')).trim();
  if (!newest && named) {
    const k = await readKernel(join(cache.root, 'kernels', named));
    if (k && k.config === config) return k;
  }
  const { pkg, version } = await currentSource();
  const name = `${pkg}_${version}+${config}`;
  const dir = join(cache.root, 'kernels', name);
  const kernel = (await readKernel(dir)) ?? (await build(cache, pkg, version, fragment, config, dir));
  await writeFile(join(cache.root, 'kernel'), `${name}\n`);
  return kernel;
}

async function build(cache: KernelCache, pkg: string, version: string, fragment: string, config: string, dir: string): Promise<GuestKernel> {
  const missing = BUILD_TOOLS.filter(([cmd]) => !onPath(cmd)).map(([, p]) => p);
  if (!existsSync('/usr/include/gelf.h')) missing.push('libelf-dev');
  if (missing.length) throw new EnvironmentError(`building the guests' kernel needs ${missing.join(', ')}`, `apt-get install ${missing.join(' ')} (setup.sh does)`);
  const log = cache.log;
  await mkdir(dirname(dir), { recursive: true });
  await removeAbandonedBuilds(dirname(dir));
  const tmp = await mkdtemp(join(dirname(dir), `.build-${process.pid}-`));
  try {
    log(`guest kernel: fetching ${pkg} ${version} (apt-get download; unpacked, not installed)`);
    await run(['apt-get', 'download', `${pkg}=${version}`], tmp);
    const deb = (await readdir(tmp)).find((f) => f.endsWith('.deb'));
    if (!deb) throw new EnvironmentError(`apt-get download ${pkg} left no .deb`, 'run apt-get update');
    await run(['dpkg-deb', '-x', deb, 'pkg'], tmp);
    await rm(join(tmp, deb));
    const tarball = (await readdir(join(tmp, 'pkg', 'usr', 'src'))).find((f) => /^linux-source-.*\.tar\.xz$/.test(f));
    if (!tarball) throw new EnvironmentError(`${pkg} holds no usr/src/linux-source-*.tar.xz`, `flatlab expects Debian's ${KERNEL_SOURCE_METAPACKAGE}`);
    log(`guest kernel: unpacking ${tarball}`);
    await run(['tar', '-xJf', join('pkg', 'usr', 'src', tarball)], tmp);
    await rm(join(tmp, 'pkg'), { recursive: true });
    const src = join(tmp, tarball.replace(/\.tar\.xz$/, ''));
    const env = { KBUILD_BUILD_USER: 'flatlab', KBUILD_BUILD_HOST: 'flatlab' };
    await writeFile(join(tmp, 'flatlab.config'), fragment);
    await run(['make', '-s', 'tinyconfig'], src);
    await run(['scripts/kconfig/merge_config.sh', '-m', '.config', join(tmp, 'flatlab.config')], src);
    await run(['make', '-s', 'olddefconfig'], src);
    const wrong = configMismatches(fragment, await readFile(join(src, '.config'), 'utf8'));
    if (wrong.length) throw new EnvironmentError(`${pkg} ${version} does not take flatlab's guest kernel configuration:\n  ${wrong.join('\n  ')}`, `assets/guest/kernel.config is written for Debian 12's linux-source-6.1`);
    await compile(src, env, log);
    const release = (await execa('make', ['-s', 'kernelrelease'], { cwd: src })).stdout.trim();
    const out = join(tmp, 'kernel');
    await mkdir(out);
    await copyFile(join(src, 'vmlinux'), join(out, 'vmlinux'));
    const kernel: GuestKernel = { package: pkg, version, release, vmlinux: join(dir, 'vmlinux'), config };
    await writeFile(join(out, 'kernel.json'), JSON.stringify(kernel, null, 2));
    await rename(out, dir).catch(async (err) => {
      // another flatlab built the same at once: theirs is as good
      if (!(await readKernel(dir))) throw err;
    });
    log(`guest kernel: ${release} built`);
    return kernel;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Build folders whose flatlab died mid-build (SIGKILL, a machine's crash: its finally
 * never ran): named .build-<pid>-, they are removed once that process is gone. A folder
 * of a build still running, this machine's other flatlab's, is left alone.
 */
async function removeAbandonedBuilds(kernels: string): Promise<void> {
  for (const name of await readdir(kernels).catch(() => [] as string[])) {
    const pid = /^\.build-(\d+)-/.exec(name)?.[1];
    if (pid && !existsSync(`/proc/${pid}`)) await rm(join(kernels, name), { recursive: true, force: true });
  }
}

/** `make vmlinux`, saying every so often how many files it has compiled. */
async function compile(src: string, env: Record<string, string>, log: (l: string) => void): Promise<void> {
  const jobs = availableParallelism() + 1;
  log(`guest kernel: compiling (make -j${jobs} vmlinux; minutes: about 6 on 2 cores)`);
  const child = execa('make', [`-j${jobs}`, 'vmlinux'], { cwd: src, env, reject: false, lines: true, buffer: { stdout: false, stderr: true } });
  let compiled = 0;
  for await (const line of child.iterable({ from: 'stdout' })) {
    if (/^\s+CC\s/.test(String(line)) && ++compiled % 200 === 0) log(`guest kernel: ${compiled} files compiled`);
  }
  const r = await child;
  if (r.exitCode !== 0) {
    const tail = (Array.isArray(r.stderr) ? r.stderr : String(r.stderr).split('\n')).slice(-5).join('\n  ');
    throw new EnvironmentError(`make vmlinux failed (exit ${r.exitCode}):\n  ${tail}`, 'see the compiler error above');
  }
}
