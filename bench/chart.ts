/**
 * The `--chart` output of `npm run bench`: one self-contained SVG of every result, grouped by
 * suite and scenario, one horizontal bar per system. Bars of a scenario share one scale (its
 * largest value), so the eye reads the same ratios the table prints; scenarios measured in ms
 * say "lower is better". Hand-written (no chart library): plain rects and texts.
 */
import type { Row, SuiteRows } from './report.js';

const WIDTH = 1000;
const LABEL_W = 230;
const BAR_X = LABEL_W + 10;
const BAR_MAX = 520;
const BAR_H = 12;
const ROW_H = 15;
const FONT = 'font-family="DejaVu Sans, Arial, sans-serif"';
/** Colour-blind-safe palette (Okabe-Ito), then greys. */
const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000', '#999999', '#666666'];

/** Escapes text for SVG content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return v >= 100 ? Math.round(v).toString() : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}\u2026`;
}

/** The rows of a suite grouped by scenario, in the order scenarios first appear. */
function groups(rows: readonly Row[]): Array<{ scenario: string; rows: Row[] }> {
  const by = new Map<string, Row[]>();
  for (const r of rows) by.set(r.scenario, [...(by.get(r.scenario) ?? []), r]);
  return [...by].map(([scenario, rs]) => ({ scenario, rows: rs }));
}

/** The system name without the `[N errors]` suffix, so a system keeps its colour. */
const baseSystem = (s: string): string => s.replace(/\s*\[\d+ errors?\]$/, '');

/** Renders the suites as an SVG document (see the file comment). */
export function renderChart(suites: readonly SuiteRows[], title: string): string {
  const colours = new Map<string, string>();
  for (const s of suites) for (const r of s.rows) {
    const sys = baseSystem(r.system);
    if (!colours.has(sys)) colours.set(sys, PALETTE[colours.size % PALETTE.length]!);
  }
  const body: string[] = [];
  let y = 30;
  body.push(`<text x="10" y="${y}" font-size="16" font-weight="bold">${escapeXml(title)}</text>`);
  y += 22;
  // Legend: one swatch per system, wrapped over as many lines as needed.
  let x = 10;
  for (const [sys, colour] of colours) {
    const w = 22 + sys.length * 6.5;
    if (x + w > WIDTH - 10) { x = 10; y += 16; }
    body.push(`<rect x="${x}" y="${y - 10}" width="12" height="12" fill="${colour}"/><text x="${x + 16}" y="${y}" font-size="11">${escapeXml(sys)}</text>`);
    x += w + 12;
  }
  y += 14;
  for (const s of suites) {
    y += 22;
    body.push(`<text x="10" y="${y}" font-size="14" font-weight="bold">${escapeXml(s.suite)}</text>`);
    body.push(`<line x1="10" x2="${WIDTH - 10}" y1="${y + 4}" y2="${y + 4}" stroke="#bbb"/>`);
    y += 6;
    for (const g of groups(s.rows)) {
      const unit = g.rows[0]!.unit;
      y += 18;
      body.push(`<text x="10" y="${y}" font-size="11" font-weight="bold">${escapeXml(clip(`${g.scenario}  [${unit}${unit === 'ms' ? ', lower is better' : ''}]`, 150))}</text>`);
      y += 4;
      const max = Math.max(...g.rows.map((r) => (Number.isFinite(r.value) ? r.value : 0)), 0);
      for (const r of g.rows) {
        const w = max > 0 && Number.isFinite(r.value) ? Math.max(1, (r.value / max) * BAR_MAX) : 0;
        const colour = colours.get(baseSystem(r.system))!;
        const ratio = r.ratio === undefined || !Number.isFinite(r.ratio) ? '' : `  (${fmt(r.ratio)}x)`;
        body.push(
          `<text x="${LABEL_W}" y="${y + BAR_H - 2}" font-size="10" text-anchor="end">${escapeXml(clip(r.system, 40))}</text>`,
          `<rect x="${BAR_X}" y="${y}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${colour}"/>`,
          `<text x="${(BAR_X + w + 4).toFixed(1)}" y="${y + BAR_H - 2}" font-size="10">${escapeXml(`${fmt(r.value)} ${r.unit}${ratio}`)}</text>`,
        );
        y += ROW_H;
      }
    }
  }
  y += 20;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" ${FONT}>`,
    `<rect width="${WIDTH}" height="${y}" fill="#fff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
