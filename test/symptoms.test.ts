/** The symptom, said once: "same node fine" after the last thing said of the cross-node pairs. */
import t from 'tap';
import { classifySymptoms } from '../src/checks/symptoms.js';
import type { Observations, ReachResult } from '../src/checks/types.js';
import { plan } from '../src/plan/plan.js';
import { parseScenario } from '../src/scenario/load.js';
import { REFERENCE } from './helpers.js';
import { assetsIn } from '../src/assets.js';

const P = plan(parseScenario(REFERENCE), { runId: 'abc123', runtimeRoot: '/run/flatlab', assets: assetsIn('/x') });
const ip = (vm: string): string => P.vms.find((v) => v.name === vm)!.ip;

function obs(arp: Record<string, string[]>): Observations {
  const vms = Object.fromEntries(
    P.vms.map((v) => [v.name, { vm: v.name, mac: v.mac, addresses: [{ ip: v.ip, prefixLength: 24 }], defaultGateway: v.gateway, arp: {}, dhcp: null, bootLog: null, clientRunning: true }]),
  );
  return { vms, leaseEvents: [], serverLeases: null, arpAfterProbes: Object.fromEntries(Object.entries(arp).map(([vm, ips]) => [vm, Object.fromEntries(ips.map((x) => [x, 'fa:16:3e:00:00:00']))])) };
}

const probe = (from: string, to: string, observed: ReachResult['observed']): ReachResult => ({ from, to, proto: 'icmp', expected: 'reachable', observed, reason: '', evidence: '', durationMs: 1, source: 'derived' });

t.test('ARP across nodes for some pairs, none for others: "same node fine" said once, at the end', async (t) => {
  const reach = [
    probe('vm_1', 'vm_2', 'reachable'),
    probe('vm_3', 'vm_4', 'reachable'),
    probe('vm_1', 'vm_3', 'unreachable'),
    probe('vm_3', 'vm_1', 'unreachable'),
  ];
  const s = classifySymptoms(P, obs({ vm_1: [ip('vm_3')] }), reach, []);
  const text = s.map((x) => x.text).join('; ');
  t.equal(text, 'across nodes: ARP resolves but no ping (1 pairs); across nodes: no ARP at all (1 pairs); same node fine');
  t.equal((text.match(/same node fine/g) ?? []).length, 1);
});

t.test('no same-node pair probed: nothing said of the same node', async (t) => {
  const s = classifySymptoms(P, obs({}), [probe('vm_1', 'vm_3', 'unreachable')], []);
  t.same(s.map((x) => x.text), ['across nodes: no ARP at all (1 pairs)']);
});

t.test('guests nothing configures are named, never "healthy"', async (t) => {
  const { plan } = await import('../src/plan/plan.js');
  const { parseScenario } = await import('../src/scenario/load.js');
  const { classifySymptoms } = await import('../src/checks/symptoms.js');
  const p = plan(parseScenario('name: f\nnova: {network_manager: nova.network.manager.FlatManager, fixed_range: 10.0.0.0/24}\nnodes: {c1: {}}\nvms: {vm_1: {host: c1}}\n'), { runId: 'abc123', runtimeRoot: '/r', assets: assetsIn('/x') });
  const obs = { vms: { vm_1: { vm: 'vm_1', mac: null, addresses: [], defaultGateway: null, dhcp: null, bootLog: null, clientRunning: false } }, leaseEvents: [], serverLeases: null } as never;
  const s = classifySymptoms(p, obs, [], []);
  t.same(s.map((x) => x.code), ['no-address']);
  t.match(s[0]!.text, /no address for vm_1: nothing configures them/);
});

t.test('what the scenario expects is said "as expected", apart from the symptom', async (t) => {
  const { symptomLines } = await import('../src/checks/symptoms.js');
  const blocked = (from: string, to: string, expected: ReachResult['expected']): ReachResult => ({ ...probe(from, to, 'unreachable'), expected });
  // an isolation variant: every drop was asked for
  const iso = classifySymptoms(P, obs({ vm_1: [ip('vm_3')] }), [blocked('vm_1', 'vm_2', 'unreachable'), blocked('vm_1', 'vm_3', 'unreachable')], []);
  t.same(iso.map((x) => x.expected), [true, true]);
  t.same(symptomLines(iso), [{ label: 'as expected', text: 'same node: 1 of 1 pairs get no answer; across nodes: ARP resolves but no ping (1 pairs)' }]);
  // one drop asked for, one not: the unasked one is the symptom
  const mixed = classifySymptoms(P, obs({ vm_1: [ip('vm_3')] }), [blocked('vm_1', 'vm_2', 'unreachable'), blocked('vm_1', 'vm_3', 'reachable')], []);
  t.same(symptomLines(mixed).map((l) => l.label), ['symptom', 'as expected']);
  t.match(symptomLines(mixed)[0]!.text, /^across nodes/);
  // healthy is a symptom line (it can be the surprise of a bug scenario)
  t.same(symptomLines(classifySymptoms(P, obs({}), [probe('vm_1', 'vm_2', 'reachable')], [])), [{ label: 'symptom', text: 'healthy: every lease, every pair, every way out' }]);
  // a result written before the field existed reads as it did
  t.same(symptomLines([{ code: 'no-lease', text: 'x' } as never]), [{ label: 'symptom', text: 'x' }]);
});
