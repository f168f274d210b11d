/** `flatlab image`: the Docker backend's compute-node image */
import type { Command } from 'commander';
import { buildBackendImage } from '../../backend/registry.js';

export function registerImage(program: Command): void {
  const image = program.command('image').description('the Docker backend\'s compute-node image');
  image
    .command('build')
    .description('build the compute-node image from the Dockerfile (bootstrapping a base when no registry answers)')
    .action(async () => {
      process.stdout.write(`${await buildBackendImage('docker', (l) => process.stderr.write(`${l}\n`))}\n`);
    });
}
