/**
 * The outputs of `npm run bench`: the plain-text tables, the JSON file and the SVG chart
 * (bench/report.ts, bench/chart.ts). Shapes only: no timing is ever asserted.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { XMLValidator } from 'fast-xml-parser';
import { escapeXml, renderChart } from '../../bench/chart.js';
import { formatProcessTable, formatTable, writeResultsJson, type SuiteRows } from '../../bench/report.js';
import { tmpDir } from '../helpers/tmp.js';

const SUITES: SuiteRows[] = [
  {
    suite: 'large',
    seconds: 12.5,
    rows: [
      { scenario: '1 GiB x 1: PUT (c=1)', system: 'dht2 gateway', value: 120.4, unit: 'MB/s', ratio: 0.3, peakRssMiB: 150.2, note: 'gateway RSS +6.1 MiB (limit 64): ok' },
      { scenario: '1 GiB x 1: PUT (c=1)', system: 'local file', value: 401, unit: 'MB/s' },
      { scenario: 'first page <of> 1000 & more', system: 's3rver [2 errors]', value: 12.25, unit: 'ms', ratio: 3 },
    ],
    processes: [{ process: 'gateway', pid: 10, peakRssMiB: 160.4 }, { process: 'brick mds0', pid: 11, peakRssMiB: 99 }],
  },
  { suite: 'fs', rows: [], processes: [] },
];

describe('bench report and chart', () => {
  it('prints a note column only when some row has a note, and every row on its own line', () => {
    const table = formatTable(SUITES);
    const lines = table.split('\n');
    assert.match(lines[0]!, /\bnote$/);
    assert.ok(lines.some((l) => l.includes('1 GiB x 1: PUT (c=1)') && l.includes('dht2 gateway') && l.endsWith('gateway RSS +6.1 MiB (limit 64): ok')));
    assert.ok(lines.some((l) => l.includes('0.30x')));
    const without = formatTable([{ suite: 's', rows: [{ scenario: 'x', system: 'y', value: 1, unit: 'ops/s' }] }]);
    assert.doesNotMatch(without.split('\n')[0]!, /note/);
  });

  it('lists every process with its peak per suite', () => {
    const t = formatProcessTable(SUITES);
    assert.match(t, /^large\s+gateway 160\.4, brick mds0 99\.0$/m);
    assert.match(t, /^fs\s+\(no server process\)$/m);
  });

  it('writes the suites, the machine and the extra fields to results-<time>.json', async () => {
    const dir = await tmpDir('dht2-bench-report');
    try {
      const path = await writeResultsJson(dir.path, SUITES, new Date('2026-01-02T03:04:05.678Z'), { wallSeconds: 12.5 });
      assert.equal(path, `${dir.path}/results-2026-01-02T03-04-05-678Z.json`);
      const doc = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
      assert.equal(doc.startedAt, '2026-01-02T03:04:05.678Z');
      assert.equal(doc.wallSeconds, 12.5);
      assert.equal(typeof doc.cpus, 'number');
      assert.deepEqual(doc.suites, JSON.parse(JSON.stringify(SUITES)));
    } finally {
      await dir.cleanup();
    }
  });

  it('draws a well-formed SVG with one bar per row, a legend entry per system and escaped text', () => {
    const svg = renderChart(SUITES, 'bench <test> & "chart"');
    assert.equal(XMLValidator.validate(svg), true);
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.ok(svg.includes('first page &lt;of&gt; 1000 &amp; more'));
    assert.ok(svg.includes('bench &lt;test&gt; &amp; &quot;chart&quot;'));
    assert.ok(svg.includes('lower is better'));
    // 3 bars + 3 legend swatches ("s3rver [2 errors]" shares the colour of a system named "s3rver") + the background.
    assert.equal(svg.match(/<rect /g)!.length, 3 + 3 + 1);
    const widths = [...svg.matchAll(/<rect x="\d+" y="\d+" width="([\d.]+)" height="12"/g)].map((m) => Number(m[1]));
    assert.ok(widths.includes(520), 'the largest value of a scenario gets the full bar');
  });

  it('escapes the five XML special characters', () => {
    assert.equal(escapeXml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;');
  });
});
