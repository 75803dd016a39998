// The insights chart's pure geometry (web/src/chart.ts): scales, paths and labels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

const webSrc = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ev-chart-'));
const out = path.join(tmp, 'chart.mjs');
writeFileSync(out, (await esbuild.transform(readFileSync(path.join(webSrc, 'src/chart.ts'), 'utf8'),
  { loader: 'ts', format: 'esm' })).code);
const m = await import(pathToFileURL(out).href);
rmSync(tmp, { recursive: true, force: true });

test('the y axis ends on a round number at or above the largest count', () => {
  assert.equal(m.niceMax(0), 1);
  assert.equal(m.niceMax(7), 10);
  assert.equal(m.niceMax(13), 20);
  assert.equal(m.niceMax(50), 50);
  assert.equal(m.niceMax(51), 100);
});

test('each series is one path over every bucket, scaled to the chart', () => {
  const buckets = ['2026-12-03T10:00:00Z', '2026-12-03T10:05:00Z', '2026-12-03T10:10:00Z'];
  const c = m.chartOf([{ label: 'on', counts: [0, 5, 10] }, { label: 'off', counts: [10, 0, 0] }], buckets, 300, 640, 220);
  assert.equal(c.lines.length, 2);
  assert.equal(c.lines[0].total, 15);
  // Left edge at x=48, bottom at y=192 (220 - 28), top at y=12; the right edge at 640 - 12.
  assert.equal(c.lines[0].path, 'M48,192 L338,102 L628,12');
  assert.equal(c.lines[1].path, 'M48,12 L338,192 L628,192');
  assert.notEqual(c.lines[0].color, c.lines[1].color);
  assert.deepEqual(c.yTicks.map((t) => t.label), ['0', '5', '10']);
  assert.deepEqual(c.xTicks.map((t) => t.label), ['10:00', '10:05', '10:10']);
  assert.equal(m.bucketLabel('2026-12-03T00:00:00Z', 86400), 'Dec 3');
});
