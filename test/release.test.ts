/**
 * A large lab's neighbour entries released instead of paced (checks/reach.ts): the nodes'
 * before the probes, each guest's once, after the last probe it takes part in, what they
 * held returned as the observation. Run on the fake backend, which records every call.
 */
import t from 'tap';
import { assetsIn } from '../src/assets.js';
import type { NeighbourEntry } from '../src/backend/backend.js';
import { DEFAULT_REACH, runReachChecks } from '../src/checks/reach.js';
import { plan } from '../src/plan/plan.js';
import { parseScenario } from '../src/scenario/load.js';
import { FakeBackend } from './fake-backend.js';

class Releasing extends FakeBackend {
  async releaseNeighbours(target: string): Promise<NeighbourEntry[]> {
    this.calls.push({ op: 'release', target });
    return [{ ip: '10.0.0.250', mac: '02:00:00:00:00:01', state: 'REACHABLE' }, { ip: '10.0.0.251', mac: null, state: 'FAILED' }];
  }
}

function lab(nodes: number, perNode: number): string {
  const lines = ['name: big', 'nova: {multi_host: true, fixed_range: 10.0.0.0/22}', 'nodes:'];
  for (let n = 0; n < nodes; n++) lines.push(`  n${n}: {}`);
  lines.push('vms:');
  for (let n = 0; n < nodes; n++) for (let v = 0; v < perNode; v++) lines.push(`  v${n}x${v}: {host: n${n}}`);
  return lines.join('\n') + '\n';
}

t.test('above the sampling size: nodes first, each guest once after its last probe, what it held kept', async (t) => {
  const p = plan(parseScenario(lab(4, 16)), { runId: 'abc123', runtimeRoot: '/r', assets: assetsIn('/x') });
  const backend = new Releasing();
  backend.bind(p);
  const run = await runReachChecks(backend, p, { ...DEFAULT_REACH, concurrency: 8 });
  const calls = backend.calls.filter((c) => c.op === 'release' || c.op === 'probe');
  const firstProbe = calls.findIndex((c) => c.op === 'probe');
  t.same(calls.slice(0, firstProbe).map((c) => c.target).sort(), p.nodes.map((n) => n.netns).sort(), "every node's entries before the first probe");
  for (const vm of p.vms) {
    const released = calls.flatMap((c, i) => (c.op === 'release' && c.target === vm.netns ? [i] : []));
    t.equal(released.length, 1, `${vm.name} released once`);
    const lastProbe = Math.max(...calls.flatMap((c, i) => (c.op === 'probe' && (c.target === vm.netns || c.detail === vm.ip) ? [i] : [])));
    if (released[0]! < lastProbe) t.fail(`${vm.name} released before its last probe`);
  }
  t.same(Object.keys(run.released ?? {}).sort(), p.vms.map((v) => v.name).sort(), 'what each guest held, returned');
  t.ok(run.results.every((r) => r.observed === r.expected), 'the verdicts are the probes\' own');
});

t.test('up to the sampling size nothing is released: the guests keep their tables as the probes left them', async (t) => {
  const p = plan(parseScenario(lab(2, 4)), { runId: 'abc123', runtimeRoot: '/r', assets: assetsIn('/x') });
  const backend = new Releasing();
  backend.bind(p);
  const run = await runReachChecks(backend, p);
  t.same(backend.calls.filter((c) => c.op === 'release'), []);
  t.equal(run.released, undefined);
});

t.test("while guests boot: a node's entries released once, when the last guest it serves is through DHCP", async (t) => {
  const { nodeSettler } = await import('../src/run/lab.js');
  const p = plan(parseScenario(lab(3, 5)), { runId: 'abc123', runtimeRoot: '/r', assets: assetsIn('/x') });
  const backend = new Releasing();
  backend.bind(p);
  const settle = nodeSettler({ plan: p, backend })!;
  // guests done in an order of their own: n1's last one third, n0's last one at the end
  const order = [...p.vms].sort((a, b) => (a.name === 'v0x0' ? 1 : b.name === 'v0x0' ? -1 : a.node === 'n1' ? -1 : b.node === 'n1' ? 1 : 0));
  const releasedAfter: Record<string, number> = {};
  for (const [i, vm] of order.entries()) {
    const before = backend.calls.filter((c) => c.op === 'release').length;
    await settle(vm);
    const now = backend.calls.filter((c) => c.op === 'release').map((c) => c.target);
    if (now.length > before) releasedAfter[now[now.length - 1]!] = i;
  }
  t.same(backend.calls.filter((c) => c.op === 'release').map((c) => c.target).sort(), p.nodes.map((n) => n.netns).sort(), 'every node once');
  for (const n of p.nodes) {
    const last = Math.max(...order.flatMap((vm, i) => (vm.node === n.name ? [i] : [])));
    t.equal(releasedAfter[n.netns], last, `${n.name}: released with its last guest, not before`);
  }
  t.equal(nodeSettler({ plan: p, backend: new FakeBackend() }), null, 'a backend that cannot release: nothing to do');
});
