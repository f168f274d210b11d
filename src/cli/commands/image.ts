/** `flatlab image`: the Docker backend's compute-node image, or the vm guests' image */
import type { Command } from 'commander';
import { buildBackendImage } from '../../backend/registry.js';
import { guestImage } from '../../run/guest-image.js';

export function registerImage(program: Command): void {
  const image = program.command('image').description("the Docker backend's compute-node image, or the vm guests' image (--guest)");
  image
    .command('build')
    .description('build the compute-node image from the Dockerfile (bootstrapping a base when no registry answers); with --guest, the vm guests\' kernel and initramfs from Debian packages')
    .option('--guest', "build the vm guests' image (Debian's cloud kernel, the newest apt knows, and a busybox initramfs), cached by content")
    .action(async (flags: { guest?: boolean }) => {
      const log = (l: string): void => void process.stderr.write(`${l}\n`);
      if (flags.guest) {
        const g = await guestImage(log, true);
        process.stdout.write(`guest image ${g.id}: kernel ${g.kernelRelease} (${g.kernelPackage}), ${g.dir}\n`);
        return;
      }
      process.stdout.write(`${await buildBackendImage('docker', log)}\n`);
    });
}
