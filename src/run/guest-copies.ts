/**
 * Each vm guest's copy of the image: the image's initramfs, then an archive of the
 * guest's own files (its settings; the interfaces file nova injected), which the kernel
 * unpacks over the first: as nova's injection wrote into an instance's own disk before
 * it booted (nova/virt/disk/api.py inject_data), nothing mounted.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import type { Plan } from '../plan/types.js';
import { cpioArchive } from './cpio.js';

export async function writeGuestCopies(plan: Pick<Plan, 'vms'>): Promise<void> {
  const bases = new Map<string, Promise<Buffer>>();
  await Promise.all(
    plan.vms.map(async (vm) => {
      const m = vm.machine;
      if (!m) return;
      if (!bases.has(m.imageInitrd)) bases.set(m.imageInitrd, readFile(m.imageInitrd));
      const own = cpioArchive(m.files.map((f) => ({ path: f.path, kind: 'file' as const, data: f.text })));
      await mkdir(vm.dir, { recursive: true });
      await writeFile(m.initrd, Buffer.concat([await bases.get(m.imageInitrd)!, own]));
    }),
  );
}
