/**
 * A lab's steps in order, on a fake backend (test/fake-backend.ts), without root: build,
 * then each node's sysctls and firewall before its dnsmasq, each guest after its node's
 * dnsmasq, probes once every guest leased, then teardown (processes by PID, then the
 * namespaces); and, with a failure injected at each step, teardown all the same.
 */
import t from 'tap';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeBackend, type FailAt } from './fake-backend.js';

// the lab's state and the machine-wide registry in a folder of the test's own
const root = mkdtempSync(join(tmpdir(), 'flatlab-fake-'));
chmodSync(root, 0o755); // dnsmasq-readable, as the runtime check wants it
process.env.FLATLAB_RUNTIME_DIR = join(root, 'runtime');
process.env.FLATLAB_REGISTRY_DIR = join(root, 'registry');
t.teardown(() => rmSync(root, { recursive: true, force: true }));

const { registerBackend } = await import('../src/backend/registry.js');
const { runScenario } = await import('../src/run/run-scenario.js');
const { loadScenarioFile } = await import('../src/scenario/load.js');

const made: FakeBackend[] = [];
let failAt: FailAt = null;
registerBackend('fake', () => {
  const b = new FakeBackend(failAt);
  made.push(b);
  return b;
});
const scenario = await loadScenarioFile(new URL('../scenarios/flatdhcp-multihost.yaml', import.meta.url).pathname);

async function run(fail: FailAt) {
  failAt = fail;
  made.length = 0;
  const out = await runScenario(scenario, { backend: 'fake', resultsRoot: join(root, 'results'), quiet: true, keep: false, ignoreExpect: false, variant: 'same-net-allowed' });
  // the first backend object only runs the preflight; the variant's lab is the second
  return { out, lab: made[made.length - 1]! };
}

const index = (calls: { op: string; target?: string; detail?: string }[], pred: (c: { op: string; target?: string; detail?: string }) => boolean): number => calls.findIndex(pred);

t.test('a healthy lab: the steps in order, every check as expected, everything stopped', async (t) => {
  const { out, lab } = await run(null);
  t.equal(out.result.ok, true, JSON.stringify(out.result.variants[0]!.error ?? ''));
  const plan = out.result.variants[0]!.plan;
  const c = lab.calls;
  const at = (op: string, target?: string, detail?: string) => index(c, (x) => x.op === op && (target === undefined || x.target === target) && (detail === undefined || x.detail === detail));
  t.equal(at('createTopology'), 0, 'the topology first');
  for (const n of plan.nodes) {
    const sysctl = at('setSysctls', n.netns);
    const fw = at('exec', n.netns, 'iptables-restore');
    const dnsmasq = at('startProcess', n.netns, 'dnsmasq');
    t.ok(sysctl > 0 && sysctl < dnsmasq && fw < dnsmasq, `${n.name}: sysctls and firewall before its dnsmasq`);
    for (const vm of plan.vms.filter((v) => v.node === n.name)) t.ok(at('startProcess', vm.netns, 'dhcp-client') > dnsmasq, `${vm.name} boots after ${n.name}'s dnsmasq`);
  }
  const lastBoot = Math.max(...plan.vms.map((v) => at('startProcess', v.netns, 'dhcp-client')));
  const firstProbe = at('probe');
  t.ok(firstProbe > lastBoot, 'probes once every guest booted');
  const stop = at('stopProcesses');
  const destroy = at('destroy', plan.prefix);
  t.ok(stop > firstProbe && destroy > stop && at('close') > destroy, 'then processes by PID, then the namespaces, then the helpers');
  t.equal(lab.left, 0, 'no process left running');
  t.equal(c.filter((x) => x.op === 'probe').length, plan.expected.reach.length, 'one probe per expected cell');
});

const STEPS: FailAt[] = ['createTopology', 'setSysctls', 'exec:iptables-restore', 'startProcess:dnsmasq', 'startProcess:dhcp-client', 'probe'];

t.test('a failure at each step: the run fails saying so, and the lab is torn down', async (t) => {
  for (const step of STEPS) {
    const { out, lab } = await run(step);
    const v = out.result.variants[0]!;
    t.equal(out.result.ok, false, `${step}: the run fails`);
    t.match(v.error ?? '', `injected failure at ${step}`, `${step}: the error says where`);
    const ops = lab.calls.map((x) => x.op);
    const failedAt = lab.calls.findIndex((x) => x.op === step!.split(':')[0] && (step!.includes(':') ? x.detail === step!.split(':')[1] : true));
    t.ok(failedAt >= 0, `${step}: reached`);
    t.ok(ops.lastIndexOf('destroy') > failedAt, `${step}: destroy after the failure`);
    t.ok(ops.lastIndexOf('stopProcesses') > failedAt && ops.lastIndexOf('stopProcesses') < ops.lastIndexOf('destroy'), `${step}: processes stopped before the namespaces go`);
    t.equal(lab.left, 0, `${step}: no process left running`);
  }
});

t.test('a teardown that fails says so and points at flatlab clean', async (t) => {
  const { out, lab } = await run('destroy');
  const v = out.result.variants[0]!;
  t.equal(out.result.ok, false);
  t.match(v.error ?? '', /teardown failed: injected failure at destroy \(flatlab clean removes what is left\)/);
  t.equal(lab.left, 0, 'the processes were stopped before');
});
