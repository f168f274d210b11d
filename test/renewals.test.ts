/** DHCP over time: the lease dnsmasq really gives, and a renewal seen by both ends. */
import t from 'tap';
import { plan } from '../src/plan/plan.js';
import { parseScenario } from '../src/scenario/load.js';
import { renewalsOf, renewalVerdicts } from '../src/checks/renewals.js';
import type { LeaseEvent } from '../src/checks/types.js';
import { REFERENCE, errorsOf, warningsOf } from './helpers.js';
import { assetsIn } from '../src/assets.js';

const RENEW = REFERENCE.replace('  multi_host: true\n', '  multi_host: true\n  dhcp_lease_time: 30\n') + 'expect:\n  renewals: true\n';
const P = plan(parseScenario(RENEW), { runId: 'abc123', runtimeRoot: '/run/flatlab', assets: assetsIn('/x') });

t.test('a 30 s lease is built as nova passed it, with a warning: dnsmasq gives 120 s', async (t) => {
  t.same(errorsOf(RENEW), []);
  t.match(warningsOf(RENEW)[0], /nova\.dhcp_lease_time: warning: dnsmasq raises a lease under 120 s to 120 s/);
  t.ok(P.nodes[0]!.dhcp!.argv.some((a) => a.startsWith('--dhcp-range=') && a.endsWith(',30s')), "dnsmasq's argv as nova wrote it");
  t.same(P.expected.renewals, { vms: ['vm_1', 'vm_2', 'vm_3', 'vm_4'], leaseSeconds: 120 });
  t.ok(errorsOf(RENEW.replace('FlatDHCPManager', 'FlatManager')).includes("scenarios/x.yaml:18:13 expect.renewals: renewals are checked against nova's dnsmasq: FlatDHCPManager only"));
});

t.test('a renewal counts when the serving dnsmasq logged "old" after the lease and the guest recorded renew', async (t) => {
  const mac = (vm: string): string => P.vms.find((v) => v.name === vm)!.mac;
  const ev = (node: string, time: number, event: LeaseEvent['event'], vm: string): LeaseEvent => ({ node, time, event, mac: mac(vm), ip: '', hostname: vm });
  const events = [ev('compute1', 100, 'add', 'vm_1'), ev('compute1', 160, 'old', 'vm_1'), ev('compute1', 100, 'add', 'vm_2'), ev('compute2', 100, 'add', 'vm_3'), ev('compute1', 170, 'old', 'vm_3'), ev('compute2', 100, 'add', 'vm_4'), ev('compute2', 160, 'old', 'vm_4')];
  const guests = { vm_1: ['bound', 'renew'], vm_2: ['bound'], vm_3: ['bound', 'renew'], vm_4: ['bound'] };
  const v = renewalVerdicts(P, renewalsOf(P, events, guests));
  t.same(v.map((x) => [x.subject, x.ok]), [['vm_1', true], ['vm_2', false], ['vm_3', false], ['vm_4', false]]);
  t.match(v[0]!.observed, /^renewed 60 s after its lease \(compute1's dnsmasq: old; the guest's client: renew\)$/);
  t.match(v[1]!.observed, /no renewal in compute1's lease log/);
  t.match(v[2]!.observed, /no renewal in compute2's lease log \(the guest says it renewed\)/, "another node's dnsmasq is not the one that serves it");
  t.match(v[3]!.observed, /compute2's dnsmasq renewed it 60 s after its lease, but the guest's client recorded no renew/);
  t.match(v[0]!.expected, /renewed by T2 \(105 s of a 120 s lease\)/);
});
