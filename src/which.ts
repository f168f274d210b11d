/** Whether a command name resolves on PATH, as a shell looks it up (no process spawned). */
import { accessSync, constants } from 'node:fs';

export function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').some((dir) => {
    try {
      accessSync(`${dir}/${cmd}`, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
