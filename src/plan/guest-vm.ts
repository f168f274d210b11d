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

/**
 * The kernel modules a guest loads, in dependency order: Debian's cloud kernel builds
 * virtio as modules (CONFIG_VIRTIO_PCI=m, CONFIG_VIRTIO_NET=m, CONFIG_VIRTIO_CONSOLE=m).
 */
export const GUEST_MODULES = ['virtio_ring', 'virtio', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci', 'failover', 'net_failover', 'virtio_net', 'virtio_console'] as const;

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

export const UNBUILT_IMAGE: GuestImageRef = { kernel: '<guest image>/vmlinuz', initrd: '<guest image>/initrd.cpio' };

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
 * The guest's kernel command line. Deliberate differences from a cloud image's, for boot
 * time under emulation (measured here, TCG: 2.8 s to the agent's word without them, 1.7 s
 * with): no ACPI tables to parse (acpi=off: the PCI bus is found the legacy way; the
 * guest is powered off by QEMU's end, never by itself), no timer and TSC checks, no
 * keyboard controller probe, no crypto self-tests; no MSI (without ACPI the kernel finds
 * no MSI domain and warns, with a stack trace, for each virtio device before it falls
 * back to legacy interrupts: pci=nomsi goes there at once). ipv6.disable=1 as in every namespace
 * of a lab (wiring.ts: the flat segment carries no IPv6 chatter). panic=-1 and QEMU's
 * -no-reboot: a guest whose init dies ends its QEMU, which the lab sees.
 */
export const GUEST_CMDLINE = 'console=ttyS0 quiet panic=-1 ipv6.disable=1 acpi=off pci=nomsi tsc=reliable no_timer_check i8042.noaux i8042.nokbd cryptomgr.notests 8250.nr_uarts=1';

/** QEMU's argv for a guest: its memory, the image, the console, the agent's port, the virtio NIC on the tap. */
export function qemuArgv(vm: Pick<VmPlan, 'name' | 'tap' | 'mac'>, m: Pick<GuestMachinePlan, 'memoryMb' | 'accel' | 'agentSocket' | 'console' | 'kernel' | 'initrd'>, vhostNet: boolean): string[] {
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
    '-kernel', q(m.kernel),
    '-initrd', q(m.initrd),
    '-append', GUEST_CMDLINE,
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
    `MODULES="${GUEST_MODULES.join(' ')}"`,
    `SERVICES="${services}"`,
    `UDHCPC_ARGS="${udhcpcArgs(vm, GUEST_UDHCPC_SCRIPT).join(' ')}"`,
    '',
  ].join('\n');
}

/** The longest unix socket path the kernel takes (sun_path, with its NUL). */
const SUN_PATH_MAX = 107;

/** A vm guest's machine, but for its files and argv (plan.ts adds those once its services are known). */
export function planMachine(vm: Pick<VmPlan, 'name' | 'dir'>, memoryMb: number, accel: 'kvm' | 'tcg', image: GuestImageRef): GuestMachinePlan {
  const agentSocket = `${vm.dir}/agent.sock`;
  if (agentSocket.length > SUN_PATH_MAX) throw new Error(`${vm.name}: its agent's socket path is ${agentSocket.length} bytes, over the kernel's ${SUN_PATH_MAX} (set FLATLAB_RUNTIME_DIR to a shorter folder)`);
  return { memoryMb, accel, agentSocket, console: `${vm.dir}/console.log`, kernel: image.kernel, imageInitrd: image.initrd, initrd: `${vm.dir}/initrd.cpio`, files: [], argv: [] };
}

/** Completes a vm guest's machine once its services are known: its files and QEMU's argv. */
export function finishMachine(vm: VmPlan, vhostNet: boolean): void {
  const m = vm.machine;
  if (!m) return;
  m.files = [{ path: GUEST_CONF, text: guestConf(vm) }, ...(vm.injectedConfig ? [{ path: '/etc/network/interfaces', text: vm.injectedConfig }] : [])];
  m.argv = qemuArgv(vm, m, vhostNet);
}
