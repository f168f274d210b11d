/** suite --repeat: a check whose verdict changed between repeats is found, with both observations. */
import t from 'tap';
import { flakiness } from '../src/report/flakiness.js';
import type { RunResult } from '../src/run/results.js';
import type { Verdict } from '../src/checks/types.js';

const run = (verdicts: Verdict[], error?: string): RunResult =>
  ({
    schemaVersion: 3,
    scenario: 's',
    file: 's.yaml',
    backend: 'netns',
    startedAt: '',
    ok: verdicts.every((v) => v.ok) && !error,
    summary: { passed: 0, failed: 0, skipped: 0 },
    variants: [{ variant: 'a', prefix: 'fl-000000', ok: true, summary: { passed: 0, failed: 0, skipped: 0 }, plan: {} as never, observations: null, reach: [], egress: [], verdicts, symptoms: [], diagnoses: [], timings: {}, ...(error ? { error } : {}) }],
    timings: {},
  }) as RunResult;

const v = (subject: string, ok: boolean, observed: string, extra: Partial<Verdict> = {}): Verdict => ({ kind: 'egress', subject, expected: 'x', observed, ok, ...extra });

t.test('the same verdict every time: nothing flaky', async (t) => {
  const r = flakiness([run([v('vm_1', true, 'seen as 1')]), run([v('vm_1', true, 'seen as 1')])]);
  t.same(r, { flaky: [], retried: [] });
});

t.test('a verdict that changed is listed with what each repeat observed', async (t) => {
  const r = flakiness([run([v('vm_1', true, 'seen as 203.0.113.2'), v('vm_2', true, 'a')]), run([v('vm_1', false, 'seen as 203.0.113.2 (captured SYN from nobody)'), v('vm_2', true, 'a')])]);
  t.equal(r.flaky.length, 1);
  t.same(r.flaky[0], {
    scenario: 's',
    backend: 'netns',
    variant: 'a',
    check: 'egress vm_1',
    seen: [
      { repeat: 1, ok: true, observed: 'seen as 203.0.113.2' },
      { repeat: 2, ok: false, observed: 'seen as 203.0.113.2 (captured SYN from nobody)' },
    ],
  });
});

t.test('a repeat whose lab did not complete makes its checks flaky; a retried pass is listed apart', async (t) => {
  const r = flakiness([run([v('vm_1', true, 'a', { flaky: true, tries: ['no connection', 'seen as a'] })]), run([], 'dnsmasq on compute1 did not start')]);
  t.same(r.flaky.map((f) => f.check).sort(), ['egress vm_1', 'run (lab)']);
  t.same(r.retried, [{ scenario: 's', backend: 'netns', variant: 'a', check: 'egress vm_1', repeat: 1, tries: ['no connection', 'seen as a'] }]);
});
