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

test('proposed changes: whole items, deletions, and sealed secret values', () => {
  const groups = m.diffGroups([
    { kind: 'config', key: 'db.pool', environment: 'prod', before: 50, after: 80 },
    { kind: 'secret', key: 'stripe.key', environment: 'prod', value: { sealed: 'p1' } },
    { kind: 'secret', key: 'other.key', environment: 'prod', source: { proposed: true } },
    { kind: 'secret', key: 'gone.key', environment: 'prod', value: null },
    { kind: 'config', key: 'db.timeout', environment: '', before: null, after: { type: 'integer', values: { dev: 5 } } },
    { kind: 'segment', key: 'beta', environment: '', delete: true, before: { included: ['a'] }, after: null },
    { kind: 'flag', key: 'old', environment: '', before: { variations: [] }, after: null },
    { kind: 'secret', key: 'legacy', environment: '', delete: true },
  ]);
  assert.deepEqual(groups.map((g) => g.environment), ['prod', '']);
  assert.deepEqual(groups[0].rows.map((r) => r.after),
    ['80', 'new value (sealed, never shown)', 'new value (sealed, never shown)', '(no value)']);
  assert.deepEqual(groups[1].rows, [
    { kind: 'config', key: 'db.timeout', before: '(does not exist)', after: '{"type":"integer","values":{"dev":5}}' },
    { kind: 'segment', key: 'beta', before: '{"included":["a"]}', after: '(deleted)' },
    { kind: 'flag', key: 'old', before: '{"variations":[]}', after: '(deleted)' },
    { kind: 'secret', key: 'legacy', before: '(not shown)', after: '(deleted)' },
  ]);
  // No row ever prints a sealed reference or anything but the words above.
  assert.ok(!JSON.stringify(groups).includes('p1'));
});

test('type labels', () => {
  assert.equal(m.typeLabel({ type: 'change' }), 'Change');
  assert.equal(m.typeLabel({ type: 'promotion' }), 'Promotion');
  assert.equal(m.typeLabel({}), 'Promotion');
  assert.equal(m.typeLabel({ type: 'revert' }), 'Revert');
});

test('an edit becomes one per-environment entry when only one environment changed', () => {
  const before = { type: 'integer', values: { prod: 50, dev: 5 }, schema: { maximum: 100 } };
  assert.deepEqual(m.itemEntries('config', 'db.pool', before, { ...before, values: { prod: 80, dev: 5 }, reason: 'r' }),
    [{ kind: 'config', key: 'db.pool', environment: 'prod', value: 80 }]);
  // Removing the environment's value: null.
  assert.deepEqual(m.itemEntries('config', 'db.pool', before, { ...before, values: { dev: 5 } }),
    [{ kind: 'config', key: 'db.pool', environment: 'prod', value: null }]);
  // A shared part (the schema) or two environments changed: the whole body, without the reason.
  const schema = { ...before, schema: { maximum: 60 }, reason: 'r' };
  assert.deepEqual(m.itemEntries('config', 'db.pool', before, schema),
    [{ kind: 'config', key: 'db.pool', body: { type: 'integer', values: { prod: 50, dev: 5 }, schema: { maximum: 60 } } }]);
  assert.equal(m.itemEntries('config', 'db.pool', before, { ...before, values: { prod: 1, dev: 2 } })[0].body.values.dev, 2);
  const flag = { variations: [{ value: false }, { value: true }], environments: { prod: { on: false, fallthrough: { variation: 0 } } } };
  const on = { on: true, fallthrough: { variation: 0 } };
  assert.deepEqual(m.itemEntries('flag', 'checkout', flag, { ...flag, environments: { prod: on } }),
    [{ kind: 'flag', key: 'checkout', environment: 'prod', configuration: on }]);
  // Key order does not count as a change.
  assert.deepEqual(m.itemEntries('flag', 'checkout', flag, { environments: { prod: on }, variations: flag.variations }),
    [{ kind: 'flag', key: 'checkout', environment: 'prod', configuration: on }]);
  // A new item, or a segment (one definition for every environment): the body.
  assert.deepEqual(m.itemEntries('flag', 'new', undefined, flag), [{ kind: 'flag', key: 'new', body: flag }]);
  assert.deepEqual(m.itemEntries('segment', 'beta', { included: [] }, { included: ['a'] }),
    [{ kind: 'segment', key: 'beta', body: { included: ['a'] } }]);
});

test('proposal titles', () => {
  assert.equal(m.proposalTitle([{ kind: 'config', key: 'db.pool', environment: 'prod', value: 80 }]), 'Update config "db.pool" in prod');
  assert.equal(m.proposalTitle([{ kind: 'config', key: 'db.pool', environment: 'prod', value: null }]), 'Remove config "db.pool" in prod');
  assert.equal(m.proposalTitle([{ kind: 'flag', key: 'f', body: {} }], true), 'Create flag "f"');
  assert.equal(m.proposalTitle([{ kind: 'flag', key: 'f', body: {} }]), 'Update flag "f"');
  assert.equal(m.proposalTitle([{ kind: 'segment', key: 's', delete: true }]), 'Delete segment "s"');
  assert.equal(m.proposalTitle([{ kind: 'secret', key: 'k', environment: 'prod', value: 'x' }]), 'Set secret "k" in prod');
  assert.equal(m.proposalTitle([{ kind: 'secret', key: 'k', environment: 'prod', value: null }]), 'Remove secret "k" in prod');
});

test('schedule times: a local datetime-local value goes out as RFC 3339 UTC', () => {
  const local = m.toLocalInput(new Date(Date.UTC(2026, 2, 4, 5, 6, 7)));
  assert.match(local, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/);
  assert.equal(m.localInputToUtc(local), '2026-03-04T05:06:07Z');
  // Without seconds (what a browser sends when they are 0).
  assert.equal(m.localInputToUtc(local.slice(0, 16)), '2026-03-04T05:06:00Z');
  assert.equal(m.localInputToUtc(''), undefined);
  assert.equal(m.localInputToUtc('tomorrow'), undefined);
  assert.equal(m.formatUtc('2026-03-04T05:06:07Z'), '2026-03-04 05:06:07 UTC');
  assert.equal(m.formatUtc('not a time'), 'not a time');
});
