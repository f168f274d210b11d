/** `flatlab plan`: the plan as a person reads it. */
import { commandLine } from './shell-words.js';
import chalk from 'chalk';
import { instanceChain } from '../plan/firewall.js';
import { describeRelease, RELEASE_TAGS } from '../nova/releases.js';
import type { Plan } from '../plan/types.js';
import { renderTable } from './table.js';
import { DEFAULT_VARIANT } from '../scenario/schema.js';

export function renderPlan(p: Plan): string {
  const out: string[] = [];
  const n = p.network;
  out.push(
    chalk.bold(p.variant === DEFAULT_VARIANT ? p.scenario : `${p.scenario} · variant ${p.variant}`),
    `  network ${n.label}: ${n.cidr} (netmask ${n.netmask}, broadcast ${n.broadcast}) on bridge ${n.bridge}, uplink ${n.flatInterface}`,
    `  multi_host=${n.multiHost} allow_same_net_traffic=${n.allowSameNetTraffic} dhcp_lease_time=${n.leaseTime} dhcp_domain=${n.domain || '(none)'}`,
    `  release ${p.release} (nova ${RELEASE_TAGS[p.release]})`,
    ...describeRelease(p.release).map((l) => chalk.dim(`    ${l}`)),
    ...(p.span
      ? [
          `  engines ${p.span.engines.join(', ')} (${p.span.engines[0]} holds the fabric and the hosts); the fabric's shares joined by VXLAN: ${p.span.segments.map((g) => `${g.bridge} VNI ${g.vni} (${g.dev})`).join(', ')}, UDP ${p.span.dstport}`,
        ]
      : []),
    '',
    renderTable(
      ['node', 'namespace', 'bridge address', 'uplink', 'VMs', ...(p.span ? ['engine'] : [])],
      p.nodes.map((x) => [x.name, x.netns, x.bridgeIp ?? '—', `${x.uplink} ↔ fabric:${x.fabricPort}`, x.vms.join(', '), ...(p.span ? [p.span.placement[x.name]!] : [])]),
    ),
    '',
    renderTable(
      ['VM', 'node', 'tap', 'MAC', 'IP', 'gateway', 'hostname'],
      p.vms.map((v) => [v.name, v.node, v.tap, v.mac, v.ip, v.gateway ?? '—', v.hostname]),
    ),
    '',
  );
  for (const node of p.nodes) {
    if (!node.dhcp) continue;
    const env = Object.fromEntries(Object.entries(node.dhcp.env).filter(([k]) => !k.startsWith('FLATLAB_')));
    out.push(chalk.bold(`  dnsmasq on ${node.name}`), `    ${commandLine(env, ['dnsmasq', ...node.dhcp.argv])}`, `    ${node.dhcp.hostsFile}:`);
    out.push(...node.dhcp.hostsFileText.trimEnd().split('\n').map((l) => `      ${l}`), '');
  }
  // every other process the lab starts, one example per role (`plan --json` lists each)
  const roles = new Map<string, Plan['processes']>();
  for (const proc of p.processes.filter((x) => x.role !== 'dnsmasq')) roles.set(proc.role, [...(roles.get(proc.role) ?? []), proc]);
  if (roles.size > 0) {
    out.push(chalk.bold('  processes the lab starts'));
    for (const [role, procs] of roles) {
      const first = procs[0]!;
      const env = Object.fromEntries(Object.entries(first.env ?? {}).filter(([k]) => !k.startsWith('FLATLAB_')));
      out.push(`    ${role}${procs.length > 1 ? ` ×${procs.length}, e.g.` : ''} ${first.what}${first.phase === 'checks' ? ' (during the checks)' : ''}: ${commandLine(env, first.argv)}`);
    }
    out.push('');
  }
  // the first instance's chain as nova-compute wrote it on its node
  const first = p.vms[0];
  if (first) {
    const chain = instanceChain(first);
    const node = p.nodes.find((x) => x.name === first.node)!;
    out.push(chalk.bold(`  ${chain} on ${node.name} (${first.name})`), ...node.firewall.split('\n').filter((l) => l.startsWith(`-A ${chain} `)).map((l) => `    ${l}`), '');
  }
  // nova-network's nat table on the first gateway with a way out (SNAT from the option or the network)
  const natNode = p.nodes.find((n) => n.firewallInputs.nat);
  if (natNode) {
    const lines = natNode.firewall.split('\n');
    const nat = lines.slice(lines.indexOf('*nat')).filter((l) => /^-A nova-network-(snat|POSTROUTING|PREROUTING) -s /.test(l));
    out.push(chalk.bold(`  nat on ${natNode.name} (nova-network, from ${natNode.firewallInputs.nat!.rangeFrom})`), ...nat.map((l) => `    ${l}`), '');
  }
  const reach = p.expected.reach;
  const positive = reach.filter((r) => r.expect === 'reachable').length;
  const egress = p.expected.egress;
  const out_ = egress.filter((e) => e.source !== null).length;
  out.push(
    `  expected: ${p.vms.length} leases, ${p.vms.length} gateways, ${reach.length} reachability checks (${positive} reachable, ${reach.length - positive} unreachable)${egress.length ? `, ${egress.length} ways out (${out_} out, ${egress.length - out_} broken)` : ''}`,
    ...egress.filter((e) => e.source === null && e.reason).map((e) => `    ${e.vm} via ${e.via}: ${e.reason}`),
    '',
  );
  return out.join('\n');
}
