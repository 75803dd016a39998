// The change request pages' pure helpers (web/src/crmodel.ts): the navigation badge counts
// open requests someone else wrote, the diff is grouped per target environment with a
// secret's value never shown (only where it comes from), and the promotion form's body.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

const webSrc = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ev-crmodel-'));
const out = path.join(tmp, 'crmodel.mjs');
writeFileSync(out, (await esbuild.transform(readFileSync(path.join(webSrc, 'src/crmodel.ts'), 'utf8'),
  { loader: 'ts', format: 'esm' })).code);
const m = await import(pathToFileURL(out).href);
rmSync(tmp, { recursive: true, force: true });

test('the badge counts open requests the user did not write', () => {
  const list = [
    { id: 1, state: 'open', author: 'user:usr_me' },
    { id: 2, state: 'open', author: 'user:usr_other' },
    { id: 3, state: 'approved', author: 'user:usr_other' },
    { id: 4, state: 'open', author: 'key:key_1' },
    { id: 5, state: 'applied', author: 'user:usr_other' },
  ];
  assert.equal(m.reviewableCount(list, 'usr_me'), 2);
  assert.equal(m.reviewableCount(list, 'usr_other'), 2);
  assert.equal(m.reviewableCount([], 'usr_me'), 0);
});

test('approvals read "x of y"', () => {
  assert.equal(m.approvalsLabel({ approvals: ['user:a'], required_approvals: 2 }), '1 of 2');
  assert.equal(m.approvalsLabel({}), '0 of 0');
});

test('changes are grouped per environment; secrets name their source, never a value', () => {
  const groups = m.diffGroups([
    { kind: 'config', key: 'db.pool', environment: 'prod', expected_revision: 3, before: 50, after: 80 },
    { kind: 'config', key: 'greeting', environment: 'prod', expected_revision: 4, before: null, after: 'hi' },
    { kind: 'flag', key: 'checkout', environment: 'eu', expected_revision: 9, before: null, after: { on: true, fallthrough: { variation: 1 } } },
    { kind: 'secret', key: 'stripe.key', environment: 'prod', expected_revision: 7, source: { environment: 'staging', version: 5 } },
    { kind: 'secret', key: 'old.key', environment: 'prod', expected_revision: 8, source: { environment: 'prod', version: 2, before_revision: 12 } },
    { kind: 'secret', key: 'new.key', environment: 'prod', expected_revision: 8, remove: true },
  ]);
  assert.deepEqual(groups.map((g) => g.environment), ['prod', 'eu']);
  assert.deepEqual(groups[0].rows, [
    { kind: 'config', key: 'db.pool', before: '50', after: '80' },
    { kind: 'config', key: 'greeting', before: '(no value)', after: '"hi"' },
    { kind: 'secret', key: 'stripe.key', before: '(not shown)', after: 'value from staging' },
    { kind: 'secret', key: 'old.key', before: '(not shown)', after: 'value from prod as it was before revision 12' },
    { kind: 'secret', key: 'new.key', before: '(not shown)', after: '(no value)' },
  ]);
  // Key-sorted, so equal configurations print alike.
  assert.deepEqual(groups[1].rows, [
    { kind: 'flag', key: 'checkout', before: '(not configured)', after: '{"fallthrough":{"variation":1},"on":true}' },
  ]);
  assert.deepEqual(m.diffGroups(undefined), []);
});

test('the promotion body carries only what the form narrows', () => {
  const base = { from: 'staging', to: 'prod', kinds: ['config', 'flag', 'secret'], items: '', title: ' Ship ', description: '', dryRun: true };
  assert.deepEqual(m.promotionBody(base), { from: 'staging', to: 'prod', title: 'Ship', dry_run: true });
  assert.deepEqual(m.promotionBody({ ...base, kinds: ['config'], items: 'config:db.pool, checkout\n', description: ' why ', dryRun: false }), {
    from: 'staging', to: 'prod', title: 'Ship', description: 'why', kinds: ['config'],
    items: [{ kind: 'config', key: 'db.pool' }, { key: 'checkout' }],
  });
});
