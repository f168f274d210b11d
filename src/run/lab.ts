/**
 * A lab's lifecycle: Plan -> RunningLab (built, DHCP served, guests leased) -> torn down.
 * Backend-neutral: it decides what runs where; the backend decides how.
 */
import { fileURLToPath } from 'node:url';
import type { Backend, ProcessRecord } from '../backend/backend.js';
import type { Plan, VmPlan } from '../plan/types.js';
import type { Progress } from './progress.js';
import { removeState, writeState, type RunState } from './state.js';
import { pollUntil } from './wait.js';
import { rm } from 'node:fs/promises';

/** Files shipped with flatlab that run inside the lab. */
export const ASSETS = {
  dhcpbridge: fileURLToPath(new URL('../../assets/nova-dhcpbridge', import.meta.url)),
  udhcpcScript: fileURLToPath(new URL('../../assets/udhcpc.script', import.meta.url)),
};

export interface LabTimeouts {
  /** dnsmasq bound to its DHCP port */
  dhcpServerMs: number;
  /** every guest holds an address (or the deadline says it will not) */
  leasesMs: number;
  /** a lease the guest holds shows in its node's lease log */
  leaseLogMs: number;
}

export const DEFAULT_TIMEOUTS: LabTimeouts = { dhcpServerMs: 3000, leasesMs: 6000, leaseLogMs: 2000 };

export interface RunningLab {
  plan: Plan;
  backend: Backend;
  state: RunState;
  dhcpServers: Record<string, ProcessRecord>;
  /** each guest's DHCP client: it lives in the VM for the whole run, as in a guest */
  clients: Record<string, ProcessRecord>;
}

/** Records a started process in the run's state file before anything else happens. */
async function track(state: RunState, p: ProcessRecord): Promise<ProcessRecord> {
  state.processes.push(p);
  await writeState(state);
  return p;
}

export async function bringUp(
  plan: Plan,
  backend: Backend,
  state: RunState,
  progress: Progress,
  signal: AbortSignal,
  timeouts: LabTimeouts = DEFAULT_TIMEOUTS,
): Promise<RunningLab> {
  const lab: RunningLab = { plan, backend, state, dhcpServers: {}, clients: {} };
  await writeState(state);

  await progress.phase('build', `namespaces, bridges and links (${plan.wiring.namespaces.length} namespaces)`, async () => {
    await Promise.all([
      ...plan.nodes.flatMap((n) =>
        n.dhcp
          ? [
              backend.writeFile(n.netns, n.dhcp.hostsFile, n.dhcp.hostsFileText),
              backend.writeFile(n.netns, n.dhcp.addnHostsFile, n.dhcp.addnHostsText),
            ]
          : [],
      ),
      ...plan.vms.map((v) => backend.writeFile(v.netns, `${v.dir}/dhcp.events`, '')),
      backend.createTopology(plan),
    ]);
  });
  signal.throwIfAborted();

  await progress.phase('dhcp', 'dnsmasq per node and guest DHCP clients', async () => {
    await Promise.all(
      plan.nodes.map(async (node) => {
        // nova's initialize_gateway_device turns on forwarding on every gateway node;
        // bridge-nf-call-iptables makes the node's iptables see bridged VM traffic.
        // The firewall is in place before any guest boots, as nova-compute set it up
        // before spawning the instance.
        await Promise.all([
          backend.setSysctls(node.netns, { 'net.ipv4.ip_forward': '1', 'net.bridge.bridge-nf-call-iptables': '1' }),
          applyFirewall(backend, node.netns, node.firewall),
        ]);
        if (node.dhcp) {
          const d = node.dhcp;
          const p = await track(
            state,
            await backend.startProcess(node.netns, ['dnsmasq', ...d.argv], { env: d.env, logFile: `${d.dir}/dnsmasq.stderr`, role: 'dnsmasq' }),
          );
          lab.dhcpServers[node.name] = p;
          const up = await pollUntil(async () => !backend.isRunning(p) || (await backend.listening(p, 'udp', 67)), {
            timeoutMs: timeouts.dhcpServerMs,
            signal,
          });
          if (!up || !backend.isRunning(p)) {
            const log = (await backend.readFile(node.netns, d.logFile)) ?? '';
            const err = (await backend.readFile(node.netns, `${d.dir}/dnsmasq.stderr`)) ?? '';
            throw new Error(`dnsmasq on ${node.name} did not start: ${(err + log).trim().split('\n').slice(-3).join(' / ')}`);
          }
        }
        // Boot this node's guests as soon as its DHCP server answers.
        await Promise.all(
          plan.vms
            .filter((v) => v.node === node.name)
            .map(async (vm) => {
              // busybox udhcpc, as a CirrOS guest runs it: stays in the foreground (-f)
              // to renew; 3 discovers 1 s apart, then 2 s before trying again.
              const argv = ['busybox', 'udhcpc', '-f', '-i', vm.nic, '-t', '3', '-T', '1', '-A', '2', '-s', ASSETS.udhcpcScript, '-x', `hostname:${vm.hostname}`];
              lab.clients[vm.name] = await track(
                state,
                await backend.startProcess(vm.netns, argv, { env: { FLATLAB_VM_DIR: vm.dir }, logFile: `${vm.dir}/udhcpc.log`, role: 'dhcp-client' }),
              );
              await startServices(lab, vm, signal, timeouts);
            }),
        );
      }),
    );
  });
  signal.throwIfAborted();
  return lab;
}

