/**
 * The backend contract: what the lab lifecycle needs from whatever realises a plan
 * (the machine's network namespaces, or Docker containers holding them: netns/, docker/).
 * The checks, the diagnosis and run/ see only this.
 *
 * A "target" is the namespace name of the fabric, a node or a VM as the plan names it.
 */
import type { Plan, Protocol, Reachability, VmPlan } from '../plan/types.js';

/**
 * A process that was gone before its start could be recorded (startProcess throws it):
 * for a server the scenario's fault keeps from starting, the outcome the lab waits for.
 */
export class ExitedAtOnce extends Error {
  constructor(readonly role: string, readonly target: string, readonly logFile: string) {
    super(`${role} in ${target} exited at once (see ${logFile})`);
    this.name = 'ExitedAtOnce';
  }
}

/** A process the run started and must stop; identified by PID plus start time. */
export interface ProcessRecord {
  pid: number;
  /** /proc/PID/stat field 22, so a recycled PID is never mistaken for ours */
  startTicks: string;
  role: string;
  target: string;
  /** the plan's owner of the process, where it names a VM not the target (a vm guest's QEMU runs in its node) */
  owner?: string;
  /**
   * The engine whose machine the PID belongs to, when that is not this machine (a remote
   * Docker engine): the PID is then asked about and signalled there, never here.
   */
  engine?: string;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
  timedOut: boolean;
}

export interface ExecOptions {
  timeoutMs?: number;
  input?: string;
  env?: Record<string, string>;
}

export interface StartOptions {
  env?: Record<string, string>;
  /** stdout and stderr of the process go here */
  logFile: string;
  role: string;
  /** the node, VM or host the plan says it belongs to (a vm guest's QEMU: the VM) */
  owner?: string;
}

/** A VM's network state as its own kernel holds it. */
export interface VmNetState {
  /** the MAC on the guest NIC */
  mac: string | null;
  /** IPv4 addresses on the guest NIC */
  addresses: { ip: string; prefixLength: number }[];
  defaultGateway: string | null;
  /** resolved ARP entries: address -> MAC */
  arp: Record<string, string>;
  /** addresses the guest asked for by ARP without an answer (INCOMPLETE or FAILED) */
  unresolved?: string[];
}

/** A neighbour entry as the kernel held it when it was released. */
export interface NeighbourEntry {
  ip: string;
  /** null while unresolved */
  mac: string | null;
  /** REACHABLE, STALE, DELAY, PROBE, FAILED, INCOMPLETE, PERMANENT */
  state: string;
}

/** What one probe saw: the verdict and, in words, what answered (or did not). */
export interface ProbeOutcome {
  observed: Reachability;
  evidence: string;
}

/**
 * How a backend is set up for a run, kept in the run's state so a later process (clean,
 * check, the reaper) reaches the same places.
 */
export interface BackendOptions {
  /** Docker: the engines to place nodes on, in order (the first is this machine's); default the one of DOCKER_HOST */
  engines?: { name: string; url: string; remote?: boolean; image?: string }[];
  /** Docker, several engines: the network namespace of this machine where the fabric's VXLAN meets the underlay (NAME or NAME@ADDRESS) */
  underlay?: string;
}

export interface Backend {
  readonly name: string;
  /** How many probes at once the backend handles well (16 when it does not say). */
  readonly probeConcurrency?: number;
  /** Checks the machine can run this backend; throws EnvironmentError saying what to do. */
  preflight(): Promise<void>;
  /**
   * What a later process needs to reach the same places (recorded in the run's state):
   * the engines as resolved now, never the caller's DOCKER_HOST of later.
   */
  reachOptions?(): BackendOptions;
  /** Learns where the plan's targets live, for a lab this object did not build (check, clean). */
  bind?(plan: Plan): void;
  /** Creates namespaces, bridges and links of the plan (plan.wiring). */
  createTopology(plan: Plan): Promise<void>;
  /** Sets sysctls inside a target (one process for all of them). */
  setSysctls(target: string, values: Record<string, string>): Promise<void>;
  /** Starts a long-running process inside a target, detached from the terminal. */
  startProcess(target: string, argv: string[], opts: StartOptions): Promise<ProcessRecord>;
  /** True while the process is alive (asked where it runs: another machine's engine answers through the API). */
  isRunning(proc: ProcessRecord): Promise<boolean>;
  /** Sends a signal to a process the run started (where it runs). */
  signal(proc: ProcessRecord, sig: NodeJS.Signals): Promise<void>;
  /** True when a socket in the process's namespace is bound to this UDP port / listens on this TCP port. */
  listening(proc: ProcessRecord, proto: 'tcp' | 'udp', port: number): Promise<boolean>;
  /**
   * The command line that runs argv inside a target with the caller's terminal attached
   * (`flatlab exec`): run on this machine, it enters wherever the target lives.
   */
  interactiveArgv(target: string, argv: string[], tty: boolean): string[];
  /** Runs a command to completion inside a target. */
  exec(target: string, argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Sends one probe from inside a target (a VM) to dst and says what came back within timeoutMs. */
  probe(target: string, dst: string, proto: Protocol, port: number | undefined, timeoutMs: number): Promise<ProbeOutcome>;
  /** Reads a file as the target sees it; null when it does not exist. */
  readFile(target: string, path: string): Promise<string | null>;
  /**
   * Whether a file exists as the target sees it: one system call where files are this
   * machine's (a thousand guests' lease files are looked for several times a second).
   * Absent: readFile answers.
   */
  exists?(target: string, path: string): Promise<boolean>;
  /** Writes a file where the target sees it (dnsmasq's hosts files), creating directories. */
  writeFile(target: string, path: string, text: string, mode?: number): Promise<void>;
  /**
   * Deletes a target's IPv4 neighbour entries and says what they were. The kernel keeps
   * one neighbour table for every namespace and cannot reclaim an entry a timer holds;
   * a deleted one frees its slot at once. Absent: the backend cannot (large labs are then
   * paced instead).
   */
  releaseNeighbours?(target: string): Promise<NeighbourEntry[]>;
  /** Reads a VM's NIC, addresses and default route (cheaply through `resident`, a process living in it, when given). */
  readVmState(vm: VmPlan, resident?: ProcessRecord): Promise<VmNetState>;
  /** Stops processes by PID (TERM, then KILL) and waits until they are gone. */
  stopProcesses(procs: ProcessRecord[]): Promise<void>;
  /** Removes everything carrying the run prefix: processes inside its namespaces, then the namespaces. */
  destroy(prefix: string): Promise<void>;
  /** A vm guest's kernel release, as its agent says it (null: the target is no vm guest). */
  guestKernel?(target: string): Promise<string | null>;
  /** Lets go of helpers the backend keeps (it may be used again afterwards). */
  close?(): void;
}
