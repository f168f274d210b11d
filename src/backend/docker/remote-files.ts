/**
 * Files of targets on a remote engine: read and written inside their node's container
 * through the engine's exec (the content on the exec's stdin and stdout), since that
 * machine shares no folder with this one. A VM's files are its node container's, as the
 * plan lays them out under the runtime directory (created in each node when it starts).
 */
import type { Containers } from './containers.js';

/** exit code of the read when the file does not exist (not an error: "not yet") */
const MISSING = 3;

export class RemoteFiles {
  constructor(private readonly containers: Containers) {}

  async read(container: string, path: string): Promise<string | null> {
    const r = await this.containers.exec(container, ['sh', '-c', `[ -e "$0" ] || exit ${MISSING}; exec cat "$0"`, path], { exact: true });
    if (r.exitCode === MISSING) return null;
    if (r.exitCode !== 0) throw new Error(`reading ${path} in ${container} failed: ${r.stderr.trim()}`);
    return r.stdout;
  }

  async write(container: string, path: string, text: string, mode = 0o644): Promise<void> {
    const r = await this.containers.exec(container, ['sh', '-c', 'mkdir -p "$(dirname "$0")" && cat > "$0" && chmod "$1" "$0"', path, mode.toString(8)], { input: text });
    if (r.exitCode !== 0) throw new Error(`writing ${path} in ${container} failed: ${r.stderr.trim()}`);
  }
}
