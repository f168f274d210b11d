import t from 'tap';
import { renderJunit } from '../src/report/junit.js';
import type { RunResult } from '../src/run/results.js';
import { ANT_XSD, JENKINS_XSD, outsideJenkinsExtensions, schemaErrors } from './junit-schema.js';

function demoResult(): RunResult {
  return {
    scenario: 'demo',
    startedAt: '2026-11-26T05:00:00.000Z',
    backend: 'netns',
    timings: { total: 1500 },
    variants: [
      {
        variant: 'blocked',
        prefix: 'fl-000001',
        symptoms: [{ code: 'same-node-blocked', text: 'same node: 4 of 4 pairs get no answer' }],
        timings: { total: 1400 },
        diagnoses: [{ flow: 'vm_1 -> vm_3 icmp', explains: { kind: 'reach', subject: 'vm_1 -> vm_3 icmp' }, text: 'vm_1 -> vm_3 icmp: dropped <here> & there' }],
        verdicts: [
          { kind: 'lease', subject: 'vm_1', expected: 'a', observed: 'a', ok: true },
          { kind: 'reach', subject: 'vm_1 -> vm_3 icmp', expected: 'reachable', observed: 'unreachable', ok: false, detail: 'no echo reply' },
          { kind: 'lease', subject: 'vm_2', expected: 'no lease', observed: 'x', ok: true, skipped: 'injected' },
        ],
      },
    ],
  } as unknown as RunResult;
}

t.test('junit.xml: a testcase per check, failures with what was seen', async (t) => {
  const xml = renderJunit(demoResult());
  t.match(xml, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<testsuites name="flatlab demo" tests="3" failures="1" errors="0" time="1\.500">/);
  t.match(xml, /<testsuite name="demo\/blocked" package="flatlab\.demo" id="0" hostname="[^"]+" tests="3" failures="1" errors="0" skipped="1" time="1\.400" timestamp="2026-11-26T05:00:00">/);
  t.match(xml, /<properties>\n {6}<property name="backend" value="netns"\/>/);
  t.match(xml, /<system-out>symptom: same node: 4 of 4 pairs get no answer<\/system-out>\n {4}<system-err><\/system-err>\n {2}<\/testsuite>/);
  t.match(xml, /<testcase classname="demo\/blocked\.reach" name="reach vm_1 -&gt; vm_3 icmp" time="0">\n {6}<failure message="expected reachable, observed unreachable" type="reach">expected: reachable\nobserved: unreachable\ndetail: no echo reply\ndiagnosis: vm_1 -&gt; vm_3 icmp: dropped &lt;here&gt; &amp; there<\/failure>/);
  t.match(xml, /<skipped>injected<\/skipped>/);
  t.equal((xml.match(/<testcase /g) ?? []).length, 3);
  t.equal((xml.match(/<\/testcase>/g) ?? []).length, 3);
});

t.test('junit.xml validates against the JUnit XML schemas (xmllint)', async (t) => {
  const xml = renderJunit(demoResult());
  t.same(await schemaErrors(xml, JENKINS_XSD), [], "Jenkins' schema: valid");
  t.same(outsideJenkinsExtensions(await schemaErrors(xml, ANT_XSD)), [], "Ant's schema: nothing refused but Jenkins' additions (totals, skipped)");
  // the check can fail: a testcase without its name, a suite without its count
  const broken = xml.replace(/ name="reach vm_1 -&gt; vm_3 icmp"/, '').replace(/ tests="3" failures="1" errors="0" skipped/, ' failures="1" errors="0" skipped');
  const jenkins = await schemaErrors(broken, JENKINS_XSD);
  t.match(jenkins.join('\n'), /attribute 'name' is required/);
  t.match(jenkins.join('\n'), /attribute 'tests' is required/);
  t.ok(outsideJenkinsExtensions(await schemaErrors(broken, ANT_XSD)).length >= 2, "Ant's schema refuses it too");
  // text that needs escaping stays well-formed
  const odd = demoResult();
  (odd.variants[0] as any).verdicts[1].detail = 'a <b> & "c" \u0007 ]]> d';
  t.same(await schemaErrors(renderJunit(odd), JENKINS_XSD), []);
});

import { parseSynCapture } from '../src/checks/egress.js';

t.test('the external host\'s SYN capture, by source port', async (t) => {
  const text = [
    'tcpdump: verbose output suppressed, use -v[v]... for full protocol decode',
    'listening on eth0, link-type EN10MB (Ethernet), snapshot length 262144 bytes',
    '06:10:01.000001 IP 203.0.113.11.41000 > 203.0.113.1.7: Flags [S], seq 1, win 64240, length 0',
    '06:10:01.000002 IP 203.0.113.12.41002 > 203.0.113.1.7: Flags [S], seq 2, win 64240, length 0',
    '06:10:01.000003 IP 203.0.113.12.41003 > 203.0.113.9.7: Flags [S], seq 3, win 64240, length 0',
  ].join('\n');
  t.same([...parseSynCapture(text, '203.0.113.1')], [[41000, '203.0.113.11'], [41002, '203.0.113.12']]);
});

t.test('a diagnosis goes with the verdict it explains, not with another of the same pair', async (t) => {
  const r = demoResult() as unknown as { variants: { diagnoses: unknown[] }[] };
  r.variants[0]!.diagnoses = [{ flow: 'vm_1 -> vm_3 tcp/80', explains: { kind: 'reach', subject: 'vm_1 -> vm_3 tcp/80' }, text: 'vm_1 -> vm_3 tcp/80: dropped by the fallback' }];
  const xml = renderJunit(r as unknown as RunResult);
  t.notMatch(xml, /diagnosis: vm_1 -&gt; vm_3 tcp\/80/, 'the icmp failure does not carry the tcp flow\'s diagnosis');
});
