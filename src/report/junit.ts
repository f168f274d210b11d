/**
 * junit.xml for CI systems: one <testsuite> per variant, one <testcase> per check; a
 * failure carries what was expected, what was observed and the diagnosis of its flow.
 */
import { hostname } from 'node:os';
import type { RunResult, VariantResult } from '../result.js';
import { symptomLines } from '../checks/symptoms.js';
import { DEFAULT_RELEASE } from '../nova/releases.js';
import { DEFAULT_VARIANT } from '../scenario/schema.js';
import { escapeMarkup } from './escape.js';

const esc = escapeMarkup;

function suite(r: RunResult, v: VariantResult, id: number): string {
  const name = v.variant === DEFAULT_VARIANT ? r.scenario : `${r.scenario}/${v.variant}`;
  const diagFor = (c: VariantResult['verdicts'][number]): string => {
    // a diagnosis names the verdict it explains (a result.json written before it did names none)
    const d = v.diagnoses.find((x) => x.explains?.kind === c.kind && x.explains.subject === c.subject);
    return d ? `\ndiagnosis: ${d.text}` : '';
  };
  const cases = v.verdicts.map((c) => {
    const head = `    <testcase classname="${esc(name)}.${c.kind}" name="${esc(`${c.kind} ${c.subject}`)}" time="0">`;
    // the reason as text: Jenkins' schema gives <skipped> no attributes
    if (c.skipped) return `${head}\n      <skipped>${esc(c.skipped)}</skipped>\n    </testcase>`;
    if (c.ok) return `${head}</testcase>`;
    const body = `expected: ${c.expected}\nobserved: ${c.observed}${c.detail ? `\ndetail: ${c.detail}` : ''}${diagFor(c)}`;
    return `${head}\n      <failure message="${esc(`expected ${c.expected}, observed ${c.observed}`)}" type="${c.kind}">${esc(body)}</failure>\n    </testcase>`;
  });
  if (v.error) cases.push(`    <testcase classname="${esc(name)}.run" name="lab"><error message="${esc(v.error)}"/></testcase>`);
  const failures = v.verdicts.filter((c) => !c.ok).length;
  const skipped = v.verdicts.filter((c) => c.skipped).length;
  const time = ((v.timings.total ?? 0) / 1000).toFixed(3);
  // the attributes and children the common JUnit schema asks of a suite inside <testsuites>
  return [
    `  <testsuite name="${esc(name)}" package="flatlab.${esc(r.scenario)}" id="${id}" hostname="${esc(hostname())}" tests="${cases.length}" failures="${failures}" errors="${v.error ? 1 : 0}" skipped="${skipped}" time="${time}" timestamp="${r.startedAt.replace(/\.\d+Z$/, '')}">`,
    `    <properties>\n      <property name="backend" value="${esc(r.backend)}"/>\n      <property name="run" value="${esc(v.prefix)}"/>\n      <property name="release" value="${esc(v.plan?.release ?? DEFAULT_RELEASE)}"/>${tries(v)}\n    </properties>`,
    ...cases,
    `    <system-out>${esc(symptomLines(v.symptoms).map((x) => `${x.label}: ${x.text}`).join('\n'))}</system-out>`,
    `    <system-err>${esc(v.error ?? '')}</system-err>`,
    '  </testsuite>',
  ].join('\n');
}

/** Every check tried more than once, with each try (and whether it passed only on a later one). */
function tries(v: VariantResult): string {
  return v.verdicts
    .filter((c) => (c.tries?.length ?? 0) > 1)
    .map((c) => `\n      <property name="${esc(`${c.flaky ? 'flaky' : 'tries'}: ${c.kind} ${c.subject}`)}" value="${esc((c.tries ?? []).map((x, i) => `try ${i + 1}: ${x}`).join(' | '))}"/>`)
    .join('');
}

/** One junit.xml for a whole suite: every run's variants as test suites (a repeat's number in its name). */
export function renderSuiteJunit(runs: { result: RunResult; repeat?: number }[]): string {
  let id = 0;
  const suites = runs.flatMap(({ result, repeat }) =>
    result.variants.map((v) => suite({ ...result, scenario: repeat ? `${result.scenario}#${repeat}` : result.scenario }, v, id++)),
  );
  const all = runs.flatMap((x) => x.result.variants);
  const tests = all.reduce((n, v) => n + v.verdicts.length + (v.error ? 1 : 0), 0);
  const failures = all.reduce((n, v) => n + v.verdicts.filter((c) => !c.ok).length, 0);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="flatlab suite" tests="${tests}" failures="${failures}" errors="${all.filter((v) => v.error).length}" time="0">`,
    ...suites,
    '</testsuites>',
    '',
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
