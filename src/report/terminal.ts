/** The run report on a terminal: per variant a table per VM, the reachability matrix, failures. */
import chalk from 'chalk';
import type { ReachResult } from '../checks/types.js';
import type { Reachability } from '../plan/types.js';
import type { RunResult, VariantResult } from '../result.js';
import { renderTable } from './table.js';
import { symptomLines } from '../checks/symptoms.js';
import { DEFAULT_VARIANT } from '../scenario/schema.js';

const ok = (s: string): string => chalk.green(s);
/** Beyond this many VMs the per-VM table and the matrix are left to result.json. */
const MAX_DRAWN_VMS = 24;
const bad = (s: string): string => chalk.red.bold(s);

export function renderVmTable(r: VariantResult): string {
  const rows = r.plan.vms.map((vm) => {
    const o = r.observations?.vms[vm.name];
    const lease = r.verdicts.find((v) => (v.kind === 'lease' || v.kind === 'address') && !v.skipped && v.subject === vm.name);
    const gw = r.verdicts.find((v) => v.kind === 'gateway' && v.subject === vm.name);
    const addr = o?.addresses[0] ? o.addresses[0].ip : '—';
    const mine = r.verdicts.filter((v) => v.subject === vm.name || v.subject.startsWith(`${vm.name} -> `));
    const failed = mine.filter((v) => !v.ok).length;
    return [
      chalk.bold(vm.name),
      vm.node,
      o?.mac ?? vm.mac,
      lease ? (lease.ok ? ok(addr) : bad(`${addr} ≠ ${r.plan.expected.leases[vm.name] ?? 'none'}`)) : addr,
      gw ? (gw.ok ? ok(gw.observed) : bad(`${gw.observed} ≠ ${gw.expected}`)) : '—',
      mine.length === 0 ? chalk.dim('not checked') : failed === 0 ? ok('pass') : bad(`${failed} failed`),
    ];
  });
  const how = r.plan.network.injected ? 'injected IP' : 'leased IP';
  return renderTable(['VM', 'node', 'MAC', how, 'gateway', 'result'], rows);
}

/** The way out: what the external host saw of each guest. */
export function renderEgress(r: VariantResult): string {
  const rows = r.egress.map((e) => {
    const want = e.expectedCaptured !== undefined ? e.expectedCaptured : e.expectedSource;
    const good = e.observedSource === e.expectedSource;
    const seen = e.observedSource ?? 'no connection';
    const syn = e.capturedSource ?? 'none';
    return [chalk.bold(e.vm), e.via, e.expectedSource ?? 'none', good ? ok(seen) : bad(seen), e.capturedSource === want ? ok(syn) : bad(syn)];
  });
  return renderTable(['VM', 'routed by', 'SNAT source expected', 'external host answered', 'its capture: SYN from'], rows);
}

const MARK: Record<Reachability, string> = { reachable: '✓', unreachable: '✗', refused: 'R' };

/** `icmp`, `tcp/22` */
export function probeName(x: Pick<ReachResult, 'proto' | 'port'>): string {
  return x.port !== undefined ? `${x.proto}/${x.port}` : x.proto;
}

/**
 * Rows are sources, columns destinations; one mark per probe: ✓ answered, ✗ silence
 * (dropped), R refused. Green when as expected; red, with the expectation, when not.
 */
export function renderMatrix(r: VariantResult): string {
  const names = r.plan.vms.map((v) => v.name);
  const kinds = [...new Set(r.reach.map(probeName))];
  const several = kinds.length > 1;
  const cell = (from: string, to: string): string => {
    if (from === to) return chalk.dim('·');
    const res = r.reach.filter((x) => x.from === from && x.to === to);
    if (res.length === 0) return chalk.dim('-');
    return res
      .map((x) => {
        const label = several ? `${probeName(x)} ` : '';
        const text = `${label}${MARK[x.observed]}`;
        return x.observed === x.expected ? ok(text) : bad(`${text}(want ${MARK[x.expected]})`);
      })
      .join(' ');
  };
  const rows = names.map((from) => [chalk.bold(from), ...names.map((to) => cell(from, to))]);
  return renderTable([`from \\ to${several ? '' : ` (${kinds[0] ?? 'icmp'})`}`, ...names], rows);
}

export function renderFailures(r: VariantResult): string {
  const failed = r.verdicts.filter((v) => !v.ok);
  return failed
    .map((v) => `  ${bad('FAIL')} ${v.kind} ${v.subject}: expected ${v.expected}, observed ${v.observed}${v.detail ? `\n       ${chalk.dim(v.detail)}` : ''}`)
    .join('\n');
}

/** Where the lab ran: the backend, and on several engines which node ran on which. */
export function whereItRan(r: VariantResult, backend: string): string {
  const span = r.plan.span;
  if (!span) return backend;
  const by = span.engines.map((e) => `${e}: ${r.plan.nodes.filter((n) => span.placement[n.name] === e).map((n) => n.name).join(', ') || 'the fabric'}`);
  return `${backend} on engines ${by.join('; ')}`;
}

