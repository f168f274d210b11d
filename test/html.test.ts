/** report.html shows each VM's security groups and the groups' rules beside the matrix. */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { renderHtml, ruleWords } from '../src/report/html.js';
import { plan } from '../src/plan/plan.js';
import { parseScenarioFile } from '../src/scenario/load.js';
import type { RunResult } from '../src/run/results.js';
import { assetsIn } from '../src/assets.js';

t.test('rules read as nova secgroup-list-rules would', async (t) => {
  t.equal(ruleWords({ proto: 'tcp', fromPort: 22, toPort: 22, group: 'ssh' }), 'tcp port 22 from members of ssh');
  t.equal(ruleWords({ proto: 'udp', fromPort: 1000, toPort: 2000, cidr: '10.0.0.0/24' }), 'udp ports 1000-2000 from 10.0.0.0/24');
  t.equal(ruleWords({ proto: 'icmp' }), 'icmp any type from 0.0.0.0/0');
  t.equal(ruleWords({ proto: 'icmp', icmpType: 8, icmpCode: 0, cidr: '0.0.0.0/0' }), 'icmp type 8 code 0 from 0.0.0.0/0');
});

t.test('the security-groups scenario: each group with its VMs and rules, the empty default said so', async (t) => {
  const text = await readFile(new URL('../scenarios/security-groups.yaml', import.meta.url), 'utf8');
  const v = parseScenarioFile(text, 'security-groups.yaml').variants[1]!;
  const p = plan(v.scenario, { runId: 'abc123', runtimeRoot: '/run/flatlab', assets: assetsIn('/x') });
  const result = {
    scenario: 'security-groups',
    file: 'scenarios/security-groups.yaml',
    startedAt: '2026-12-03T08:00:00.000Z',
    backend: 'netns',
    ok: true,
    timings: { total: 1 },
    variants: [{ variant: v.name, prefix: p.prefix, ok: true, summary: { passed: 0, failed: 0, skipped: 0 }, plan: p, observations: null, reach: [], egress: [], verdicts: [], diagnoses: [], symptoms: [], timings: { total: 1 } }],
  } as unknown as RunResult;
  const html = renderHtml(result);
  t.match(html, /<h3>security groups <span class="dim">\(allow_same_net_traffic is off: only these rules let other instances in\)<\/span><\/h3>/);
  t.match(html, /<tr><td>ssh<\/td><td>vm_1, vm_3, vm_4<\/td><td>tcp port 22 from members of ssh<\/td><\/tr>/);
  t.match(html, /<tr><td>dns<\/td><td>vm_4<\/td><td>udp port 53 from 10\.0\.0\.0\/24<\/td><\/tr>/);
  t.match(html, /<tr><td>default<\/td><td>vm_2<\/td><td><span class="dim">no rules: nothing comes in/);
});
