// The fault suite's report: per run (target, scenario, seed) a markdown summary and an HTML page
// with an inline SVG timeline (nemesis events as coloured bands, leader changes as marks, throughput
// per second, p50/p99 latency), and for a batch one markdown table and one HTML page of every run.
// No external assets: a page is one file a person opens and reads at a glance.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { HistoryOp, LostReport } from './final';

export interface CheckerResult {
  available: boolean;
  /** Why not available, or what went wrong running it. */
  reason?: string;
  valid?: boolean | 'unknown';
  anomalies?: number;
  /** Histories given to it. */
  histories?: number;
  exitCode?: number | null;
}

/** A nemesis log line as written to nemesis.jsonl (t in CLOCK_MONOTONIC ns). */
export interface EventLine {
  t: number;
  kind: string;
  phase: string;
  members?: number[];
  detail?: string;
  leader?: number | null;
}

export interface RunResult {
  target: string;
  members: number;
  scenario: string;
  nemeses: string[];
  seed: number;
  durationS: number;
  runDir: string;
  /** CLOCK_MONOTONIC ns of the workloads' start and of the run's end. */
  startNs: number;
  endNs: number;
  ops: { total: number; ok: number; fail: number; info: number };
  lost: LostReport;
  historiesChecked: number;
  checker: CheckerResult;
  treesIdentical: boolean;
  treeDiff: string[];
  workloads: string[];
  reproduce: string;
  errors: string[];
}

/** pass only when nothing was lost, trees agree, the checker ran and found the histories valid. */
export function verdict(r: RunResult): 'pass' | 'FAIL' | 'INCOMPLETE' {
  if (r.lost.lost > 0 || !r.treesIdentical || r.checker.valid === false || r.errors.length > 0) return 'FAIL';
  if (!r.checker.available || r.checker.valid !== true) return 'INCOMPLETE';
  return 'pass';
}

function checkerText(c: CheckerResult): string {
  if (!c.available) return `**checker not available** (${c.reason ?? 'unknown reason'})`;
  if (c.valid === true) return 'valid';
  if (c.valid === false) return `**INVALID** (${c.anomalies ?? '?'} anomalies)`;
  return `**unknown** (${c.reason ?? 'timed out'})`;
}

export function runMarkdown(r: RunResult): string {
  const lines = [
    `## ${r.target} · ${r.scenario} · seed ${r.seed}: ${verdict(r)}`,
    '',
    `| target | members | nemesis | ops | acknowledged | fail | info | lost | histories checked | anomalies | trees identical |`,
    `|---|---|---|---|---|---|---|---|---|---|---|`,
    `| ${r.target} | ${r.members} | ${r.nemeses.join(', ') || 'none'} | ${r.ops.total} | ${r.ops.ok} | ${r.ops.fail} | ${r.ops.info} | ${r.lost.lost} (of ${r.lost.checked} checked) | ${r.historiesChecked} | ${checkerText(r.checker)} | ${r.treesIdentical ? 'yes' : '**NO**'} |`,
    '',
    `Workloads: ${r.workloads.join(', ')}. Reproduce: \`${r.reproduce}\``,
    '',
  ];
  if (r.errors.length > 0) lines.push('Errors:', '', ...r.errors.map((e) => `- ${e}`), '');
  if (r.lost.details.length > 0) lines.push('Lost:', '', ...r.lost.details.map((d) => `- ${d}`), '');
  if (r.treeDiff.length > 0) lines.push('Tree differences:', '', ...r.treeDiff.map((d) => `- \`${d}\``), '');
  return lines.join('\n');
}

