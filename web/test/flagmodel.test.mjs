// The flag editors' pure helpers (web/src/flagmodel.ts): rollout percentages must add up to
// exactly 100% (weights out of 100000), clause values typed one per line become the JSON the
// api validates, and the operator list is the evaluator's (src/eval/model.h).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

const webSrc = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ev-flagmodel-'));
const out = path.join(tmp, 'flagmodel.mjs');
writeFileSync(out, (await esbuild.transform(readFileSync(path.join(webSrc, 'src/flagmodel.ts'), 'utf8'),
  { loader: 'ts', format: 'esm' })).code);
const m = await import(pathToFileURL(out).href);
rmSync(tmp, { recursive: true, force: true });

test('rollout percentages must add up to exactly 100%', () => {
  assert.equal(m.rolloutError(['50', '50']), undefined);
  assert.equal(m.rolloutError(['33.333', '33.333', '33.334']), undefined);
  assert.match(m.rolloutError(['50', '60']), /add up to 110%/);
  assert.match(m.rolloutError(['33.3', '33.3', '33.3']), /add up to 99.9%/);
  assert.match(m.rolloutError(['50', 'x']), /not a percentage/);
  assert.match(m.rolloutError(['0.0001', '99.9999']), /not a percentage/);
  assert.equal(m.percentToWeight('12.345'), 12345);
  assert.equal(m.weightToPercent(12345), '12.345');
});

test('clause values follow the operator', () => {
  assert.deepEqual(m.parseClauseValues('in', 'pro\n42\ntrue\n"7"\n\n'), { values: ['pro', 42, true, '7'] });
  assert.deepEqual(m.parseClauseValues('lt', '3\n2.5'), { values: [3, 2.5] });
  assert.match(m.parseClauseValues('gte', 'ten').error, /not a number/);
  assert.deepEqual(m.parseClauseValues('after', '2026-01-01T00:00:00Z\n1700000000000'),
    { values: ['2026-01-01T00:00:00Z', 1700000000000] });
  assert.deepEqual(m.parseClauseValues('starts_with', '42'), { values: ['42'] });
  assert.match(m.parseClauseValues('in', '  \n').error, /at least one value/);
  assert.equal(m.valuesToText(['a', 1, true]), 'a\n1\ntrue');
});

test('every operator of the evaluator is offered', () => {
  const model = readFileSync(path.join(webSrc, '../src/eval/model.cc'), 'utf8');
  for (const { op } of m.OPERATORS) assert.ok(model.includes(`"${op}"`), `${op} is not an evaluator operator`);
  assert.equal(m.OPERATORS.length, 15);
});
