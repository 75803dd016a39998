// The configs page's pure helpers (web/src/model.ts): the api's schema violation message is
// split into the JSON Pointer of the failing part and what failed, and bad JSON is reported
// with its line and column before anything is sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

const webSrc = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ev-configmodel-'));
const out = path.join(tmp, 'model.mjs');
writeFileSync(out, (await esbuild.transform(readFileSync(path.join(webSrc, 'src/model.ts'), 'utf8'),
  { loader: 'ts', format: 'esm' })).code);
const m = await import(pathToFileURL(out).href);
rmSync(tmp, { recursive: true, force: true });

test('a schema violation names the failing place of the value', () => {
  assert.deepEqual(m.valueViolation('values.prod: /port: 70000 is greater than the maximum 65535', 'prod'),
    { pointer: '/port', message: '70000 is greater than the maximum 65535' });
  assert.deepEqual(m.valueViolation('values.prod: /hosts/1: expected string, got number', 'prod'),
    { pointer: '/hosts/1', message: 'expected string, got number' });
  // At the value's root the api gives no pointer.
  assert.deepEqual(m.valueViolation('values.prod: "abc" does not match the pattern "^[0-9]+$"', 'prod'),
    { message: '"abc" does not match the pattern "^[0-9]+$"' });
  // Environment keys may contain dots; another environment's or field's message is not this value's.
  assert.deepEqual(m.valueViolation('values.eu.prod: missing required property "port"', 'eu.prod'),
    { message: 'missing required property "port"' });
  assert.equal(m.valueViolation('values.dev: /a: too long', 'prod'), undefined);
  assert.equal(m.valueViolation('reason: must not be empty', 'prod'), undefined);
});

test('JSON syntax is checked in the browser with line and column', () => {
  assert.equal(m.jsonSyntax('{"port": 8080}'), undefined);
  assert.equal(m.jsonSyntax('42'), undefined);
  const e = m.jsonSyntax('{\n  "port": 80,\n}');
  assert.match(e, /^Not valid JSON/);
  assert.match(e, /line 3/);
  assert.match(m.jsonSyntax('{'), /^Not valid JSON/);
  assert.deepEqual(m.parseValue('json', '{"a": [1]}'), { value: { a: [1] } });
  assert.ok('error' in m.parseValue('json', '{a: 1}'));
});
