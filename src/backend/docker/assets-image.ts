/**
 * The node image a remote engine runs: flatlab-node with flatlab's assets (the scripts
 * and compiled helpers a lab's processes run) baked in at the paths they have on this
 * machine, so the plan's paths hold there as they do in a local engine's containers,
 * which get them bind-mounted. A remote engine cannot mount this machine's folders.
 *
 * The image is content-addressed: its tag and its label carry a hash of every file baked
 * in, so a changed script gives a new image and an unchanged one is made once per
 * engine. It is made through the API alone: a container is created (never started) from
 * flatlab-node, the files are put into it (`putArchive`: a tar of them, made by the
 * system's tar as image.ts makes its build context), and it is committed.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type Docker from 'dockerode';
import { execa } from 'execa';
import { NODE_IMAGE } from './image.js';

export const ASSETS_LABEL = 'org.flatlab.assets';
const REPO = NODE_IMAGE.split(':')[0]!;

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name)).sort();
}

/** The hash of the files (path and content) under these folders; folders that do not exist count as empty. */
export async function assetsHash(dirs: string[]): Promise<string> {
  const h = createHash('sha256');
  for (const dir of dirs) {
    for (const file of await filesUnder(dir)) {
      h.update(`${file}\0`);
      h.update(await readFile(file));
      h.update('\0');
    }
  }
  return h.digest('hex').slice(0, 16);
}

/** The image's reference for a hash. */
export function assetsImageRef(hash: string): string {
  return `${REPO}:assets-${hash}`;
}

/** Makes (once) and names the image with these folders baked in on an engine. */
export async function ensureAssetsImage(docker: Docker, dirs: string[], log: (line: string) => void = () => {}): Promise<string> {
  const hash = await assetsHash(dirs);
  const ref = assetsImageRef(hash);
  if (await docker.getImage(ref).inspect().then(() => true, () => false)) return ref;
  log(`baking flatlab's assets into ${ref}…`);
  const present = (await Promise.all(dirs.map(async (d) => ((await filesUnder(d)).length ? d : null)))).filter((d): d is string => d !== null);
  const c = await docker.createContainer({ Image: NODE_IMAGE, Cmd: ['true'], Labels: { [ASSETS_LABEL]: hash } });
  try {
    // paths relative to /, so the archive unpacks at the same absolute paths there
    const tar = execa('tar', ['-C', '/', '-c', ...present.map((d) => relative('/', d))], { buffer: false });
    await c.putArchive(tar.stdout!, { path: '/' });
    await tar;
    // the container's label goes into the image's config with the rest of it
    await c.commit({ repo: REPO, tag: `assets-${hash}` });
  } finally {
    await c.remove({ force: true }).catch(() => undefined);
  }
  return ref;
}
