/**
 * Lease and gateway checks: compare what each VM's kernel holds and what each node's
 * dnsmasq recorded with what the plan expects.
 */
import type { Plan } from '../plan/types.js';
import type { LeaseEvent, Observations, Verdict } from './types.js';

/** Parses a lease log ("<time> <event> <mac> <ip> <hostname>" per line). */
export function parseLeaseLog(node: string, text: string): LeaseEvent[] {
  const out: LeaseEvent[] = [];
  for (const line of text.split('\n')) {
    const [time, event, mac, ip, hostname] = line.trim().split(/\s+/);
    if (event !== 'add' && event !== 'old' && event !== 'del') continue;
    out.push({ node, time: Number(time), event, mac: mac!.toLowerCase(), ip: ip!, hostname: hostname ?? '*' });
  }
  return out;
}

/** Which node's dnsmasq currently holds a lease for `mac`, and at which address. */
export function leasesOf(events: LeaseEvent[], mac: string): Map<string, string> {
  const held = new Map<string, string>();
  for (const e of events) {
    if (e.mac !== mac) continue;
    if (e.event === 'del') held.delete(e.node);
    else held.set(e.node, e.ip);
  }
  return held;
}

export function leaseVerdicts(plan: Plan, obs: Observations): Verdict[] {
  return plan.vms.map((vm) => {
    const expectedIp = plan.expected.leases[vm.name]!;
    const expected = `${expectedIp}/${plan.network.prefixLength} on ${vm.mac}, leased by ${vm.node}`;
    const o = obs.vms[vm.name];
    const held = leasesOf(obs.leaseEvents, vm.mac);
    const holders = [...held.entries()].map(([n, ip]) => `${n} (${ip})`).join(', ') || 'no node';
    const addr = o?.addresses.map((a) => `${a.ip}/${a.prefixLength}`).join(', ') || 'no address';
    const observed = `${addr} on ${o?.mac ?? 'no NIC'}, leased by ${holders}`;
    const problems: string[] = [];
    if (!o || o.addresses.length === 0) {
      problems.push(o?.clientRunning === false ? 'the guest DHCP client exited without a lease' : 'the guest has no IPv4 address (no DHCP offer accepted)');
    } else if (!o.addresses.some((a) => a.ip === expectedIp && a.prefixLength === plan.network.prefixLength)) {
      problems.push(`the guest configured ${addr}, not ${expectedIp}/${plan.network.prefixLength}`);
    }
    if (o && o.mac !== vm.mac) problems.push(`the guest NIC has MAC ${o.mac ?? 'none'}, not ${vm.mac}`);
    if (held.get(vm.node) !== expectedIp) problems.push(`${vm.node}'s dnsmasq recorded no lease of ${expectedIp} for ${vm.mac}`);
    const foreign = [...held.keys()].filter((n) => n !== vm.node);
    if (foreign.length > 0) problems.push(`leased also by another node's dnsmasq: ${foreign.join(', ')}`);
    return {
      kind: 'lease',
      subject: vm.name,
      expected,
      observed,
      ok: problems.length === 0,
      ...(problems.length ? { detail: problems.join('; ') } : {}),
    };
  });
}

export function gatewayVerdicts(plan: Plan, obs: Observations): Verdict[] {
  return plan.vms.map((vm) => {
    const expected = plan.expected.gateways[vm.name] ?? null;
    const o = obs.vms[vm.name];
    const seen = o?.defaultGateway ?? null;
    const told = o?.dhcp?.router;
    const ok = seen === expected;
    return {
      kind: 'gateway',
      subject: vm.name,
      expected: expected ?? 'no default route',
      observed: seen ?? 'no default route',
      ok,
      ...(!ok
        ? { detail: told ? `DHCP offered router ${told}` : 'the guest got no router from DHCP' }
        : {}),
    };
  });
}