export function batchMarkdown(runs: readonly RunResult[]): string {
  const lines = [
    '# Fault suite report',
    '',
    '| target | scenario | seed | verdict | ops | acknowledged | fail | info | lost | histories checked | anomalies | trees identical |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of runs)
    lines.push(
      `| ${r.target} | ${r.scenario} | ${r.seed} | ${verdict(r)} | ${r.ops.total} | ${r.ops.ok} | ${r.ops.fail} | ${r.ops.info} | ${r.lost.lost} | ${r.historiesChecked} | ${checkerText(r.checker)} | ${r.treesIdentical ? 'yes' : '**NO**'} |`,
    );
  const byTarget = new Map<string, RunResult[]>();
  for (const r of runs) byTarget.set(`${r.target} | ${r.scenario}`, [...(byTarget.get(`${r.target} | ${r.scenario}`) ?? []), r]);
  lines.push('', '## Totals', '', '| target | scenario | runs | pass | FAIL | INCOMPLETE | ops | acknowledged | lost |', '|---|---|---|---|---|---|---|---|---|');
  for (const [target, rs] of byTarget) {
    const count = (v: string): number => rs.filter((r) => verdict(r) === v).length;
    const sum = (f: (r: RunResult) => number): number => rs.reduce((a, r) => a + f(r), 0);
    lines.push(`| ${target} | ${rs.length} | ${count('pass')} | ${count('FAIL')} | ${count('INCOMPLETE')} | ${sum((r) => r.ops.total)} | ${sum((r) => r.ops.ok)} | ${sum((r) => r.lost.lost)} |`);
  }
  lines.push('', ...runs.map(runMarkdown));
  return lines.join('\n') + '\n';
}

const KIND_COLOURS: Record<string, string> = {
  kill: '#e4572e',
  failpoint: '#a23b72',
  pause: '#f3a712',
  'partition-majority': '#29335c',
  'partition-bridge': '#3e5c99',
  'partition-leader': '#5b8bd6',
  'partition-oneway': '#8fb3e8',
  loss: '#4c956c',
  duplicate: '#90be6d',
  delay: '#2c6e49',
  reorder: '#a7c957',
  clock: '#7b2cbf',
};

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Per second since `startNs`: ok ops completed, and p50/p99 of their latency in ms. */
export function perSecond(ops: readonly HistoryOp[], startNs: number, endNs: number): Array<{ s: number; ok: number; p50: number; p99: number }> {
  const seconds = Math.max(1, Math.ceil((endNs - startNs) / 1e9));
  const buckets: number[][] = Array.from({ length: seconds }, () => []);
  for (const o of ops) {
    if (o.status !== 'ok' || o.t1 === null || o.proc.startsWith('final-')) continue;
    const s = Math.floor((o.t1 - startNs) / 1e9);
    if (s >= 0 && s < seconds) buckets[s].push((o.t1 - o.t0) / 1e6);
  }
  return buckets.map((b, s) => {
    const sorted = [...b].sort((x, y) => x - y);
    return { s, ok: b.length, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) };
  });
}

