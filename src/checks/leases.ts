/**
 * Address, lease and gateway checks: compare what each VM's kernel holds, what it was
 * told and what the server that configured it recorded, with what the plan expects.
 */
import type { Plan, VmPlan } from '../plan/types.js';
import type { LeaseEvent, Observations, ServerLease, Verdict, VmObservation } from './types.js';

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

/** Parses dnsmasq's lease file ("<expiry> <mac> <ip> <hostname> <client-id>" per line). */
export function parseLeaseFile(text: string): ServerLease[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 4)
    .map(([expires, mac, ip, hostname]) => ({ expires: Number(expires), mac: mac!.toLowerCase(), ip: ip!, hostname: hostname! }));
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

const addrText = (o: VmObservation | undefined): string => o?.addresses.map((a) => `${a.ip}/${a.prefixLength}`).join(', ') || 'no address';

/** Problems with the address the guest holds, compared with what it should hold. */
function addressProblems(plan: Plan, vm: VmPlan, o: VmObservation | undefined, expectedIp: string): string[] {
  const len = plan.network.prefixLength;
  const problems: string[] = [];
  if (!o || o.addresses.length === 0) {
    problems.push(o?.clientRunning === false ? 'the guest exited without an address' : 'the guest has no IPv4 address');
  } else if (!o.addresses.some((a) => a.ip === expectedIp && a.prefixLength === len)) {
    problems.push(`the guest configured ${addrText(o)}, not ${expectedIp}/${len}`);
  }
  if (o && o.mac !== vm.mac) problems.push(`the guest NIC has MAC ${o.mac ?? 'none'}, not ${vm.mac}`);
  return problems;
}

function verdict(kind: Verdict['kind'], subject: string, expected: string, observed: string, problems: string[]): Verdict {
  return { kind, subject, expected, observed, ok: problems.length === 0, ...(problems.length ? { detail: problems.join('; ') } : {}) };
}

export function leaseVerdicts(plan: Plan, obs: Observations): Verdict[] {
  return plan.vms.flatMap((vm): Verdict[] => {
    const o = obs.vms[vm.name];
    const source = plan.expected.addressSources[vm.name]!;
    const expectedIp = plan.expected.leases[vm.name] ?? null;
    const len = plan.network.prefixLength;
    if (source.kind === 'none' || expectedIp === null) {
      // nothing configures this guest: it must stay without an address
      const observed = addrText(o);
      const problems = o && o.addresses.length > 0 ? [`the guest holds ${observed} though nothing should have configured it`] : [];
      return [verdict('lease', vm.name, 'no address (no DHCP server on the segment, no injection)', observed, problems)];
    }
    if (source.kind === 'injected') {
      const problems = addressProblems(plan, vm, o, expectedIp);
      if (!o?.bootLog?.includes('/etc/network/interfaces')) problems.push(`the guest's init did not report applying its interfaces file (${o?.bootLog?.trim() || 'no boot log'})`);
      return [
        verdict('address', vm.name, `${expectedIp}/${len} on ${vm.mac}, from the injected /etc/network/interfaces`, `${addrText(o)} on ${o?.mac ?? 'no NIC'}`, problems),
        {
          kind: 'lease',
          subject: vm.name,
          expected: 'no lease',
          observed: 'no DHCP in this network',
          ok: true,
          skipped: 'flat_injected: the guest configures itself from the file nova wrote into it, not by DHCP',
        },
      ];
    }
    const problems = addressProblems(plan, vm, o, expectedIp);
    if (source.kind === 'dhcp-server') {
      const held = (obs.serverLeases ?? []).filter((l) => l.mac === vm.mac);
      if (!held.some((l) => l.ip === expectedIp)) problems.push(`the DHCP server's lease file has no lease of ${expectedIp} for ${vm.mac}`);
      const by = held.map((l) => l.ip).join(', ') || 'nothing';
      return [verdict('lease', vm.name, `${expectedIp}/${len} on ${vm.mac}, leased by the DHCP server`, `${addrText(o)} on ${o?.mac ?? 'no NIC'}, the server leased ${by}`, problems)];
    }
    const held = leasesOf(obs.leaseEvents, vm.mac);
    const holders = [...held.entries()].map(([n, ip]) => `${n} (${ip})`).join(', ') || 'no node';
    if (held.get(source.node) !== expectedIp) problems.push(`${source.node}'s dnsmasq recorded no lease of ${expectedIp} for ${vm.mac}`);
    const foreign = [...held.keys()].filter((n) => n !== source.node);
    for (const n of foreign) {
      // why another node answered: its hosts file lists a VM that is not its own
      const listed = obs.hostsFiles?.[n]?.includes(vm.mac);
      const mine = plan.nodes.find((x) => x.name === n)?.vms.includes(vm.name);
      problems.push(`leased by ${n}'s dnsmasq${listed && !mine ? `, whose hosts file lists ${vm.name} though ${vm.name} runs on ${vm.node} (nova lists only a node's own instances)` : ''}`);
    }
    return [
      verdict('lease', vm.name, `${expectedIp}/${len} on ${vm.mac}, leased by ${source.node}`, `${addrText(o)} on ${o?.mac ?? 'no NIC'}, leased by ${holders}`, problems),
    ];
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
      ...(!ok ? { detail: told ? `DHCP offered router ${told}` : vm.boot === 'injected' ? 'see the guest\'s boot.log' : 'the guest got no router from DHCP' } : {}),
    };
  });
}
