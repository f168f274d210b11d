/**
 * `flatlab image build`: the compute-node image from the top-level Dockerfile. The
 * normal base (debian:bookworm-slim) is pulled when a registry answers; otherwise an
 * equivalent base is bootstrapped locally (debootstrap --variant=minbase from the
 * machine's Debian mirror, then imported) and cached under its tag, so a second build
 * reuses it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type Docker from 'dockerode';
import { execa } from 'execa';
import { EnvironmentError } from '../../errors.js';
import { connect, ensureEngine, followProgress } from './engine.js';

export const NODE_IMAGE = 'flatlab-node:latest';
export const UPSTREAM_BASE = 'debian:bookworm-slim';
export const LOCAL_BASE = 'flatlab-base:bookworm';
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

async function exists(docker: Docker, ref: string): Promise<boolean> {
  try {
    await docker.getImage(ref).inspect();
    return true;
  } catch {
    return false;
  }
}

async function tryPull(docker: Docker, ref: string): Promise<boolean> {
  try {
    await followProgress(docker, await docker.pull(ref));
    return true;
  } catch {
    return false;
  }
}

/** debootstrap a minimal bookworm and import it as LOCAL_BASE. */
async function bootstrapBase(docker: Docker, log: (s: string) => void): Promise<void> {
  const which = await execa('sh', ['-c', 'command -v debootstrap'], { reject: false });
  if (which.exitCode !== 0) throw new EnvironmentError('no registry answers and debootstrap is missing', 'apt-get install -y debootstrap');
  const mirror = process.env.FLATLAB_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
  const dir = await mkdtemp(join(tmpdir(), 'flatlab-rootfs-'));
  try {
    log(`bootstrapping a bookworm base from ${mirror} (debootstrap --variant=minbase)…`);
    const d = await execa('debootstrap', ['--variant=minbase', 'bookworm', dir, mirror], { reject: false, all: true });
    if (d.exitCode !== 0) throw new Error(`debootstrap failed: ${(d.all ?? '').split('\n').slice(-3).join(' / ')}`);
    log(`importing it as ${LOCAL_BASE}…`);
    const tar = execa('tar', ['-C', dir, '-c', '.'], { buffer: false });
    const [repo, tag] = LOCAL_BASE.split(':') as [string, string];
    await followProgress(docker, await docker.importImage(tar.stdout!, { repo, tag }));
    await tar;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface BuildReport {
  base: string;
  bootstrapped: boolean;
  ms: number;
}

export async function buildNodeImage(docker: Docker, log: (s: string) => void): Promise<BuildReport> {
  const t0 = performance.now();
  let base = UPSTREAM_BASE;
  let bootstrapped = false;
  if (!(await exists(docker, UPSTREAM_BASE)) && !(await tryPull(docker, UPSTREAM_BASE))) {
    base = LOCAL_BASE;
    if (await exists(docker, LOCAL_BASE)) log(`no registry: reusing the bootstrapped ${LOCAL_BASE}`);
    else {
      await bootstrapBase(docker, log);
      bootstrapped = true;
    }
  }
  log(`building ${NODE_IMAGE} from the Dockerfile on ${base}…`);
  const tar = execa('tar', ['-C', ROOT, '-c', 'Dockerfile'], { buffer: false });
  await followProgress(docker, await docker.buildImage(tar.stdout!, { t: NODE_IMAGE, buildargs: { BASE: base } }), (l) => log(`  ${l}`));
  await tar;
  return { base, bootstrapped, ms: Math.round(performance.now() - t0) };
}

export async function nodeImageExists(docker: Docker): Promise<boolean> {
  return exists(docker, NODE_IMAGE);
}

/**
 * Gives an engine the node image another one has, as `docker save | docker load` does:
 * engines of one lab share no registry (none answers here), and the image is the same.
 */
export async function copyNodeImage(from: Docker, to: Docker): Promise<void> {
  const tar = await from.getImage(NODE_IMAGE).get();
  await followProgress(to, await to.loadImage(tar));
}

/** `flatlab image build` for this backend: the engine up, the image built, one line on what. */
export async function buildDockerImage(log: (line: string) => void): Promise<string> {
  const docker = connect();
  await ensureEngine(docker);
  const r = await buildNodeImage(docker, log);
  return `${NODE_IMAGE} built on ${r.base}${r.bootstrapped ? ' (bootstrapped now)' : ''} in ${(r.ms / 1000).toFixed(1)} s`;
}
