/** `flatlab image`: the Docker backend's compute-node image, or the vm guests' image */
import type { Command } from 'commander';
import { buildBackendImage } from '../../backend/registry.js';
import { guestImage } from '../../run/guest-image.js';

export function registerImage(program: Command): void {
  const image = program.command('image').description("the Docker backend's compute-node image, or the vm guests' image (--guest)");
  image
    .command('build')
    .description('build the compute-node image from the Dockerfile (bootstrapping a base when no registry answers); with --guest, the vm guests\' kernel (built from Debian\'s kernel source) and initramfs')
    .option('--guest', "build the vm guests' image (a kernel built from the newest linux-source apt knows, minutes the first time, and a busybox initramfs), cached by content")
    .action(async (flags: { guest?: boolean }) => {
      const log = (l: string): void => void process.stderr.write(`${l}\n`);
      if (flags.guest) {
        const g = await guestImage(log, true);
        process.stdout.write(`guest image ${g.id}: kernel ${g.kernelRelease} (built from ${g.kernelSource}), ${g.dir}\n`);
        return;
      }
      process.stdout.write(`${await buildBackendImage('docker', log)}\n`);
    });
}
