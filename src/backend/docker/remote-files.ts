/**
 * Files and guest state of targets on a remote engine, read and written inside their node's
 * container through the engine's exec (the content on the exec's stdin and stdout), since
 * that machine shares no folder with this one. A VM's files are its node container's, as
 * the plan lays them out under the runtime directory (created in each node when it starts).
 *
 * Reads are batched: every read of one container asked in the same turn of the event
 * loop (the lease poller's round, the observation of every guest) is one exec there, its
 * output cut into sections by a marker of the batch's own, so an exec through the API
 * (about 0.1-0.3 s each here) is paid once per node and round, not once per file.
 */
import { randomBytes } from 'node:crypto';
import type { Containers } from './containers.js';
import { PerTurn } from './per-turn.js';

/**
 * Cuts a batch's output into its sections: "MARK present\n" CONTENT "\nMARK end\n" for a
 * file that exists, "MARK missing\n" for one that does not, in the order asked.
 */
export function splitSections(out: string, mark: string, count: number): (string | null)[] {
  const res: (string | null)[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (out.startsWith(`${mark} missing\n`, at)) {
      res.push(null);
      at += mark.length + 9;
      continue;
    }
    const head = `${mark} present\n`;
    if (!out.startsWith(head, at)) throw new Error(`section ${i + 1} of ${count} missing from the batch's output`);
    const end = out.indexOf(`\n${mark} end\n`, at + head.length);
    if (end < 0) throw new Error(`section ${i + 1} of ${count} not ended in the batch's output`);
    res.push(out.slice(at + head.length, end));
    at = end + mark.length + 6;
  }
  return res;
}

/** Prints each file named after the marker as a section (see splitSections). */
export const CAT_ALL = 'm=$0; for f; do if [ -e "$f" ]; then echo "$m present"; cat "$f" || exit 1; printf "\\n%s end\\n" "$m"; else echo "$m missing"; fi; done';

/** Writes PATH MODE CONTENT triples, the content as an argument (a single argument may hold 128 KiB on Linux). */
const WRITE_ALL = 'while [ $# -gt 2 ]; do mkdir -p "${1%/*}" && printf "%s" "$3" > "$1" && chmod "$2" "$1" || exit 1; shift 3; done';
/** Larger files go alone, on the exec's stdin. */
const ARGUMENT_MAX = 100_000;

export class RemoteFiles {
  private readonly reads: PerTurn<string | null>;
  private readonly writes: PerTurn<void>;

  constructor(private readonly containers: Containers) {
    this.reads = new PerTurn(async (container, paths) => {
      const mark = `--flatlab-${randomBytes(8).toString('hex')}--`;
      const r = await this.containers.exec(container, ['sh', '-c', CAT_ALL, mark, ...paths], { exact: true });
      if (r.exitCode !== 0) throw new Error(`reading ${paths.length} file(s) in ${container} failed: ${r.stderr.trim()}`);
      return splitSections(r.stdout, mark, paths.length);
    });
    // the turn's writes there in one exec (a lab writes every guest's files at once)
    this.writes = new PerTurn(async (container, args) => {
      const triples = args.map((a) => JSON.parse(a) as [string, string, string]);
      const r = await this.containers.exec(container, ['sh', '-c', WRITE_ALL, 'sh', ...triples.flat()]);
      if (r.exitCode !== 0) throw new Error(`writing ${triples.map((x) => x[0]).join(', ')} in ${container} failed: ${r.stderr.trim()}`);
      return triples.map(() => undefined);
    });
  }

  /** A file's content, or null when it does not exist (batched with the turn's other reads there). */
  read(container: string, path: string): Promise<string | null> {
    return this.reads.ask(container, path);
  }

  async write(container: string, path: string, text: string, mode = 0o644): Promise<void> {
    if (text.length < ARGUMENT_MAX && !text.includes('\0')) return this.writes.ask(container, JSON.stringify([path, mode.toString(8), text]));
    const r = await this.containers.exec(container, ['sh', '-c', 'mkdir -p "$(dirname "$0")" && cat > "$0" && chmod "$1" "$0"', path, mode.toString(8)], { input: text });
    if (r.exitCode !== 0) throw new Error(`writing ${path} in ${container} failed: ${r.stderr.trim()}`);
  }
}

/**
 * Guests' network state by `ip -j -batch` in each VM namespace of a container, one exec
 * for the turn's requests there (argument "NETNS NIC"); each answer is that VM's output.
 */
export class RemoteVmState {
  private readonly states: PerTurn<string>;

  constructor(containers: Containers, batchFor: (nic: string) => string) {
    this.states = new PerTurn(async (container, args) => {
      const mark = `--flatlab-${randomBytes(8).toString('hex')}--`;
      // per VM: its namespace and the batch its NIC needs, as arguments (no shell parsing of them)
      const argv = args.flatMap((a) => {
        const [ns, nic] = a.split(' ') as [string, string];
        return [ns, batchFor(nic)];
      });
      const script = 'm=$0; while [ $# -gt 1 ]; do echo "$m present"; printf "%s" "$2" | ip -n "$1" -j -batch - || exit 1; printf "\\n%s end\\n" "$m"; shift 2; done';
      const r = await containers.exec(container, ['sh', '-c', script, mark, ...argv], { exact: true });
      if (r.exitCode !== 0) throw new Error(`reading the guests' state in ${container} failed: ${r.stderr.trim()}`);
      return splitSections(r.stdout, mark, args.length).map((s) => s ?? '');
    });
  }

  read(container: string, netns: string, nic: string): Promise<string> {
    return this.states.ask(container, `${netns} ${nic}`);
  }
}
