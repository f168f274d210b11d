/**
 * The run's agent on a remote engine: an engine whose containers are not processes of
 * this machine (another host, or scripts/remote-engine.sh's dockerd in PID and mount
 * namespaces of its own). flatlab cannot follow such containers through this machine's
 * /proc or /run/netns, so on each remote engine one container of the run, in that
 * machine's host network and host PID namespace, does what the machine's own namespaces
 * and /proc do for a local engine:
 * - the nodes' and the fabric share's namespaces are attached in it under the plan's
 *   names (`ip netns attach NAME PID`, by that machine's PIDs), so the plan's wiring
 *   lines (`... netns node-1`) run there unchanged and its sysctls are set there;
 * - the VXLAN's underlay end is made there (its host network is that machine's underlay);
 * - what flatlab asks of a process by PID (alive, start time, signals, sockets, stop) is
 *   asked there, always checked against the start time, so a recycled PID is never hit.
 * Every request is one exec through the engine's API, its input on the exec's stdin
 * (hijacked stream), never a shared file. It carries the run's label: destroy, clean and
 * the reaper remove it with the run's other containers.
 */
import type { ExecResult, ProcessRecord } from '../backend.js';
import { portInTable, splitStat } from '../procfs.js';
import { PerTurn } from './per-turn.js';

/** What the agent needs of the engine: its exec. */
export type AgentExec = (argv: string[], input?: string) => Promise<ExecResult>;

/** The container's name for a run on an engine (labelled with the run like the rest). */
export function agentName(prefix: string, engine: string): string {
  return `${prefix}-agent-${engine}`;
}

/**
 * Shell functions the agent's requests share. ticks PID prints /proc/PID/stat field 22
 * (start time) unless PID is gone or a zombie: after the last ')' field 3 is $1, 22 is ${20}.
 */
const TICKS = 'ticks() { s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; set -- ${s##*) }; [ "$1" != Z ] && echo "${20}"; }';

/**
 * Stops PID TICKS pairs: TERM to those still the same process, then waits for them to be
 * gone, KILL past 1 s, gone within 2 s. The waits poll /proc (no event reaches a shell
 * from another process's exit); the bound only decides when KILL follows TERM, as in the
 * netns backend, never a verdict.
 */
const STOP = `${TICKS}
same() { [ "$(ticks "$1")" = "$2" ]; }
left() { l=; while [ $# -gt 1 ]; do same "$1" "$2" && l="$l $1"; shift 2; done; echo $l; }
each() { sig=$1; shift; while [ $# -gt 1 ]; do same "$1" "$2" && kill -s "$sig" "$1" 2>/dev/null; shift 2; done; }
each TERM "$@"
i=0
while [ -n "$(left "$@")" ]; do
  i=$((i + 1))
  [ $i = 10 ] && each KILL "$@"
  [ $i -gt 20 ] && exit 1
  sleep 0.1
done
exit 0`;

/**
 * One shell setting sysctls in named namespaces (`ip netns exec NS sysctl -w`), where
 * those names are known: a remote engine's agent, or a node container for its guests.
 * null when there is nothing to set.
 */
export function sysctlScript(entries: [netns: string, values: Record<string, string>][]): string[] | null {
  const args = entries.filter(([, v]) => Object.keys(v).length > 0).flatMap(([ns, v]) => [ns, Object.entries(v).map(([k, x]) => `${k}=${x}`).join(' ')]);
  return args.length ? ['sh', '-c', 'while [ $# -gt 1 ]; do ip netns exec "$1" sysctl -q -w $2 || exit 1; shift 2; done', 'sh', ...args] : null;
}

/**
 * Prints "INIT CPID PID TICKS" for every live process in the PID namespace of each INIT
 * given (a node container's init): its PID in the container (NSpid's last field), there
 * and its start time. A process of the container is found by its namespace (`-ef` on
 * ns/pid, one stat each, no process spawned per entry) and read with the shell's own `read`.
 */
const IN_CONTAINERS = `${TICKS}
for i; do
  for d in /proc/[0-9]*; do
    [ "$d/ns/pid" -ef "/proc/$i/ns/pid" ] || continue
    while read -r k a b; do
      [ "$k" = NSpid: ] || continue
      t=$(ticks "$a") && echo "$i \${b:-$a} $a $t"
      break
    done < "$d/status"
  done 2>/dev/null
done
exit 0`;

export class Agent {
  /** every PID asked about in one turn (a poller's round checks every guest): one exec */
  private readonly ticks: PerTurn<string | null>;
  /** processes found by their PID in a container, asked in one turn: one exec */
  private readonly found: PerTurn<{ pid: number; startTicks: string } | null>;

