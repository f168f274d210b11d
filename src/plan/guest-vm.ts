/**
 * A `guest: vm` guest as plain data: the tap libvirt would have plugged into the node's
 * bridge, QEMU's argv, and the guest's own files. Pure: the image's paths and the
 * accelerator come in as options (run/guest-image.ts, run/accel.ts find them).
 *
 * What libvirt did for nova-compute (nova/virt/libvirt/vif.py, LibvirtBridgeDriver at
 * 2012.1-2013.2: a <interface type='bridge'> with the instance's MAC and model virtio):
 * a tap named vnetN, its MAC the guest's with the first byte 0xfe, enslaved to the bridge,
 * and the guest's virtio NIC on it. flatlab makes the tap itself (`ip tuntap`, in the node's
 * namespace) and QEMU attaches to it by name (`-netdev tap,ifname=...,script=no`).
 */
import type { GuestMachinePlan, VmPlan } from './types.js';

/** The name of the virtio-serial port the guest's agent listens on. */
export const AGENT_PORT = 'flatlab.agent';

/** Where the image puts the guests' DHCP client script (the namespace guests' own, compiled static). */
export const GUEST_UDHCPC_SCRIPT = '/bin/flatlab-udhcpc-script';

/** Where the guest reads its own settings (boot, agent: assets/guest/). */
export const GUEST_CONF = '/etc/flatlab/guest.conf';

/** The image a vm guest boots, as the run found it; absent for `flatlab plan` (not built yet, perhaps). */
export interface GuestImageRef {
  kernel: string;
  initrd: string;
}

export const UNBUILT_IMAGE: GuestImageRef = { kernel: '<guest image>/vmlinux', initrd: '<guest image>/initrd.cpio' };

/**
 * busybox udhcpc's arguments as a CirrOS guest ran it (in the foreground, -f, to renew;
 * 3 discovers 1 s apart, then 2 s before trying again), for both kinds of guest.
 */
export function udhcpcArgs(vm: Pick<VmPlan, 'nic' | 'hostname'>, script: string): string[] {
  return ['-f', '-i', vm.nic, '-t', '3', '-T', '1', '-A', '2', '-s', script, '-x', `hostname:${vm.hostname}`];
}

/** The tap in the node: made, given its fe: MAC, enslaved, up (carrier comes when QEMU attaches). */
export function tapLines(vm: Pick<VmPlan, 'tap' | 'tapMac'>, bridge: string): string[] {
  return [`tuntap add dev ${vm.tap} mode tap`, `link set dev ${vm.tap} address ${vm.tapMac} master ${bridge} up`];
}

/** QEMU takes "," inside an option's value as ",,". */
const q = (path: string): string => path.replaceAll(',', ',,');

/**
 * The guest's kernel command line: the console, quiet, and a guest whose init dies
 * powers off (panic=-1 and QEMU's -no-reboot: its QEMU ends, which the lab sees). For
 * boot time under emulation (measured here, TCG): no timer and TSC checks, and the local
 * APIC's timer left alone (noapictimer: calibrating it counts 100 ms of ticks, 220 ms
 * under TCG; the PIT drives the guest's clock events instead). The rest a cloud image's
 * command line set (ACPI, MSI, the keyboard, IPv6) the guest's kernel does not have
 * (assets/guest/kernel.config). Under TCG the machine's TSC rate is added
 * (tsc_early_khz=N: native/tsc-khz.c says why: without it a busy machine's guests kept
 * time by ticks, and their 2 s probe timeouts ended early).
 */
export const GUEST_CMDLINE = 'console=ttyS0 quiet panic=-1 tsc=reliable no_timer_check noapictimer';

