/**
 * Processes started on a remote engine, inside their node's container (removing it reaps
 * them), every start asked of one container in a turn in one exec: a node's guests boot
 * together (they wait for the same node and dnsmasq), and one exec through a remote API
 * per guest cost more than the guests' DHCP. The exec's shell starts each command in the
 * background and prints its PID in the container; the agent then finds that machine's PIDs
 * and start times (one exec for the turn), as every record of a process needs them.
 */
import { posix } from 'node:path';
import type { Agent } from './agent.js';
import type { Containers } from './containers.js';
import { PerTurn } from './per-turn.js';

/** A command to start: its log (stdout and stderr appended) and argv (env as `env K=V` before it). */
export interface StartItem {
  log: string;
  argv: string[];
}

/**
 * The script and arguments that start every item in the background and print each one's
 * PID (`$!`), a line each, in order. The script names only positions (`"${4}"`), never a
 * word of the items: they reach the commands as arguments, unparsed by any shell. The
 * logs' folders are made first, in one `mkdir -p`.
 */
export function startScript(items: StartItem[]): string[] {
  const dirs = [...new Set(items.map((i) => posix.dirname(i.log)))];
  const args: string[] = [...dirs];
  const pos = (word: string): string => {
    args.push(word);
    return `"\${${args.length}}"`;
  };
  const lines = [`mkdir -p ${dirs.map((_, i) => `"\${${i + 1}}"`).join(' ')} || exit 1`];
  for (const it of items) {
    const log = pos(it.log);
    // a simple command in the background: the shell forks once and the child execs it, so $! is its PID
    lines.push(`${it.argv.map(pos).join(' ')} </dev/null >>${log} 2>&1 & echo $!`);
  }
  return ['sh', '-c', lines.join('\n'), 'sh', ...args];
}

export class RemoteStarts {
  private readonly starts: PerTurn<{ pid: number; startTicks: string } | null>;

  constructor(containers: Containers, agentOf: (container: string) => Agent) {
    this.starts = new PerTurn(async (container, asked) => {
      const items = asked.map((a) => JSON.parse(a) as StartItem);
      const r = await containers.exec(container, startScript(items), { ownExec: true });
      if (r.exitCode !== 0) throw new Error(`starting ${items.length} process(es) in ${container} failed: ${r.stderr.trim()}`);
      const cpids = r.stdout.split('\n').map(Number);
      const init = await containers.pidOf(container);
      if (!init || cpids.length !== items.length || cpids.some((p) => !(p > 0))) throw new Error(`starting processes in ${container}: expected ${items.length} PIDs, the shell said "${r.stdout.trim()}"`);
      return agentOf(container).inContainer(init, cpids);
    });
  }

  /** Starts argv (with env) in the container; that machine's PID and start time, null when it was gone at once. */
  start(container: string, log: string, argv: string[], env?: Record<string, string>): Promise<{ pid: number; startTicks: string } | null> {
    const withEnv = env && Object.keys(env).length ? ['env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv] : argv;
    return this.starts.ask(container, JSON.stringify({ log, argv: withEnv }));
  }
}