/** The timeline of one run as an SVG element. */
export function timelineSvg(r: RunResult, events: readonly EventLine[], ops: readonly HistoryOp[]): string {
  const W = 1000;
  const left = 130;
  const right = 20;
  const bandH = 14;
  const kinds = [...new Set(events.filter((e) => e.kind in KIND_COLOURS).map((e) => e.kind))];
  const bandsTop = 20;
  const bandsH = Math.max(1, kinds.length) * (bandH + 4);
  const tpTop = bandsTop + bandsH + 30;
  const tpH = 110;
  const latTop = tpTop + tpH + 40;
  const latH = 110;
  const H = latTop + latH + 40;
  const spanNs = Math.max(1, r.endNs - r.startNs);
  const x = (ns: number): number => left + ((ns - r.startNs) / spanNs) * (W - left - right);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`);
  // Nemesis bands: a start and its end (same kind, next end after it).
  kinds.forEach((kind, i) => {
    const y = bandsTop + i * (bandH + 4);
    parts.push(`<text x="${left - 4}" y="${y + bandH - 3}" text-anchor="end">${esc(kind)}</text>`);
    const starts = events.filter((e) => e.kind === kind && e.phase === 'start');
    for (const s of starts) {
      const e = events.find((x2) => x2.kind === kind && x2.phase === 'end' && x2.t >= s.t);
      const x0 = x(s.t);
      const x1 = x(e?.t ?? r.endNs);
      parts.push(
        `<rect x="${x0.toFixed(1)}" y="${y}" width="${Math.max(2, x1 - x0).toFixed(1)}" height="${bandH}" fill="${KIND_COLOURS[kind]}" opacity="0.85"><title>${esc(`${kind} ${s.detail ?? ''}${e?.detail ? ` / ${e.detail}` : ''}`)}</title></rect>`,
      );
    }
    for (const s of events.filter((e) => e.kind === kind && e.phase === 'skipped'))
      parts.push(`<text x="${x(s.t).toFixed(1)}" y="${y + bandH - 3}" fill="#999"><title>${esc(s.detail ?? '')}</title>skipped</text>`);
  });
  // Leader changes: a mark across the whole chart, labelled with the new leader.
  for (const e of events.filter((e2) => e2.kind === 'leader')) {
    const xl = x(e.t).toFixed(1);
    const colour = e.leader === null ? '#c00' : '#222';
    parts.push(`<line x1="${xl}" y1="${bandsTop - 8}" x2="${xl}" y2="${latTop + latH}" stroke="${colour}" stroke-dasharray="2,3" stroke-width="1"/>`);
    parts.push(`<text x="${xl}" y="${bandsTop - 10}" fill="${colour}" text-anchor="middle">${e.leader === null ? '∅' : `L${e.leader}`}</text>`);
  }
  const secs = perSecond(ops, r.startNs, r.endNs);
  const xs = (s: number): number => x(r.startNs + (s + 0.5) * 1e9);
  const maxOk = Math.max(1, ...secs.map((s) => s.ok));
  const tpY = (v: number): number => tpTop + tpH - (v / maxOk) * tpH;
  parts.push(`<text x="${left}" y="${tpTop - 6}" font-weight="bold">acknowledged ops per second (max ${maxOk})</text>`);
  parts.push(`<line x1="${left}" y1="${tpTop + tpH}" x2="${W - right}" y2="${tpTop + tpH}" stroke="#888"/>`);
  parts.push(`<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="${secs.map((s) => `${xs(s.s).toFixed(1)},${tpY(s.ok).toFixed(1)}`).join(' ')}"/>`);
  const lat = secs.filter((s) => !Number.isNaN(s.p99));
  const maxLat = Math.max(1, ...lat.map((s) => s.p99));
  const latY = (v: number): number => latTop + latH - (Math.log10(1 + v) / Math.log10(1 + maxLat)) * latH;
  parts.push(`<text x="${left}" y="${latTop - 6}" font-weight="bold">latency of acknowledged ops, ms (log scale, max ${maxLat.toFixed(0)}): <tspan fill="#2ca02c">p50</tspan> <tspan fill="#d62728">p99</tspan></text>`);
  parts.push(`<line x1="${left}" y1="${latTop + latH}" x2="${W - right}" y2="${latTop + latH}" stroke="#888"/>`);
  for (const [key, colour] of [['p50', '#2ca02c'], ['p99', '#d62728']] as const)
    parts.push(`<polyline fill="none" stroke="${colour}" stroke-width="1.5" points="${lat.map((s) => `${xs(s.s).toFixed(1)},${latY(s[key]).toFixed(1)}`).join(' ')}"/>`);
  // Time axis.
  const totalS = spanNs / 1e9;
  const step = totalS > 120 ? 30 : totalS > 40 ? 10 : 5;
  for (let s = 0; s <= totalS; s += step) {
    const xt = x(r.startNs + s * 1e9).toFixed(1);
    parts.push(`<line x1="${xt}" y1="${latTop + latH}" x2="${xt}" y2="${latTop + latH + 4}" stroke="#888"/><text x="${xt}" y="${latTop + latH + 16}" text-anchor="middle">${s}s</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}

const STYLE = 'body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}code{background:#f4f4f4}';

