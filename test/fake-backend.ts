/**
 * A backend that builds nothing and records every call: the lab lifecycle run against it
 * shows the order of a lab's steps, and a failure injected at any step shows that
 * teardown still runs. It answers as a healthy lab would: firewalls read back as loaded,
 * servers listen, each guest leases its planned address from its node's dnsmasq (the
 * lease log gets the line nova-dhcpbridge would write), probes get the answer the plan
 * expects.
 */
import type { Backend, ExecOptions, ExecResult, ProbeOutcome, ProcessRecord, StartOptions, VmNetState } from '../src/backend/backend.js';
import type { Plan, Protocol, VmPlan } from '../src/plan/types.js';

export interface Call {
  op: string;
  target?: string;
  detail?: string;
}

/** "op" or "op:detail" (startProcess:dnsmasq, exec:iptables-restore) at which to throw. */
export type FailAt = string | null;

export class FakeBackend implements Backend {
  readonly name = 'fake';
  readonly calls: Call[] = [];
  private readonly files = new Map<string, string>();
  private readonly running = new Set<number>();
  private readonly firewalls = new Map<string, string>();
  private plan: Plan | null = null;
  private nextPid = 4_000_000;

  constructor(private readonly failAt: FailAt = null) {}

  private record(op: string, target?: string, detail?: string): void {
    this.calls.push({ op, ...(target !== undefined ? { target } : {}), ...(detail !== undefined ? { detail } : {}) });
    if (this.failAt === op || this.failAt === `${op}:${detail}`) throw new Error(`injected failure at ${this.failAt}`);
  }

  async preflight(): Promise<void> {}

  bind(plan: Plan): void {
    this.plan = plan;
  }

  async createTopology(plan: Plan): Promise<void> {
    this.plan = plan;
    this.record('createTopology');
  }

  async setSysctls(target: string, values: Record<string, string>): Promise<void> {
    this.record('setSysctls', target, Object.keys(values).join(','));
  }

  async startProcess(target: string, argv: string[], opts: StartOptions): Promise<ProcessRecord> {
    this.record('startProcess', target, opts.role);
    const pid = this.nextPid++;
    this.running.add(pid);
    const vm = this.plan!.vms.find((v) => v.netns === target);
    if (vm && opts.role === 'dhcp-client') this.lease(vm);
    return { pid, startTicks: '1', role: opts.role, target };
  }

  /** What nova-dhcpbridge appends to the serving node's lease log when dnsmasq acks. */
  private lease(vm: VmPlan): void {
    const source = this.plan!.expected.addressSources[vm.name];
    if (source?.kind !== 'dnsmasq') return;
    const log = this.plan!.nodes.find((n) => n.name === source.node)!.dhcp!.leaseLog;
    this.files.set(log, `${this.files.get(log) ?? ''}1700000000 add ${vm.mac} ${vm.ip} ${vm.hostname}\n`);
  }

  async isRunning(proc: ProcessRecord): Promise<boolean> {
    return this.running.has(proc.pid);
  }

  async signal(proc: ProcessRecord, sig: NodeJS.Signals): Promise<void> {
    this.record('signal', proc.target, sig);
  }

  async listening(): Promise<boolean> {
    return true;
  }

  interactiveArgv(target: string, argv: string[]): string[] {
    return ['fake-exec', target, ...argv];
  }

  async exec(target: string, argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    this.record('exec', target, argv[0]);
    let stdout = '';
    if (argv[0] === 'iptables-restore') this.firewalls.set(target, opts.input ?? '');
    if (argv[0] === 'iptables-save') stdout = (this.firewalls.get(target) ?? '').replace(/^-A /gm, '[0:0] -A ');
    return { exitCode: 0, stdout, stderr: '', durationMs: 0, timedOut: false };
  }

  async probe(target: string, dst: string, proto: Protocol, port: number | undefined): Promise<ProbeOutcome> {
    this.record('probe', target, dst);
    const from = this.plan!.vms.find((v) => v.netns === target)!;
    const to = this.plan!.vms.find((v) => v.ip === dst)!;
    const e = this.plan!.expected.reach.find((r) => r.from === from.name && r.to === to.name && r.proto === proto && r.port === port);
    return { observed: e?.expect ?? 'unreachable', evidence: 'the fake answered as planned' };
  }

  async readFile(_target: string, path: string): Promise<string | null> {
    return this.files.get(path) ?? null;
  }

  async writeFile(_target: string, path: string, text: string): Promise<void> {
    this.files.set(path, text);
  }

  async readVmState(vm: VmPlan): Promise<VmNetState> {
    return { mac: vm.mac, addresses: [{ ip: vm.ip, prefixLength: this.plan!.network.prefixLength }], defaultGateway: vm.gateway, arp: {} };
  }

  async stopProcesses(procs: ProcessRecord[]): Promise<void> {
    this.record('stopProcesses', undefined, String(procs.length));
    for (const p of procs) this.running.delete(p.pid);
  }

  async destroy(prefix: string): Promise<void> {
    this.record('destroy', prefix);
  }

  close(): void {
    this.record('close');
  }

  /** processes started and not stopped */
  get left(): number {
    return this.running.size;
  }
}