async function applyFirewall(backend: Backend, target: string, rules: string): Promise<void> {
  const r = await backend.exec(target, ['iptables-restore'], { input: rules });
  if (r.exitCode !== 0) throw new Error(`iptables-restore in ${target} failed: ${r.stderr.trim()}`);
}

/**
 * The sockets tcp/udp probes aim at: one socat per port, echoing what it receives
 * (PIPE), so a probe tells an answer from a refusal and from silence.
 */
async function startServices(lab: RunningLab, vm: VmPlan, signal: AbortSignal, timeouts: LabTimeouts): Promise<void> {
  const { backend, state } = lab;
  await Promise.all(
    vm.services.map(async (svc) => {
      const argv =
        svc.proto === 'tcp'
          ? ['socat', `TCP4-LISTEN:${svc.port},fork,reuseaddr`, 'PIPE']
          : ['socat', '-T', '1', `UDP4-RECVFROM:${svc.port},fork`, 'PIPE'];
      const p = await track(
        state,
        await backend.startProcess(vm.netns, argv, { logFile: `${vm.dir}/${svc.proto}-${svc.port}.log`, role: 'service' }),
      );
      const up = await pollUntil(async () => !backend.isRunning(p) || (await backend.listening(p, svc.proto, svc.port)), {
        timeoutMs: timeouts.dhcpServerMs,
        signal,
      });
      if (!up || !backend.isRunning(p)) throw new Error(`${svc.proto}/${svc.port} listener in ${vm.name} did not start (see ${vm.dir}/${svc.proto}-${svc.port}.log)`);
    }),
  );
}

/** Waits until every guest holds an address and its node's lease log shows the lease. */
export async function awaitLeases(lab: RunningLab, progress: Progress, signal: AbortSignal, timeouts: LabTimeouts = DEFAULT_TIMEOUTS): Promise<void> {
  const { plan, backend } = lab;
  await progress.phase('leases', `DHCP leases for ${plan.vms.length} guests`, async () => {
    await Promise.all(
      plan.vms.map(async (vm) => {
        const client = lab.clients[vm.name]!;
        const got = await pollUntil(
          async () => {
            if (!backend.isRunning(client)) return true;
            const s = await backend.readVmState(vm, client);
            return s.addresses.length > 0 && s.defaultGateway !== null;
          },
          { timeoutMs: timeouts.leasesMs, signal },
        );
        const node = plan.nodes.find((n) => n.name === vm.node)!;
        if (!got || !node.dhcp) return;
        // dnsmasq runs its --dhcp-script after it acks: give the record a moment.
        const log = node.dhcp.leaseLog;
        await pollUntil(async () => ((await backend.readFile(node.netns, log)) ?? '').includes(` ${vm.mac} `), {
          timeoutMs: timeouts.leaseLogMs,
          signal,
        });
      }),
    );
  });
}

/**
 * Removes everything of the run: its processes by PID, then every namespace carrying its
 * prefix, then its runtime files and state file. `collect` runs after the processes
 * stopped (logs complete) and before files go. Safe to call on a half-built run.
 */
export async function tearDown(
  backend: Backend,
  prefix: string,
  runtimeDir: string,
  processes: ProcessRecord[],
  collect?: () => Promise<void>,
): Promise<void> {
  await backend.stopProcesses(processes);
  try {
    if (collect) await collect();
  } finally {
    await backend.destroy(prefix);
    await rm(runtimeDir, { recursive: true, force: true });
    await removeState(prefix);
  }
}
