/** diagnose's exit: a traced drop the lab expects is not a failure; a drop it does not expect is. */
import t from 'tap';
import { diagnoseExit, expectationOf } from '../src/diagnose/expected.js';
import { plan } from '../src/plan/plan.js';
import { parseScenario } from '../src/scenario/load.js';
import { REFERENCE } from './helpers.js';
import { assetsIn } from '../src/assets.js';

const P = (text: string) => plan(parseScenario(text), { runId: 'abc123', runtimeRoot: '/run/flatlab', assets: assetsIn('/x') });

t.test('an isolation lab expects the drop: tracing it exits 0, a flow through exits 1', async (t) => {
  const p = P(REFERENCE.replace('  multi_host: true\n', '  multi_host: true\n  allow_same_net_traffic: false\n'));
  const e = expectationOf(p, 'vm_1', 'vm_3');
  t.equal(e?.stops, true);
  t.match(e?.text, /^vm_1 -> vm_3 icmp unreachable: /);
  t.equal(diagnoseExit(true, e), 0, 'the drop it was built to show');
  t.equal(diagnoseExit(false, e), 1, 'a flow through where the lab expects a drop differs');
  t.equal(expectationOf(p, 'vm_1', 'dhcp')?.stops, false, 'DHCP still works');
  t.equal(diagnoseExit(true, expectationOf(p, 'vm_1', 'dhcp')), 1);
});

t.test('a healthy lab: a problem exits 1; a flow it says nothing of keeps the old rule', async (t) => {
  const p = P(REFERENCE);
  t.equal(diagnoseExit(true, expectationOf(p, 'vm_1', 'vm_3')), 1);
  t.equal(diagnoseExit(false, expectationOf(p, 'vm_1', 'vm_3')), 0);
  t.equal(expectationOf(p, 'vm_1', 'vm_3', 'tcp', 22), null, 'no tcp/22 check in the lab');
  t.equal(diagnoseExit(true, null), 1);
  t.equal(diagnoseExit(false, null), 0);
});

t.test('a guest expected without a lease: tracing its missing lease exits 0', async (t) => {
  const p = P(REFERENCE + 'expect:\n  leases: {vm_3: none}\n');
  t.same(expectationOf(p, 'vm_3', 'dhcp'), { stops: true, text: 'vm_3 gets no lease' });
  t.equal(diagnoseExit(true, expectationOf(p, 'vm_3', 'dhcp')), 0);
});
