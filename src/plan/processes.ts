/**
 * Every long-running process a lab starts, as data: nova's dnsmasq on each node that
 * holds the network's DHCP address, an operator's DHCP server, the external host's echo
 * service, each guest's first process (its DHCP client, or the init that applies what nova
 * injected) and the sockets probes aim at. The lab starts exactly these (run/lab.ts);
 * `flatlab plan` prints them.
 */
import type { LabAssets } from '../assets.js';
import { captureArgv, synCaptureFilter } from './captures.js';
import { udhcpcArgs } from './guest-vm.js';
import type { ExternalDhcpPlan, ExternalPlan, GuestMachinePlan, NodePlan, ProcessPlan, VmPlan } from './types.js';

/** The processes of a plan's parts, in the order: servers, guests, the way out's capture. */
export function planProcesses(
  parts: { nodes: NodePlan[]; vms: VmPlan[]; external: ExternalPlan | null; dhcpServer: ExternalDhcpPlan | null },
  assets: LabAssets,
): ProcessPlan[] {
  const out: ProcessPlan[] = [];
  for (const n of parts.nodes) {
    if (!n.dhcp) continue;
    const d = n.dhcp;
    out.push({ owner: n.name, target: n.netns, role: 'dnsmasq', argv: ['dnsmasq', ...d.argv], env: d.env, logFile: `${d.dir}/dnsmasq.stderr`, listens: { proto: 'udp', port: 67 }, what: `dnsmasq on ${n.name}` });
  }
  const ds = parts.dhcpServer;
  if (ds) {
    out.push({ owner: ds.name, target: ds.netns, role: 'dhcp-server', argv: ['dnsmasq', ...ds.argv], logFile: `${ds.dir}/dnsmasq.stderr`, listens: { proto: 'udp', port: 67 }, what: 'the external DHCP server' });
  }
  const ext = parts.external;
  if (ext) {
    out.push({
      owner: ext.name,
      target: ext.netns,
      role: 'external-echo',
      argv: ['socat', `TCP4-LISTEN:${ext.echoPort},fork,reuseaddr`, `EXEC:${assets.peerEcho}`],
      logFile: `${ext.dir}/peer-echo.log`,
      listens: { proto: 'tcp', port: ext.echoPort },
      what: 'the external host',
    });
  }
  for (const vm of parts.vms) {
    const node = parts.nodes.find((n) => n.name === vm.node)!;
    // a vm guest's services are started by its own boot (assets/guest/boot), inside it
    if (vm.machine) out.push(machineProcess(vm, vm.machine, node));
    else out.push(guestProcess(vm, assets), ...vm.services.map((svc) => serviceProcess(vm, svc)));
  }
  if (ext) {
    // the way out's SYNs at the external host, during the checks (checks/egress.ts)
    out.push({ owner: ext.name, target: ext.netns, role: 'capture', argv: captureArgv(ext.nic, synCaptureFilter(ext.echoPort)), logFile: `${ext.dir}/capture-syn.txt`, phase: 'checks', what: 'the capture of the way out' });
  }
  return out;
}

/**
 * A guest's first process: busybox udhcpc, as a CirrOS guest runs it (in the foreground,
 * -f, to renew; 3 discovers 1 s apart, then 2 s before trying again), or, when nova
 * injected its configuration, an init that applies /etc/network/interfaces.
 */
function guestProcess(vm: VmPlan, assets: LabAssets): ProcessPlan {
  const env = { FLATLAB_VM_DIR: vm.dir };
  if (vm.boot === 'injected') {
    return { owner: vm.name, target: vm.netns, role: 'guest-init', argv: [assets.guestInit, vm.nic], execs: ['sleep', 'infinity'], env, logFile: `${vm.dir}/init.log`, what: `${vm.name}'s init` };
  }
  return {
    owner: vm.name,
    target: vm.netns,
    role: 'dhcp-client',
    argv: ['busybox', 'udhcpc', ...udhcpcArgs(vm, assets.udhcpcScript)],
    env,
    logFile: `${vm.dir}/udhcpc.log`,
    what: `${vm.name}'s DHCP client`,
  };
}

/** A vm guest: QEMU in its node's namespace (plan/guest-vm.ts), its agent's socket its resident's word. */
function machineProcess(vm: VmPlan, m: GuestMachinePlan, node: NodePlan): ProcessPlan {
  return { owner: vm.name, target: node.netns, role: 'guest-vm', argv: m.argv, logFile: `${vm.dir}/qemu.log`, what: `${vm.name}'s QEMU` };
}

/**
 * A socket tcp/udp probes aim at: one socat per port, echoing what it receives (PIPE), so
 * a probe tells an answer from a refusal and from silence.
 */
function serviceProcess(vm: VmPlan, svc: VmPlan['services'][number]): ProcessPlan {
  const argv = svc.proto === 'tcp' ? ['socat', `TCP4-LISTEN:${svc.port},fork,reuseaddr`, 'PIPE'] : ['socat', '-T', '1', `UDP4-RECVFROM:${svc.port},fork`, 'PIPE'];
  return { owner: vm.name, target: vm.netns, role: 'service', argv, logFile: `${vm.dir}/${svc.proto}-${svc.port}.log`, listens: svc, what: `${svc.proto}/${svc.port} listener in ${vm.name}` };
}

/** The planned processes of one owner in one role (a node's dnsmasq, a VM's services). */
export function processesOf(plan: { processes: ProcessPlan[] }, owner: string, role: ProcessPlan['role']): ProcessPlan[] {
  return plan.processes.filter((p) => p.owner === owner && p.role === role);
}
