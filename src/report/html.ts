/**
 * report.html: one self-contained page per run (no external files): per variant an SVG
 * drawing of the topology with what each VM really got, the reachability matrix
 * coloured expected/observed, the leases table, the symptom and diagnoses, and the phase
 * timings.
 */
import type { RunResult, VariantResult } from '../result.js';
import { probeName } from './terminal.js';
import { symptomLines } from '../checks/symptoms.js';
import type { RulePlan } from '../plan/types.js';
import { DEFAULT_VARIANT } from '../scenario/schema.js';
import { escapeMarkup } from './escape.js';

const esc = escapeMarkup;

const CSS = `
body{font-family:system-ui,-apple-system,"DejaVu Sans",sans-serif;margin:24px;color:#1d2330;background:#fafbfc}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 6px;border-bottom:1px solid #d8dde6;padding-bottom:4px}
h3{font-size:14px;margin:16px 0 6px;color:#44506a} .dim{color:#6b7489} .ok{color:#127a3a} .bad{color:#b3261e;font-weight:600}
table{border-collapse:collapse;font-size:13px;margin:4px 0} td,th{border:1px solid #d8dde6;padding:3px 8px;text-align:left}
th{background:#eef1f6} td.cell{text-align:center;font-family:monospace} td.pass{background:#e3f4e8} td.fail{background:#fbe1df}
td.self{background:#f2f2f2} .diag{font-family:monospace;font-size:12px;background:#fff7e0;border:1px solid #f0d78c;padding:6px;margin:4px 0;white-space:pre-wrap}
svg text{font-family:system-ui,"DejaVu Sans",sans-serif}`;

