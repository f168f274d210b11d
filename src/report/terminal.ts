/** The run report on a terminal: a table per VM, the reachability matrix, failures. */
import chalk from 'chalk';
import type { RunResult } from '../run/results.js';
import { renderTable } from './table.js';

const ok = (s: string): string => chalk.green(s);
const bad = (s: string): string => chalk.red.bold(s);

export function renderVmTable(r: RunResult): string {
  const verdictsFor = (vm: string): boolean[] =>
    r.verdicts.filter((v) => v.subject === vm || v.subject.startsWith(`${vm} -> `)).map((v) => v.ok);
  const rows = r.plan.vms.map((vm) => {
    const o = r.observations?.vms[vm.name];
    const lease = r.verdicts.find((v) => v.kind === 'lease' && v.subject === vm.name);
    const gw = r.verdicts.find((v) => v.kind === 'gateway' && v.subject === vm.name);
    const addr = o?.addresses[0] ? o.addresses[0].ip : '—';
    const all = verdictsFor(vm.name);
    const passed = all.length > 0 && all.every(Boolean);
    return [
      chalk.bold(vm.name),
      vm.node,
      o?.mac ?? vm.mac,
      lease ? (lease.ok ? ok(addr) : bad(`${addr} ≠ ${r.plan.expected.leases[vm.name]}`)) : addr,
      gw ? (gw.ok ? ok(gw.observed) : bad(`${gw.observed} ≠ ${gw.expected}`)) : '—',
      all.length === 0 ? chalk.dim('not checked') : passed ? ok('pass') : bad(`${all.filter((x) => !x).length} failed`),
    ];
  });
  return renderTable(['VM', 'node', 'MAC', 'leased IP', 'gateway', 'result'], rows);
}

/**
 * Rows are sources, columns destinations. ✓ reached, ✗ did not; green when as
 * expected, red (with the expectation in brackets) when not.
 */
export function renderMatrix(r: RunResult): string {
  const names = r.plan.vms.map((v) => v.name);
  const cell = (from: string, to: string): string => {
    if (from === to) return chalk.dim('·');
    const res = r.reach.filter((x) => x.from === from && x.to === to);
    if (res.length === 0) return chalk.dim('-');
    return res
      .map((x) => {
        const mark = x.observed === 'reachable' ? '✓' : '✗';
        return x.observed === x.expected ? ok(mark) : bad(`${mark}(want ${x.expected === 'reachable' ? '✓' : '✗'})`);
      })
      .join(' ');
  };
  const rows = names.map((from) => [chalk.bold(from), ...names.map((to) => cell(from, to))]);
  return renderTable(['from \\ to', ...names], rows);
}

export function renderFailures(r: RunResult): string {
  const failed = r.verdicts.filter((v) => !v.ok);
  if (failed.length === 0) return '';
  return failed
    .map((v) => `  ${bad('FAIL')} ${v.kind} ${v.subject}: expected ${v.expected}, observed ${v.observed}${v.detail ? `\n       ${chalk.dim(v.detail)}` : ''}`)
    .join('\n');
}

export function renderReport(r: RunResult, resultsDir: string): string {
  const out: string[] = [];
  out.push('', chalk.bold(`${r.scenario}`) + chalk.dim(`  (${r.plan.network.cidr} on ${r.plan.network.bridge}, run ${r.prefix}, ${r.backend})`), '');
  if (r.observations) {
    out.push(renderVmTable(r), '');
    if (r.reach.length > 0) out.push(chalk.bold('  reachability') + chalk.dim(' (rows: from, columns: to)'), renderMatrix(r), '');
  }
  const fails = renderFailures(r);
  if (fails) out.push(fails, '');
  if (r.error) out.push(`  ${bad('ERROR')} ${r.error}`, '');
  const { passed, failed } = r.summary;
  const verdict = r.ok ? ok(`all ${passed} checks as expected`) : bad(`${failed} of ${passed + failed} checks failed${r.error ? ' (run did not complete)' : ''}`);
  out.push(`  ${verdict} ${chalk.dim(`in ${r.timings.total} ms`)}`, chalk.dim(`  results: ${resultsDir}`), '');
  return out.join('\n');
}
