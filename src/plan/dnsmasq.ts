/**
 * nova's dnsmasq for one node, rendered as data: the argv nova-network built
 * (linux_net.py restart_dhcp, Havana; nova-network.md §4), its hosts file and its
 * DNS hosts file.
 */
import { join } from 'node:path';
import { behaviour, type Release, DEFAULT_RELEASE } from '../nova/releases.js';
import type { DhcpServerPlan, NetworkPlan, VmPlan } from './types.js';

export interface DnsmasqInputs {
  network: NetworkPlan;
  /** networks_path of the node */
  dir: string;
  listenAddress: string;
  /** the first address of the static range (nova: dhcp_start, the network's .2) */
  dhcpStart: string;
  /** upstream DNS servers nova passed (dns_server, the network's dns1/dns2 with use_network_dns_servers) */
  dnsServers?: string[];
  leaseMax: number;
  /** VMs this dnsmasq answers: in multi_host only the node's own (nova filters by host) */
  served: VmPlan[];
  /** every VM of the network, for the DNS hosts file */
  all: VmPlan[];
  /** the --dhcp-script: flatlab's stand-in for nova-dhcpbridge */
  dhcpScript: string;
  /** whose restart_dhcp built the command (releases.ts, dnsmasq) */
  release?: Release;
}

/**
 * `fa:16:3e:4b:11:22,vm-1.novalocal,10.0.0.4` per VM (nova's get_dhcp_hosts, _host_dhcp);
 * with use_single_default_gateway tagged `,net:NW-<vif id>` (_host_dhcp_network, 2012.1 on),
 * the VIF's id being the instance's here (one VIF per instance, created in order).
 */
export function renderHostsFile(vms: VmPlan[], domain: string, tagged = false): string {
  return vms.map((vm) => `${vm.mac},${fqdn(vm.hostname, domain)},${vm.ip}${tagged ? `,net:NW-${vm.instanceId}` : ''}\n`).join('');
}

/** `<ip>\t<hostname>.<domain>` for every VM of the network (nova's update_dns). */
export function renderAddnHosts(vms: VmPlan[], domain: string): string {
  return vms.map((vm) => `${vm.ip}\t${fqdn(vm.hostname, domain)}\n`).join('');
}

/**
 * `<hostname>.<dhcp_domain>`, the dot written even when the domain is empty, as nova's
 * `'%s,%s.%s,%s'` and `'%s\t%s.%s'` did (linux_net._host_dhcp, _host_dns, 2012.1-2013.2).
 */
function fqdn(hostname: string, domain: string): string {
  return `${hostname}.${domain}`;
}

/**
 * Options flatlab adds to nova's argv (each explained where planDnsmasq adds it): a real
 * node's dnsmasq has none of them, so `flatlab compare` leaves them out of the comparison.
 */
export const LAB_ONLY_DNSMASQ_OPTIONS = ['--no-resolv', '--keep-in-foreground', '--log-dhcp', '--log-facility'] as const;

/** --dhcp-range in the release's spelling (the tag nova gave it, quoted in 2013.1; the netmask from 2013.2). */
function dhcpRange(form: 'plain' | 'set-quoted' | 'set-netmask', n: NetworkPlan, start: string): string {
  if (form === 'plain') return `${start},static,${n.leaseTime}s`;
  if (form === 'set-quoted') return `set:'${n.label}',${start},static,${n.leaseTime}s`;
  return `set:${n.label},${start},static,${n.netmask},${n.leaseTime}s`;
}

