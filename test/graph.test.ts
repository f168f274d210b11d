import t from 'tap';
import { parseScenario } from '../src/scenario/load.js';
import { plan } from '../src/plan/plan.js';
import { renderDot, renderMermaid } from '../src/report/graph.js';
import { FOLSOM_REFERENCE as REFERENCE } from './helpers.js';
import { assetsIn } from '../src/assets.js';

const P = plan(parseScenario(REFERENCE), { runId: 'abc123', runtimeRoot: '/run/flatlab', assets: assetsIn('/x') });

t.test('mermaid: nodes with their bridge, VMs with lease and gateway, uplinks to the fabric', async (t) => {
  const m = renderMermaid(P);
  t.match(m, /^flowchart TB\n/);
  t.match(m, /subgraph compute2\["compute2"\]\n {4}compute2_br\["br100 10\.0\.0\.4"\]\n {4}vm_3\["vm_3 10\.0\.0\.5<br\/>gw 10\.0\.0\.4"\] ---\|vnet0\| compute2_br/);
  t.match(m, /compute1_br ---\|eth0\| fabric/);
});

t.test('dot: one cluster per node, balanced braces', async (t) => {
  const d = renderDot(P);
  t.match(d, /subgraph cluster_compute1 \{/);
  t.match(d, /vm_1 -- compute1_br \[label="vnet0"\];/);
  t.equal((d.match(/\{/g) ?? []).length, (d.match(/\}/g) ?? []).length);
});
