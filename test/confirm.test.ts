/** Expected drops confirmed by counters, unanswered ARP or missing addresses; counters and capture statistics parsed. */
import t from 'tap';
import { confirmSilences } from '../src/checks/confirm.js';
import { drained, parseCaptureStats } from '../src/checks/capture.js';
import { droppedBetween, parseIptablesCounters } from '../src/checks/counters.js';
import type { ReachResult } from '../src/checks/types.js';
import { plan } from '../src/plan/plan.js';
import { rulesPerChain } from '../src/net/iptables-save.js';
import { parseScenarioFile } from '../src/scenario/load.js';
import { REFERENCE } from './helpers.js';
import { assetsIn } from '../src/assets.js';

const p = plan(parseScenarioFile(REFERENCE, 'ref.yaml').variants[0]!.scenario, { runId: 'abcdef', runtimeRoot: '/tmp/x', assets: assetsIn('/bin/true') });

const silent = (from: string, to: string, expected: ReachResult['expected'] = 'unreachable'): ReachResult => ({
  from,
  to,
  proto: 'icmp',
  expected,
  observed: 'unreachable',
  reason: 'r',
  evidence: 'no echo reply',
  durationMs: 200,
  source: 'derived',
});

t.test('the target instance chain\'s jump into the fallback confirms, one packet per probe', async (t) => {
  const results = [silent('vm_1', 'vm_3'), silent('vm_2', 'vm_3'), silent('vm_4', 'vm_3'), silent('vm_1', 'vm_2')];
  const drops = [{ target: 'x', where: 'compute2', rule: '-A nova-compute-inst-3 -j nova-compute-sg-fallback', packets: 2 }];
  const { confirmed } = confirmSilences(p, results, { drops, unresolved: {}, addressless: new Set() });
  t.match(confirmed.get(0)?.text, /counted by -A nova-compute-inst-3 -j nova-compute-sg-fallback on compute2/);
  t.ok(confirmed.get(1));
  t.equal(confirmed.get(2), null, 'two packets counted for three silent probes: the third is unconfirmed');
  t.equal(confirmed.get(3), null, "another instance's chain never confirms a probe to vm_2");
});

t.test('a silence nothing counted is unconfirmed; ARP and missing addresses confirm', async (t) => {
  const results = [silent('vm_1', 'vm_3'), silent('vm_3', 'vm_1'), silent('vm_2', 'vm_4'), silent('vm_1', 'vm_2', 'reachable')];
  const { confirmed } = confirmSilences(p, results, { drops: [], unresolved: { vm_3: ['10.0.0.2'] }, addressless: new Set(['vm_4']) });
  t.equal(confirmed.get(0), null, 'slow answer or drop: nobody can tell, so not a pass');
  t.same(confirmed.get(1), { by: 'arp', text: "vm_3's ARP for 10.0.0.2 got no answer" });
  t.same(confirmed.get(2), { by: 'no-address', text: 'vm_4 has no address' });
  t.notOk(confirmed.has(3), 'only expected drops are confirmed; a silent expected answer is a failure anyway');
});

t.test('ebtables on the fabric confirms a cross-node drop, either way; drops nobody expected are reported', async (t) => {
  const results = [silent('vm_1', 'vm_3'), silent('vm_3', 'vm_1'), silent('vm_1', 'vm_2')];
  const drops = [
    { target: 'f', where: 'fabric', rule: 'FORWARD -o compute2 -j DROP', packets: 2 },
    { target: 'c', where: 'compute1', rule: '-A nova-compute-inst-2 -j nova-compute-sg-fallback', packets: 1 },
    { target: 'c', where: 'compute1', rule: '-A nova-compute-inst-1 -m state --state INVALID -j DROP', packets: 0 },
  ];
  const { confirmed, unexplained } = confirmSilences(p, results, { drops, unresolved: {}, addressless: new Set() });
  t.match(confirmed.get(0)?.text, /FORWARD -o compute2 -j DROP on the fabric/, 'the question dropped toward compute2');
  t.match(confirmed.get(1)?.text, /FORWARD -o compute2 -j DROP on the fabric/, 'the answer dropped on its way back to compute2');
  t.match(confirmed.get(2)?.text, /inst-2/, 'same node: never the fabric');
  t.same(unexplained, []);
  const extra = confirmSilences(p, [], { drops: [{ target: 'c', where: 'compute2', rule: '-A nova-compute-inst-4 -j nova-compute-sg-fallback', packets: 3 }], unresolved: {}, addressless: new Set() });
  t.equal(extra.unexplained.length, 1, 'a drop where none was expected is reported');
});

t.test('counters: a jump into the fallback is counted once, at the rule naming the instance', async (t) => {
  const before = parseIptablesCounters('[0:0] -A nova-compute-inst-3 -j nova-compute-sg-fallback\n[0:0] -A nova-compute-sg-fallback -j DROP\n');
  const after = parseIptablesCounters('[3:252] -A nova-compute-inst-3 -j nova-compute-sg-fallback\n[3:252] -A nova-compute-sg-fallback -j DROP\n');
  t.same(droppedBetween(before, after, 'ns', 'compute2'), [{ target: 'ns', where: 'compute2', rule: '-A nova-compute-inst-3 -j nova-compute-sg-fallback', packets: 3 }]);
});

t.test("tcpdump's statistics say when a capture has printed all it received", async (t) => {
  const usr1 = 'listening on eth0\nIP 1 > 2\ntcpdump: 1 packet captured, 2 packets received by filter, 0 packets dropped by kernel\n';
  t.same(parseCaptureStats(usr1), { captured: 1, received: 2, dropped: 0 });
  t.notOk(drained(parseCaptureStats(usr1)), 'one packet still in the ring');
  const later = `${usr1}IP 3 > 4\ntcpdump: 2 packets captured, 2 packets received by filter, 0 packets dropped by kernel\n`;
  t.ok(drained(parseCaptureStats(later)), 'the last statistics count');
  const atExit = '4 packets captured\n4 packets received by filter\n0 packets dropped by kernel\n';
  t.same(parseCaptureStats(atExit), { captured: 4, received: 4, dropped: 0 });
  t.equal(parseCaptureStats('listening on eth0\n'), null, 'no statistics yet');
  t.ok(drained({ captured: 3, received: 4, dropped: 1 }), 'what the kernel dropped will never come');
});

t.test('rules per chain, from restore input and from iptables-save -c alike', async (t) => {
  const input = '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j a\n-A a -j DROP\n-A a -s 10.0.0.0/24 -j ACCEPT\nCOMMIT\n*nat\n-A POSTROUTING -j b\nCOMMIT\n';
  const saved = '# x\n*filter\n:INPUT ACCEPT [0:0]\n[1:2] -A INPUT -j a\n[0:0] -A a -j DROP\n[0:0] -A a -s 10.0.0.0/24 -j ACCEPT\nCOMMIT\n*nat\n[0:0] -A POSTROUTING -j b\nCOMMIT\n';
  t.same([...rulesPerChain(input)], [['filter/INPUT', 1], ['filter/a', 2], ['nat/POSTROUTING', 1]]);
  t.same(rulesPerChain(saved), rulesPerChain(input));
});