export function renderVariant(r: VariantResult, scenario: string, backend?: string): string {
  const n = r.plan.network;
  const title = r.variant === DEFAULT_VARIANT ? scenario : `${scenario} · variant ${r.variant}`;
  const out: string[] = [
    chalk.bold(title) +
      chalk.dim(`  (${n.cidr} on ${n.bridge}, allow_same_net_traffic=${n.allowSameNetTraffic}, run ${r.prefix}${backend ? `, ${whereItRan(r, backend)}` : ''})`),
  ];
  if (r.description) out.push(chalk.dim(`  ${r.description}`));
  for (const f of r.plan.faults ?? []) out.push(chalk.yellow(`  fault ${f.type}${f.node ? ` on ${f.node}` : ''}: ${f.change}`) + chalk.dim(` (${f.models})`));
  out.push('');
  const big = r.plan.vms.length > MAX_DRAWN_VMS;
  if (r.observations && big) {
    const leased = r.verdicts.filter((v) => v.kind === 'lease' && v.ok).length;
    const reached = r.reach.filter((x) => x.observed === x.expected).length;
    out.push(`  ${r.plan.vms.length} VMs on ${r.plan.nodes.length} nodes: ${leased} leases as expected, ${reached} of ${r.reach.length} probes as expected (tables omitted; see result.json)`, '');
  }
  if (r.plan.expected.sampling) out.push(chalk.dim(`  ${r.plan.expected.sampling}`), '');
  if (r.observations && !big) {
    out.push(renderVmTable(r), '');
    if (r.reach.length > 0) out.push(chalk.bold('  reachability') + chalk.dim(' (rows: from, columns: to; ✓ answered, ✗ dropped, R refused)'), renderMatrix(r), '');
    // checks that start outside the guests: a node's own stack, the external host to floating addresses
    for (const [title, list] of [
      ["  from the nodes' own stacks", r.reach.filter((x) => x.from.startsWith('node:'))],
      ['  from the external host, to floating addresses', r.reach.filter((x) => x.from === 'external')],
    ] as const) {
      if (list.length === 0) continue;
      out.push(chalk.bold(title));
      for (const x of list) {
        const what = `${x.from} -> ${x.to}${x.toIp ? ` (${x.toIp})` : ''} ${x.proto}${x.port !== undefined ? `/${x.port}` : ''}: ${MARK[x.observed]}`;
        const how = x.observed === 'reachable' ? '' : ` (${x.confirmedBy?.text ?? x.evidence})`;
        out.push(`  ${x.observed === x.expected ? ok(what) : bad(`${what} (want ${MARK[x.expected]})`)}${chalk.dim(how)}`);
      }
      out.push('');
    }
    if (r.egress.length > 0 && r.plan.external) out.push(chalk.bold(`  the way out`) + chalk.dim(` (to ${r.plan.external.ip}, external ${r.plan.external.cidr})`), renderEgress(r), '');
    const skipped = r.verdicts.filter((v) => v.skipped);
    if (skipped.length > 0) out.push(chalk.dim(`  skipped: ${skipped.length} ${skipped[0]!.kind} checks (${skipped[0]!.skipped})`), '');
  }
  const said = symptomLines(r.symptoms);
  for (const l of said) out.push(`  ${chalk.bold(`${l.label}:`)} ${l.text}`);
  if (said.length > 0) out.push('');
  const fails = big ? renderFailures({ ...r, verdicts: r.verdicts.filter((v) => !v.ok).slice(0, 20) }) : renderFailures(r);
  if (fails) out.push(fails, '');
  const flaky = r.verdicts.filter((v) => v.ok && v.flaky);
  for (const v of flaky) out.push(chalk.yellow(`  flaky ${v.kind} ${v.subject}: passed on a later try (${(v.tries ?? []).join(' | ')})`));
  if (flaky.length) out.push('');
  for (const d of r.unexpectedDrops ?? []) out.push(chalk.yellow(`  note: ${d.rule} on ${d.where} dropped ${d.packets} packets where no drop was expected`));
  if (r.unexpectedDrops?.length) out.push('');
  if (r.diagnoses.length > 0) {
    out.push(chalk.bold('  diagnosis') + chalk.dim(' (one traced flow per kind of failure; captures in the results)'));
    for (const d of r.diagnoses) out.push(`  ${d.problem ? chalk.yellow('▸') : chalk.green('▸')} ${d.text}`);
    out.push('');
  }
  if (r.error) out.push(`  ${bad('ERROR')} ${r.error}`, '');
  const { passed, failed } = r.summary;
  out.push(
    `  ${r.ok ? ok(`all ${passed} checks as expected`) : bad(`${failed} of ${passed + failed} checks failed${r.error ? ' (lab did not complete)' : ''}`)} ${chalk.dim(`in ${r.timings.total} ms`)}`,
    '',
  );
  return out.join('\n');
}

export function renderReport(r: RunResult, resultsDir: string): string {
  const out = ['', ...r.variants.map((v) => renderVariant(v, r.scenario, r.backend))];
  if (r.variants.length > 1) {
    const verdict = r.ok
      ? ok(`all ${r.variants.length} variants as expected (${r.summary.passed} checks)`)
      : bad(`${r.variants.filter((v) => !v.ok).length} of ${r.variants.length} variants failed`);
    out.push(`  ${verdict} ${chalk.dim(`in ${r.timings.total} ms`)}`);
  }
  if (r.vmGuests) out.push(chalk.dim(`  vm guests: ${r.vmGuests.text}`));
  if (r.neighbourTable) out.push(chalk.yellow(`  machine: ${r.neighbourTable.text}`));
  out.push(chalk.dim(`  results: ${resultsDir}`), '');
  return out.join('\n');
}