function runHtmlSection(r: RunResult, events: readonly EventLine[], ops: readonly HistoryOp[]): string {
  const v = verdict(r);
  const colour = v === 'pass' ? '#2a7' : v === 'FAIL' ? '#c22' : '#c80';
  const rows: Array<[string, string]> = [
    ['target', `${r.target}, ${r.members} members`],
    ['nemesis', r.nemeses.join(', ') || 'none'],
    ['ops', `${r.ops.total} (acknowledged ${r.ops.ok}, fail ${r.ops.fail}, info ${r.ops.info})`],
    ['lost', `${r.lost.lost} of ${r.lost.checked} acknowledged checked`],
    ['histories checked', String(r.historiesChecked)],
    ['checker', checkerText(r.checker).replace(/\*\*/g, '')],
    ['trees identical', r.treesIdentical ? 'yes' : 'NO'],
    ['workloads', r.workloads.join(', ')],
    ['reproduce', `<code>${esc(r.reproduce)}</code>`],
  ];
  return [
    `<h2>${esc(`${r.target} · ${r.scenario} · seed ${r.seed}`)}: <span style="color:${colour}">${v}</span></h2>`,
    '<table>',
    ...rows.map(([k, val]) => `<tr><th align="left">${esc(k)}</th><td>${k === 'reproduce' ? val : esc(val)}</td></tr>`),
    '</table>',
    ...(r.errors.length ? [`<p style="color:#c22">${r.errors.map(esc).join('<br>')}</p>`] : []),
    ...(r.lost.details.length ? [`<pre>${r.lost.details.map(esc).join('\n')}</pre>`] : []),
    timelineSvg(r, events, ops),
  ].join('\n');
}

export function runHtml(r: RunResult, events: readonly EventLine[], ops: readonly HistoryOp[]): string {
  return `<!doctype html>\n<html><head><meta charset="utf-8"><title>${esc(`faults ${r.target} ${r.scenario} seed ${r.seed}`)}</title><style>${STYLE}</style></head><body>\n${runHtmlSection(r, events, ops)}\n</body></html>\n`;
}

/** Writes run.md, run.html and run.json into the run's dir. */
export function writeRunReport(r: RunResult, events: readonly EventLine[], ops: readonly HistoryOp[]): void {
  fs.writeFileSync(path.join(r.runDir, 'run.json'), JSON.stringify(r, null, 1));
  fs.writeFileSync(path.join(r.runDir, 'run.md'), runMarkdown(r));
  fs.writeFileSync(path.join(r.runDir, 'run.html'), runHtml(r, events, ops));
}

/** Writes report.md and report.html for a batch into `outDir`; the HTML links each run's page. */
export function writeBatchReport(outDir: string, runs: readonly RunResult[]): void {
  fs.writeFileSync(path.join(outDir, 'report.md'), batchMarkdown(runs));
  const rows = runs.map((r) => {
    const rel = path.relative(outDir, path.join(r.runDir, 'run.html'));
    return `<tr><td>${esc(r.target)}</td><td>${esc(r.scenario)}</td><td>${r.seed}</td><td><a href="${esc(rel)}">${verdict(r)}</a></td><td>${r.ops.total}</td><td>${r.ops.ok}</td><td>${r.ops.fail}</td><td>${r.ops.info}</td><td>${r.lost.lost}</td><td>${r.historiesChecked}</td><td>${esc(checkerText(r.checker).replace(/\*\*/g, ''))}</td><td>${r.treesIdentical ? 'yes' : 'NO'}</td></tr>`;
  });
  const html = `<!doctype html>\n<html><head><meta charset="utf-8"><title>fault suite report</title><style>${STYLE}</style></head><body>\n<h1>Fault suite report</h1>\n<table><tr><th>target</th><th>scenario</th><th>seed</th><th>verdict</th><th>ops</th><th>acknowledged</th><th>fail</th><th>info</th><th>lost</th><th>histories</th><th>anomalies</th><th>trees identical</th></tr>\n${rows.join('\n')}\n</table>\n</body></html>\n`;
  fs.writeFileSync(path.join(outDir, 'report.html'), html);
}
