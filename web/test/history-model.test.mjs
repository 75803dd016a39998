// The History page's pure model (web/src/history.ts): actor names, per-environment
// before/after with inheritance, secrets shown without values, revert and rollback previews.
// esbuild (the app's own bundler) strips the types; no browser needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/history.ts');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ev-history-'));
const out = path.join(tmp, 'history.mjs');
writeFileSync(out, (await esbuild.transform(readFileSync(src, 'utf8'), { loader: 'ts', format: 'esm' })).code);
const h = await import(pathToFileURL(out).href);
rmSync(tmp, { recursive: true, force: true });

const envs = [
  { key: 'prod', name: 'Production', protected: true },
  { key: 'staging', name: 'Staging', parent: 'prod' },
  { key: 'dev', name: 'Dev', parent: 'staging' },
];

test('actor ids become names; unknown ones stay ids', () => {
  const members = [{ user_id: 'usr_1', email: 'ann@example.com', display_name: 'Ann' }, { user_id: 'usr_2', email: 'bo@example.com' }];
  const keys = [{ id: 'key_1', name: 'ci', prefix: 'evk_ab12' }];
  assert.equal(h.actorName('user:usr_1', members, keys), 'Ann (ann@example.com)');
  assert.equal(h.actorName('user:usr_2', members, keys), 'bo@example.com');
  assert.equal(h.actorName('user:usr_9', members, keys), 'user:usr_9');
  assert.equal(h.actorName('key:key_1', members, keys), 'API key ci (evk_ab12…)');
  assert.equal(h.actorName('key:key_9', members, keys), 'API key key_9');
  assert.equal(h.actorName('system', members, keys), 'system');
});

test('a config change shows in every environment that serves it, inherited or not', () => {
  const before = { type: 'string', values: { prod: 'a', dev: 'd' } };
  const after = { type: 'string', values: { prod: 'b', dev: 'd' } };
  const c = h.envChanges('config', before, after, envs);
  assert.deepEqual(c.map((x) => x.environment), ['prod', 'staging']);  // dev overrides
  assert.equal(h.describeServed(c[1].before, 'staging'), 'a');
  assert.equal(h.describeServed(c[1].after, 'staging'), 'b');
  // Created: absent before.
  const created = h.envChanges('config', null, { type: 'string', values: { staging: 's' } }, envs);
  assert.deepEqual(created.map((x) => [x.environment, h.describeServed(x.before, x.environment)]), [['staging', 'not set'], ['dev', 'not set']]);
  // A description-only change changes no environment.
  assert.deepEqual(h.envChanges('config', { ...before, description: 'x' }, before, envs), []);
});

test('a secret change names environments and versions, never a value', () => {
  const c = h.envChanges('secret', { values: { prod: { version: 3 } } }, { values: { prod: { version: 7 } } }, envs);
  assert.deepEqual(c.map((x) => x.environment), ['prod', 'staging', 'dev']);
  assert.equal(h.describeServed(c[1].after, 'staging'), 'inherited from prod (version 7)');
  assert.equal(h.describeServed(c[0].after, 'prod'), 'a value (version 7)');
});

test('revert and rollback previews compare the current state with the restored one', () => {
  const revs = [
    { seq: 1, kind: 'config', key: 'g', op: 'create', before: null, after: { type: 'string', values: { prod: 'x' } } },
    { seq: 2, kind: 'config', key: 'g', op: 'update', before: { type: 'string', values: { prod: 'x' } }, after: { type: 'string', values: { prod: 'x', dev: 'one' } } },
    { seq: 3, kind: 'config', key: 'g', op: 'update', before: { type: 'string', values: { prod: 'x', dev: 'one' } }, after: { type: 'string', values: { prod: 'x', dev: 'two' } } },
    { seq: 4, kind: 'secret', key: 's', op: 'create', before: null, after: { values: { prod: { version: 4 } } } },
  ];
  const revert = h.revertPreview(revs[1], revs, envs);
  assert.deepEqual(revert.changes.map((x) => [x.environment, h.describeServed(x.before, x.environment), h.describeServed(x.after, x.environment)]),
    [['dev', 'two', 'x']]);
  const back = h.rollbackPreview(1, revs, envs);
  assert.deepEqual(back.map((i) => `${i.kind}/${i.key}`), ['config/g', 'secret/s']);
  assert.equal(back[1].after, null);  // the secret did not exist after revision 1
  assert.deepEqual(h.rollbackPreview(4, revs, envs), []);
});

test('environment revisions: their changes in words; a rollback restores settings, never creations', () => {
  const prod = { key: 'prod', name: 'Production', parent: null, protected: true };
  const qa = { key: 'qa', name: 'QA', parent: 'prod', protected: false };
  const revs = [
    { seq: 1, kind: 'environment', key: 'prod', op: 'create', before: null, after: prod },
    { seq: 2, kind: 'environment', key: 'prod', op: 'update', before: prod, after: { ...prod, name: 'Live', protected: false } },
    { seq: 3, kind: 'environment', key: 'qa', op: 'create', before: null, after: qa },
  ];
  assert.deepEqual(h.environmentChanges(revs[1].before, revs[1].after), ['name: "Production" → "Live"', 'protected: yes → no']);
  assert.deepEqual(h.environmentChanges(null, qa), ['created']);
  assert.deepEqual(h.environmentChanges(qa, qa), []);
  const back = h.rollbackPreview(1, revs, envs);
  assert.deepEqual(back.map((i) => `${i.kind}/${i.key}`), ['environment/prod']);  // qa is kept
  assert.deepEqual(h.environmentChanges(back[0].before, back[0].after), ['name: "Live" → "Production"', 'protected: no → yes']);
  const revert = h.revertPreview(revs[1], revs, envs);
  assert.deepEqual(h.environmentChanges(revert.before, revert.after), ['name: "Live" → "Production"', 'protected: no → yes']);
  // Reverting only a rename leaves a later change of protection alone.
  const more = [...revs,
    { seq: 4, kind: 'environment', key: 'qa', op: 'update', before: qa, after: { ...qa, name: 'Quality' } },
    { seq: 5, kind: 'environment', key: 'qa', op: 'update', before: { ...qa, name: 'Quality' }, after: { ...qa, name: 'Quality', protected: true } }];
  const rename = h.revertPreview(more[3], more, envs);
  assert.deepEqual(h.environmentChanges(rename.before, rename.after), ['name: "Quality" → "QA"']);
  assert.equal(rename.after.protected, true);
});