export function topologySvg(v: VariantResult): string {
  const p = v.plan;
  const nodeW = 210;
  const vmH = 44;
  const maxVms = Math.max(1, ...p.nodes.map((n) => n.vms.length));
  const extra = (p.external ? 1 : 0) + (p.dhcpServer ? 1 : 0);
  const width = Math.max(640, 30 + (p.nodes.length + extra) * (nodeW + 20));
  const height = 150 + maxVms * vmH + 30;
  const lease = (vm: string): boolean | undefined => v.verdicts.find((x) => (x.kind === 'lease' || x.kind === 'address') && !x.skipped && x.subject === vm)?.ok;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="topology of ${esc(p.scenario)}">`,
    `<line x1="20" y1="30" x2="${width - 20}" y2="30" stroke="#3b5bdb" stroke-width="4"/>`,
    `<text x="24" y="22" font-size="12" fill="#3b5bdb">fabric: flat segment ${esc(p.network.cidr)} (${esc(p.network.flatInterface)} of every node)</text>`,
  ];
  p.nodes.forEach((n, i) => {
    const x = 20 + i * (nodeW + 20);
    const h = 70 + n.vms.length * vmH;
    parts.push(
      `<line x1="${x + nodeW / 2}" y1="30" x2="${x + nodeW / 2}" y2="60" stroke="#3b5bdb" stroke-width="2"/>`,
      `<rect x="${x}" y="60" width="${nodeW}" height="${h}" rx="8" fill="#fff" stroke="#44506a"/>`,
      `<text x="${x + 10}" y="80" font-size="14" font-weight="600">${esc(n.name)}${n.role === 'network' ? ' (network host)' : ''}</text>`,
      `<text x="${x + 10}" y="98" font-size="12" fill="#44506a">${esc(n.bridge)}: ${esc(n.bridgeIp ?? 'no pool address')}${n.public ? ` · ${esc(n.public.iface)} ${esc(n.public.ip)}` : ''}</text>`,
    );
    // a fault on this node: the node drawn marked, and what the fault does
    const faults = (p.faults ?? []).filter((f) => f.node === n.name);
    if (faults.length) {
      parts.push(
        `<rect x="${x}" y="60" width="${nodeW}" height="${h}" rx="8" fill="none" stroke="#c2410c" stroke-width="3" stroke-dasharray="6,3" class="fault"/>`,
        `<text x="${x + nodeW - 8}" y="80" font-size="11" fill="#c2410c" text-anchor="end" class="fault">⚡ ${esc(faults.map((f) => f.type).join(', '))}</text>`,
      );
    }
    n.vms.forEach((name, k) => {
      const vm = p.vms.find((x) => x.name === name)!;
      const o = v.observations?.vms[name];
      const ok = lease(name);
      const y = 110 + k * vmH;
      const fill = ok === undefined ? '#f2f2f2' : ok ? '#e3f4e8' : '#fbe1df';
      const addr = o?.addresses[0]?.ip ?? 'no address';
      parts.push(
        `<rect x="${x + 10}" y="${y}" width="${nodeW - 20}" height="${vmH - 6}" rx="4" fill="${fill}" stroke="#9aa3b5"/>`,
        `<text x="${x + 18}" y="${y + 15}" font-size="12" font-weight="600">${esc(name)} <tspan font-weight="400" fill="#6b7489">${esc(vm.tap)}</tspan></text>`,
        `<text x="${x + 18}" y="${y + 31}" font-size="11">${esc(addr)} · gw ${esc(o?.defaultGateway ?? 'none')}</text>`,
      );
    });
  });
  let hx = 20 + p.nodes.length * (nodeW + 20);
  for (const h of [p.external && { label: 'external host', ip: p.external.ip, seg: p.external.segment }, p.dhcpServer && { label: 'DHCP server', ip: p.dhcpServer.ip, seg: 'flat' }]) {
    if (!h) continue;
    parts.push(
      `<line x1="${hx + nodeW / 2}" y1="30" x2="${hx + nodeW / 2}" y2="60" stroke="${h.seg === 'public' ? '#c2410c' : '#3b5bdb'}" stroke-width="2" stroke-dasharray="${h.seg === 'public' ? '5,4' : ''}"/>`,
      `<rect x="${hx}" y="60" width="${nodeW}" height="50" rx="8" fill="#fff" stroke="#44506a"/>`,
      `<text x="${hx + 10}" y="80" font-size="14" font-weight="600">${esc(h.label)}</text>`,
      `<text x="${hx + 10}" y="98" font-size="12" fill="#44506a">${esc(h.ip)}${h.seg === 'public' ? ' (public segment)' : ''}</text>`,
    );
    hx += nodeW + 20;
  }
  parts.push('</svg>');
  return parts.join('\n');
}

function matrix(v: VariantResult): string {
  const names = v.plan.vms.map((x) => x.name);
  if (names.length > 24) return `<p class="dim">${names.length} VMs: matrix omitted (${v.reach.length} probes in result.json).</p>`;
  const head = `<tr><th>from \\ to</th>${names.map((n) => `<th>${esc(n)}</th>`).join('')}</tr>`;
  const rows = names.map((from) => {
    const cells = names.map((to) => {
      if (from === to) return '<td class="cell self">·</td>';
      const res = v.reach.filter((x) => x.from === from && x.to === to);
      if (res.length === 0) return '<td class="cell">–</td>';
      const good = res.every((x) => x.observed === x.expected);
      const mark = (x: (typeof res)[number]): string => ({ reachable: '✓', unreachable: '✗', refused: 'R' })[x.observed];
      const text = res.map((x) => `${res.length > 1 ? `${probeName(x)} ` : ''}${mark(x)}${x.observed === x.expected ? '' : ` (want ${x.expected})`}`).join('<br>');
      const title = res.map((x) => `${probeName(x)}: ${x.evidence}; expected ${x.expected} because ${x.reason}`).join('\n');
      return `<td class="cell ${good ? 'pass' : 'fail'}" title="${esc(title)}">${text}</td>`;
    });
    return `<tr><th>${esc(from)}</th>${cells.join('')}</tr>`;
  });
  return `<table class="matrix">${head}${rows.join('')}</table>`;
}

function leases(v: VariantResult): string {
  const rows = v.plan.vms.map((vm) => {
    const o = v.observations?.vms[vm.name];
    const mine = v.verdicts.filter((x) => x.subject === vm.name && !x.skipped);
    const ok = mine.every((x) => x.ok);
    return `<tr><td>${esc(vm.name)}</td><td>${esc(vm.node)}</td><td>${esc(o?.mac ?? vm.mac)}</td><td>${esc(o?.addresses.map((a) => `${a.ip}/${a.prefixLength}`).join(', ') || 'none')}</td><td>${esc(o?.defaultGateway ?? 'none')}</td><td>${esc(v.plan.expected.leases[vm.name] ?? 'none')}</td><td class="${ok ? 'ok' : 'bad'}">${ok ? 'pass' : mine.filter((x) => !x.ok).map((x) => esc(x.kind)).join(', ')}</td></tr>`;
  });
  return `<table><tr><th>VM</th><th>node</th><th>MAC</th><th>address</th><th>gateway</th><th>expected</th><th>result</th></tr>${rows.join('')}</table>`;
}

/** A rule as an operator reads it in `nova secgroup-list-rules`: protocol, ports, source. */
export function ruleWords(rule: RulePlan): string {
  const ports =
    rule.proto === 'icmp'
      ? rule.icmpType === undefined ? 'any type' : `type ${rule.icmpType}${rule.icmpCode === undefined ? '' : ` code ${rule.icmpCode}`}`
      : rule.fromPort === undefined ? 'every port' : rule.fromPort === rule.toPort ? `port ${rule.fromPort}` : `ports ${rule.fromPort}-${rule.toPort}`;
  const from = rule.group !== undefined ? `members of ${rule.group}` : rule.cidr ?? '0.0.0.0/0';
  return `${rule.proto} ${ports} from ${from}`;
}

/** Each VM's groups and each group's rules, beside the matrix they explain. */
function securityGroups(v: VariantResult): string {
  const groups = v.plan.securityGroups ?? {};
  const used = [...new Set(v.plan.vms.flatMap((vm) => vm.securityGroups ?? []))];
  if (used.length === 0) return '';
  const members = (g: string): string => v.plan.vms.filter((vm) => (vm.securityGroups ?? []).includes(g)).map((vm) => vm.name).join(', ');
  const rows = used.map((g) => {
    const rules = groups[g] ?? [];
    const text = rules.length ? rules.map((x) => esc(ruleWords(x))).join('<br>') : '<span class="dim">no rules: nothing comes in but what allow_same_net_traffic and the node\'s own rules accept</span>';
    return `<tr><td>${esc(g)}</td><td>${esc(members(g))}</td><td>${text}</td></tr>`;
  });
  const same = v.plan.network.allowSameNetTraffic ? 'allow_same_net_traffic is on: every instance accepts the fixed network too' : 'allow_same_net_traffic is off: only these rules let other instances in';
  return `<h3>security groups <span class="dim">(${esc(same)})</span></h3><table class="groups"><tr><th>group</th><th>VMs</th><th>rules (ingress)</th></tr>${rows.join('')}</table>`;
}

function variantSection(r: RunResult, v: VariantResult): string {
  const title = v.variant === DEFAULT_VARIANT ? r.scenario : `variant ${v.variant}`;
  const failures = v.verdicts.filter((x) => !x.ok);
  return [
    `<section class="variant" id="variant-${esc(v.variant)}">`,
    `<h2>${esc(title)} <span class="${v.ok ? 'ok' : 'bad'}">${v.ok ? 'as expected' : 'FAILED'}</span></h2>`,
    v.description ? `<p class="dim">${esc(v.description)}</p>` : '',
    `<p class="dim">${esc(v.plan.network.cidr)} on ${esc(v.plan.network.bridge)}, multi_host=${v.plan.network.multiHost}, allow_same_net_traffic=${v.plan.network.allowSameNetTraffic}, run ${esc(v.prefix)}; ${v.summary.passed} passed, ${v.summary.failed} failed${v.summary.skipped ? `, ${v.summary.skipped} skipped` : ''}</p>`,
    v.error ? `<p class="bad">${esc(v.error)}</p>` : '',
    `<h3>topology</h3>`,
    topologySvg(v),
    `<h3>reachability <span class="dim">(rows: from, columns: to; ✓ answered, ✗ dropped, R refused; red where not as expected)</span></h3>`,
    matrix(v),
    v.plan.expected.sampling ? `<p class="dim">${esc(v.plan.expected.sampling)}</p>` : '',
    securityGroups(v),
    `<h3>leases and gateways</h3>`,
    leases(v),
    (v.plan.faults ?? []).length
      ? `<h3>faults</h3><table class="faults"><tr><th>fault</th><th>where</th><th>what it changes</th><th>the report it models</th></tr>${v.plan.faults
          .map((f) => `<tr><td>${esc(f.type)}</td><td>${esc(f.node ?? f.vm ?? 'every node')}</td><td>${esc(f.change)}</td><td>${esc(f.models)}</td></tr>`)
          .join('')}</table>`
      : '',
    symptomLines(v.symptoms).map((l) => `<h3>${l.label}</h3><p>${esc(l.text)}</p>`).join(''),
    failures.length
      ? `<h3>failed checks</h3><table><tr><th>check</th><th>expected</th><th>observed</th><th>detail</th></tr>${failures.map((f) => `<tr><td>${esc(`${f.kind} ${f.subject}`)}</td><td>${esc(f.expected)}</td><td>${esc(f.observed)}</td><td>${esc(f.detail)}</td></tr>`).join('')}</table>`
      : '',
    v.diagnoses.length ? `<h3>diagnosis</h3>${v.diagnoses.map((d) => `<div class="diag">${esc(d.text)}</div>`).join('')}` : '',
    `<h3>phase timings</h3><table><tr>${Object.keys(v.timings).map((k) => `<th>${esc(k)}</th>`).join('')}</tr><tr>${Object.values(v.timings).map((ms) => `<td>${ms} ms</td>`).join('')}</tr></table>`,
    '</section>',
  ].join('\n');
}

export function renderHtml(r: RunResult): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>flatlab · ${esc(r.scenario)}</title>`,
    `<style>${CSS}</style></head><body>`,
    `<h1>flatlab · ${esc(r.scenario)} <span class="${r.ok ? 'ok' : 'bad'}">${r.ok ? 'all checks as expected' : `${r.summary.failed} checks failed`}</span></h1>`,
    `<p class="dim">${esc(r.file)} · ${esc(r.startedAt)} · backend ${esc(r.backend)} · ${r.variants.length} variant${r.variants.length > 1 ? 's' : ''} · ${r.timings.total} ms</p>`,
    ...r.variants.map((v) => variantSection(r, v)),
    '</body></html>',
    '',
  ].join('\n');
}