export function planDnsmasq(i: DnsmasqInputs): DhcpServerPlan {
  const br = i.network.bridge;
  const pidFile = join(i.dir, `nova-${br}.pid`);
  const hostsFile = join(i.dir, `nova-${br}.conf`);
  const addnHostsFile = join(i.dir, `nova-${br}.hosts`);
  const leaseLog = join(i.dir, 'leases.log');
  const logFile = join(i.dir, 'dnsmasq.log');
  // Order and spelling as nova built the command line, in the release's form
  // (linux_net.restart_dhcp at 2012.1, 2012.2, 2013.1, 2013.2; releases.ts).
  const form = behaviour('dnsmasq', i.release ?? DEFAULT_RELEASE);
  const n = i.network;
  const optsFile = n.singleDefaultGateway ? join(i.dir, `nova-${br}.opts`) : null;
  const argv = [
    '--strict-order',
    '--bind-interfaces',
    '--conf-file=',
    // 2012: --domain=<dhcp_domain> always (empty too); 2013.1: quoted, the quotes reach dnsmasq
    ...(form.domain === 'always' ? [`--domain=${n.domain}`] : form.domain === 'always-quoted' ? [`--domain='${n.domain}'`] : []),
    `--pid-file=${pidFile}`,
    `--listen-address=${i.listenAddress}`,
    '--except-interface=lo',
    `--dhcp-range=${dhcpRange(form.range, n, i.dhcpStart)}`,
    `--dhcp-lease-max=${i.leaseMax}`,
    `--dhcp-hostsfile=${hostsFile}`,
    `--dhcp-script=${i.dhcpScript}`,
    '--leasefile-ro',
  ];
  if (form.domain === 'when-set' && n.domain) argv.push(`--domain=${n.domain}`);
  const servers = i.dnsServers ?? [];
  if (form.noHosts) {
    // 2013.1 on: --no-hosts with multi_host or upstream servers; 2013.1 built the
    // --addn-hosts string and never appended it: --no-hosts alone
    if (n.multiHost || servers.length) argv.push('--no-hosts');
    if (n.multiHost && form.addnHosts) argv.push(`--addn-hosts=${addnHostsFile}`);
    if (servers.length) argv.push('--no-resolv', ...servers.map((x) => `--server=${x}`));
  } else if (servers.length) {
    // 2012: the one dns_server (a StrOpt) as `-h -R --server=X`
    argv.push('-h', '-R', `--server=${servers[0]}`);
  }
  if (optsFile) argv.push(`--dhcp-optsfile=${optsFile}`);
  argv.push(
    // flatlab differs: nova let dnsmasq read the host's resolv.conf for upstream DNS
    // servers; a lab node has no way to them, and they live outside the lab (where nova
    // passed servers of its own it already said --no-resolv / -R).
    ...(argv.includes('--no-resolv') || argv.includes('-R') ? [] : ['--no-resolv']),
    // flatlab differs: nova let dnsmasq daemonise and tracked it by pid file; flatlab
    // keeps it in the foreground so the harness owns its PID from the start.
    '--keep-in-foreground',
    // flatlab adds: a DHCP transaction log per node, kept with the results.
    '--log-dhcp',
    `--log-facility=${logFile}`,
  );
  return {
    dir: i.dir,
    pidFile,
    hostsFile,
    hostsFileText: renderHostsFile(i.served, i.network.domain, n.singleDefaultGateway),
    optsFile,
    // get_dhcp_opts blanks option 3 for an instance's non-default networks: with one network, none
    optsText: '',
    addnHostsFile,
    addnHostsText: renderAddnHosts(i.all, i.network.domain),
    leaseLog,
    logFile,
    listenAddress: i.listenAddress,
    argv,
    // nova passed its flag file (FLAGFILE= in 2012, CONFIG_FILE= from 2013) and NETWORK_ID
    // to its dhcpbridge; the stand-in reads only where to record lease events.
    env: {
      ...(form.env === 'FLAGFILE' ? { FLAGFILE: '/etc/nova/nova-dhcpbridge.conf' } : { CONFIG_FILE: '["/etc/nova/nova-dhcpbridge.conf"]' }),
      NETWORK_ID: '1',
      FLATLAB_LEASE_LOG: leaseLog,
    },
  };
}

/** dnsmasq's floor on a lease (its option.c, dhcp-range): a shorter one is raised to it. */
export const DNSMASQ_MIN_LEASE = 120;

/** The lease dnsmasq really gives for nova's dhcp_lease_time. */
export function effectiveLease(novaLeaseTime: number): number {
  return Math.max(DNSMASQ_MIN_LEASE, novaLeaseTime);
}