  constructor(private readonly exec: AgentExec, readonly engine: string) {
    this.ticks = new PerTurn(async (_, pids) => {
      const r = await this.exec(['sh', '-c', 'for p; do cat "/proc/$p/stat" 2>/dev/null || echo "$p (-) gone"; done', 'sh', ...new Set(pids)]);
      const byPid = new Map(r.stdout.split('\n').map((l) => [l.split(' ')[0], splitStat(l)] as const));
      return pids.map((p) => {
        const f = byPid.get(p);
        return f && f[0] !== 'Z' && f[0] !== 'gone' ? (f[19] ?? null) : null;
      });
    });
    this.found = new PerTurn(async (_, asked) => {
      const inits = [...new Set(asked.map((a) => a.split(' ')[0]!))];
      const r = await this.run('finding processes in containers', ['sh', '-c', IN_CONTAINERS, 'sh', ...inits]);
      const seen = new Map<string, { pid: number; startTicks: string }>(
        r.stdout
          .split('\n')
          .map((l) => l.split(' '))
          .filter((f) => f.length === 4)
          .map(([init, cpid, pid, ticks]): [string, { pid: number; startTicks: string }] => [`${init} ${cpid}`, { pid: Number(pid), startTicks: ticks! }]),
      );
      return asked.map((a) => seen.get(a) ?? null);
    });
  }

  /**
   * The processes a container's exec started, by their PIDs in the container (`init`: the
   * container's init, that machine's PID): that machine's PID and start time, null for one
   * gone (or a zombie) already.
   */
  inContainer(init: number, cpids: number[]): Promise<({ pid: number; startTicks: string } | null)[]> {
    return Promise.all(cpids.map((c) => this.found.ask('', `${init} ${c}`)));
  }

  private async run(what: string, argv: string[], input?: string): Promise<ExecResult> {
    const r = await this.exec(argv, input);
    if (r.exitCode !== 0) throw new Error(`${what} on engine ${this.engine} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ')}`);
    return r;
  }

  /** Makes /proc/sys writable (sysctls of the namespaces it enters); once, when started. */
  async prepare(): Promise<void> {
    await this.run('preparing the agent', ['mount', '-o', 'remount,rw', '/proc/sys']);
  }

  /** Names these processes' network namespaces there (NAME -> that machine's PID). */
  async attach(entries: [name: string, pid: number][]): Promise<void> {
    if (entries.length === 0) return;
    await this.run('ip netns attach', ['ip', '-batch', '-'], entries.map(([n, pid]) => `netns attach ${n} ${pid}`).join('\n') + '\n');
  }

  /** iproute2 lines inside an attached namespace (one process). */
  async batch(netns: string | null, lines: string[], tool: 'ip' | 'bridge' = 'ip'): Promise<void> {
    if (lines.length === 0) return;
    await this.run(`${tool} -batch in ${netns ?? 'its host network'}`, [tool, ...(netns ? ['-n', netns] : []), '-batch', '-'], lines.join('\n') + '\n');
  }

  /** Sysctls of attached namespaces, one process for all of them. */
  async sysctls(entries: [netns: string, values: Record<string, string>][]): Promise<void> {
    const argv = sysctlScript(entries);
    if (argv) await this.run('sysctls', argv);
  }

  /** Runs argv in that machine's host network (the VXLAN's underlay end). */
  host(argv: string[]): Promise<ExecResult> {
    return this.exec(argv);
  }

  /** Start times (stat field 22) of PIDs there; null for one gone (asked with the turn's other PIDs). */
  startTicks(pids: number[]): Promise<(string | null)[]> {
    return Promise.all(pids.map((p) => this.ticks.ask('', String(p))));
  }

  /** Which of these processes are alive there (the same PID and start time). */
  async alive(procs: ProcessRecord[]): Promise<boolean[]> {
    const ticks = await this.startTicks(procs.map((p) => p.pid));
    return procs.map((p, i) => ticks[i] === p.startTicks);
  }

  /** Signals processes still the ones the run started. */
  async signal(procs: ProcessRecord[], sig: NodeJS.Signals): Promise<void> {
    if (procs.length === 0) return;
    const script = `${TICKS}\nsig=$1; shift; while [ $# -gt 1 ]; do [ "$(ticks "$1")" = "$2" ] && kill -s "$sig" "$1" 2>/dev/null; shift 2; done; exit 0`;
    await this.run(`kill -s ${sig}`, ['sh', '-c', script, 'sh', sig.replace(/^SIG/, ''), ...procs.flatMap((p) => [String(p.pid), p.startTicks])]);
  }

  /** TERM, then KILL, and waits until they are gone. */
  async stop(procs: ProcessRecord[]): Promise<void> {
    if (procs.length === 0) return;
    await this.run('stopping processes', ['sh', '-c', STOP, 'sh', ...procs.flatMap((p) => [String(p.pid), p.startTicks])]);
  }

  /** Kills a command a bounded exec started (by that machine's PID, as the engine reports it). */
  async kill(pid: number): Promise<void> {
    await this.exec(['kill', '-KILL', String(pid)]);
  }

  /** Whether a socket in the process's namespace is bound to (UDP) or listens on (TCP) port. */
  async portBound(proc: ProcessRecord, proto: 'tcp' | 'udp', port: number): Promise<boolean> {
    const r = await this.exec(['sh', '-c', `${TICKS}\n[ "$(ticks "$1")" = "$2" ] && cat "/proc/$1/net/$3"`, 'sh', String(proc.pid), proc.startTicks, proto]);
    return r.exitCode === 0 && portInTable(r.stdout, proto, port);
  }
}