/** QEMU's argv for a guest: its memory, the image, the console, the agent's port, the virtio NIC on the tap. */
export function qemuArgv(vm: Pick<VmPlan, 'name' | 'tap' | 'mac'>, m: Pick<GuestMachinePlan, 'memoryMb' | 'accel' | 'tscKhz' | 'agentSocket' | 'console' | 'kernel' | 'initrd'>, vhostNet: boolean): string[] {
  return [
    'qemu-system-x86_64',
    '-name', vm.name,
    '-nodefaults', '-no-user-config', '-no-reboot',
    '-machine', `pc,accel=${m.accel}`,
    // TCG: the baseline x86-64 CPU (the guest boots a little faster than with -cpu max)
    '-cpu', m.accel === 'kvm' ? 'host' : 'qemu64',
    '-smp', '1',
    '-m', String(m.memoryMb),
    '-display', 'none', '-vga', 'none',
    // the kernel's ELF, entered at its PVH note: nothing to decompress, no real mode
    '-kernel', q(m.kernel),
    '-initrd', q(m.initrd),
    '-append', m.tscKhz ? `${GUEST_CMDLINE} tsc_early_khz=${m.tscKhz}` : GUEST_CMDLINE,
    '-serial', `file:${q(m.console)}`,
    '-chardev', `socket,id=agent,path=${q(m.agentSocket)},server=on,wait=off`,
    '-device', 'virtio-serial-pci',
    '-device', `virtserialport,chardev=agent,name=${AGENT_PORT}`,
    // libvirt's <interface type='bridge'><model type='virtio'/>: vhost-net where the host has it
    // (no tap: a guest with no NIC, as the KVM probe boots)
    ...(vm.tap ? ['-netdev', `tap,id=net0,ifname=${vm.tap},script=no,downscript=no${vhostNet ? ',vhost=on' : ''}`, '-device', `virtio-net-pci,netdev=net0,mac=${vm.mac}`] : []),
  ];
}

/**
 * The guest's settings, sourced by its boot script (assets/guest/boot): shell words, every
 * value from a validated name, address or port (no quoting needed, none allowed).
 */
export function guestConf(vm: Pick<VmPlan, 'name' | 'hostname' | 'nic' | 'dir' | 'boot' | 'services'>): string {
  const services = vm.services.map((s) => `${s.proto}/${s.port}`).join(' ');
  return [
    `VM_NAME=${vm.name}`,
    `HOSTNAME=${vm.hostname}`,
    `NIC=${vm.nic}`,
    `VM_DIR=${vm.dir}`,
    `BOOT=${vm.boot}`,
    `SERVICES="${services}"`,
    `UDHCPC_ARGS="${udhcpcArgs(vm, GUEST_UDHCPC_SCRIPT).join(' ')}"`,
    '',
  ].join('\n');
}

/** The longest unix socket path the kernel takes (sun_path, with its NUL). */
const SUN_PATH_MAX = 107;

/** A vm guest's machine, but for its files and argv (plan.ts adds those once its services are known). */
export function planMachine(vm: Pick<VmPlan, 'name' | 'dir'>, memoryMb: number, accel: 'kvm' | 'tcg', image: GuestImageRef, tscKhz?: number): GuestMachinePlan {
  const agentSocket = `${vm.dir}/agent.sock`;
  if (agentSocket.length > SUN_PATH_MAX) throw new Error(`${vm.name}: its agent's socket path is ${agentSocket.length} bytes, over the kernel's ${SUN_PATH_MAX} (set FLATLAB_RUNTIME_DIR to a shorter folder)`);
  return { memoryMb, accel, ...(accel === 'tcg' && tscKhz ? { tscKhz } : {}), agentSocket, console: `${vm.dir}/console.log`, kernel: image.kernel, imageInitrd: image.initrd, initrd: `${vm.dir}/initrd.cpio`, files: [], argv: [] };
}

/** Completes a vm guest's machine once its services are known: its files and QEMU's argv. */
export function finishMachine(vm: VmPlan, vhostNet: boolean): void {
  const m = vm.machine;
  if (!m) return;
  m.files = [{ path: GUEST_CONF, text: guestConf(vm) }, ...(vm.injectedConfig ? [{ path: '/etc/network/interfaces', text: vm.injectedConfig }] : [])];
  m.argv = qemuArgv(vm, m, vhostNet);
}
