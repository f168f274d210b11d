/**
 * junit.xml for CI systems: one <testsuite> per variant, one <testcase> per check; a
 * failure carries what was expected, what was observed and the diagnosis of its flow.
 */
import { hostname } from 'node:os';
import type { RunResult, VariantResult } from '../run/results.js';

const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, '');

function suite(r: RunResult, v: VariantResult, id: number): string {
  const name = v.variant === 'default' ? r.scenario : `${r.scenario}/${v.variant}`;
  const diagFor = (subject: string): string => {
    const d = v.diagnoses.find((x) => subject.startsWith(x.flow.split(' ').slice(0, 3).join(' ')));
    return d ? `\ndiagnosis: ${d.text}` : '';
  };
  const cases = v.verdicts.map((c) => {
    const head = `    <testcase classname="${esc(name)}.${c.kind}" name="${esc(`${c.kind} ${c.subject}`)}" time="0">`;
    // the reason as text: Jenkins' schema gives <skipped> no attributes
    if (c.skipped) return `${head}\n      <skipped>${esc(c.skipped)}</skipped>\n    </testcase>`;
    if (c.ok) return `${head}</testcase>`;
    const body = `expected: ${c.expected}\nobserved: ${c.observed}${c.detail ? `\ndetail: ${c.detail}` : ''}${diagFor(c.subject)}`;
    return `${head}\n      <failure message="${esc(`expected ${c.expected}, observed ${c.observed}`)}" type="${c.kind}">${esc(body)}</failure>\n    </testcase>`;
  });
  if (v.error) cases.push(`    <testcase classname="${esc(name)}.run" name="lab"><error message="${esc(v.error)}"/></testcase>`);
  const failures = v.verdicts.filter((c) => !c.ok).length;
  const skipped = v.verdicts.filter((c) => c.skipped).length;
  const time = ((v.timings.total ?? 0) / 1000).toFixed(3);
  // the attributes and children the common JUnit schema asks of a suite inside <testsuites>
  return [
    `  <testsuite name="${esc(name)}" package="flatlab.${esc(r.scenario)}" id="${id}" hostname="${esc(hostname())}" tests="${cases.length}" failures="${failures}" errors="${v.error ? 1 : 0}" skipped="${skipped}" time="${time}" timestamp="${r.startedAt.replace(/\.\d+Z$/, '')}">`,
    `    <properties>\n      <property name="backend" value="${esc(r.backend)}"/>\n      <property name="run" value="${esc(v.prefix)}"/>\n    </properties>`,
    ...cases,
    `    <system-out>${esc(v.symptoms.map((x) => `symptom: ${x.text}`).join('\n'))}</system-out>`,
    `    <system-err>${esc(v.error ?? '')}</system-err>`,
    '  </testsuite>',
  ].join('\n');
}

export function renderJunit(r: RunResult): string {
  const tests = r.variants.reduce((n, v) => n + v.verdicts.length + (v.error ? 1 : 0), 0);
  const failures = r.variants.reduce((n, v) => n + v.verdicts.filter((c) => !c.ok).length, 0);
  const errors = r.variants.filter((v) => v.error).length;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="flatlab ${esc(r.scenario)}" tests="${tests}" failures="${failures}" errors="${errors}" time="${((r.timings.total ?? 0) / 1000).toFixed(3)}">`,
    ...r.variants.map((v, i) => suite(r, v, i)),
    '</testsuites>',
    '',
  ].join('\n');
}
