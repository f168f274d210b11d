/**
 * Every tcpdump a run may start, written once: the argv and the filters (and the DHCP
 * exchange a diagnosis replays while they capture). Captures start
 * during the checks (the way out) and the diagnosis (a failing flow's hops), so their
 * filters are functions of the flow rather than entries of one plan; the way out's
 * capture, known in advance, is also listed in `plan.processes` (processes.ts).
 */
import type { VmPlan } from './types.js';

/** The tcpdump argv of a capture: immediate delivery, line-buffered, no promiscuous change. */
export function captureArgv(iface: string, filter: string, extra: string[] = []): string[] {
  return ['tcpdump', '-p', '-n', '-l', '--immediate-mode', ...extra, '-i', iface, filter];
}

/** A DHCP exchange: the guest's own frames, and broadcast replies to clients. */
export function dhcpCaptureFilter(vm: Pick<VmPlan, 'mac'>): string {
  return `udp and (port 67 or port 68) and (ether host ${vm.mac} or ether dst ff:ff:ff:ff:ff:ff)`;
}

/** A flow between two addresses, with the ARP that precedes it. */
export function flowCaptureFilter(srcIp: string, dstIp: string): string {
  return `arp or host ${dstIp} or host ${srcIp}`;
}

/** The way out: the SYNs reaching the external host's echo port (their source is the verdict). */
export function synCaptureFilter(echoPort: number): string {
  return `tcp dst port ${echoPort} and tcp[tcpflags] & tcp-syn != 0`;
}

/**
 * The DHCP exchange a diagnosis replays in a guest while its path is captured: a one-shot
 * udhcpc whose own limits bound it (2 discovers 1 s apart, then it gives up: -n), whose
 * script does nothing (the guest's resident client keeps its own lease).
 */
export function dhcpProbeArgv(nic: string): string[] {
  return ['busybox', 'udhcpc', '-f', '-q', '-n', '-t', '2', '-T', '1', '-s', '/bin/true', '-i', nic];
}
