// Exporting and importing a workspace from the console (web/src/pages/workspace.tsx,
// "Export" and "Import") in Chromium against a real `edgevault up`: a viewer downloads the
// workspace as YAML and as JSON; the files are the api's GET …/export bytes (format
// edgevault.workspace/1), hold the environments, configs and flags, name the secret and
// never hold its value. The viewer's import is refused; an admin checks the YAML file
// against an empty workspace (the environments it would create), imports it, and the copy
// serves the same items. axe-core checks the page with the panels and the results.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { assertAccessible, screenshot } from './lib/browser.mjs';
import { consoleSession } from './lib/people.mjs';

const VIEWER = { email: 'viewer@export.example', password: 'export e2e viewer password 1', role: 'viewer' };
const ADMIN = { email: 'admin@export.example', password: 'export e2e admin password 1', role: 'admin' };
const SECRET = 'sk_live_export_e2e_never_in_a_file';

let session, ev, origin, p, pageErrors;

before(async () => {
  session = await consoleSession();
  ({ ev, origin, p, pageErrors } = session);
});

after(async () => {
  await session?.stop();
});

async function download(page, format) {
  await page.locator(`#export-${format}`).check();
  const [file] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download the export' }).click(),
  ]);
  await page.locator('[data-export] [role="status"]').getByText(`Saved shop.edgevault.${format}.`).waitFor();
  assert.equal(file.suggestedFilename(), `shop.edgevault.${format}`);
  return readFile(await file.path(), 'utf8');
}

test('a viewer downloads the workspace as YAML and JSON, secrets by name only; an admin imports it into another', async () => {
  await p.api('POST', '/v1/workspaces', { key: 'shop', name: 'Shop' });
  await p.api('POST', '/v1/workspaces/shop/environments', { key: 'prod', name: 'Production', protected: true, reason: 'setup' });
  await p.api('POST', '/v1/workspaces/shop/environments', { key: 'staging', name: 'Staging', parent: 'prod', reason: 'setup' });
  await p.api('PUT', '/v1/workspaces/shop/configs/db.pool', { type: 'integer', values: { prod: 50, staging: 5 }, reason: 'setup' });
  await p.api('PUT', '/v1/workspaces/shop/flags/checkout', {
    variations: [{ value: false }, { value: true }], environments: { prod: { on: true, fallthrough: { variation: 1 } } }, reason: 'setup',
  });
  await p.api('PUT', '/v1/workspaces/shop/secrets/stripe.key', { values: { prod: SECRET }, reason: 'setup' });
  await p.invite(VIEWER);
  await p.invite(ADMIN);
  const viewer = await p.login(VIEWER);
  await viewer.goto(origin + '/workspaces/shop');
  await viewer.getByRole('heading', { level: 2, name: 'Export' }).waitFor();
  await assertAccessible(viewer, 'workspace (export panel)');

  const yaml = await download(viewer, 'yaml');
  const api = await ev.call('api', 'GET', '/v1/workspaces/shop/export', { bearer: ev.adminKey });
  assert.equal(api.status, 200);
  assert.equal(yaml, api.text, 'the download is the api’s file');
  assert.match(yaml, /edgevault\.workspace\/1/);
  assert.ok(!yaml.includes(SECRET), 'a secret value in the export');

  const doc = JSON.parse(await download(viewer, 'json'));
  assert.equal(doc.format, 'edgevault.workspace/1');
  assert.deepEqual(doc.environments.map((e) => [e.key, e.parent ?? '']), [['prod', ''], ['staging', 'prod']]);
  assert.deepEqual(doc.configs['db.pool'].values, { prod: 50, staging: 5 });
  assert.equal(doc.flags.checkout.environments.prod.on, true);
  assert.deepEqual(doc.secrets['stripe.key'].environments, ['prod']);
  assert.ok(!JSON.stringify(doc).includes(SECRET));

  // Import the YAML into an empty workspace: a viewer may not; an admin checks, then imports.
  await p.api('POST', '/v1/workspaces', { key: 'copy', name: 'Copy' });
  const pick = (page) => page.locator('#import-file').setInputFiles({ name: 'shop.edgevault.yaml', mimeType: 'application/yaml', buffer: Buffer.from(yaml) });
  await viewer.goto(origin + '/workspaces/copy');
  await pick(viewer);
  await viewer.locator('#import-reason').fill('copy shop');
  await viewer.getByRole('button', { name: 'Import', exact: true }).click();
  await viewer.locator('[data-import] [role="alert"]').waitFor();
  assert.equal((await p.api('GET', '/v1/workspaces/copy')).environments.length, 0, 'a refused import wrote nothing');

  const admin = await p.login(ADMIN);
  await admin.goto(origin + '/workspaces/copy');
  await pick(admin);
  await admin.locator('#import-reason').fill('copy shop');
  await admin.getByRole('button', { name: 'Check (dry run)' }).click();
  const result = admin.locator('[data-import-result]');
  await result.waitFor();
  assert.equal(await result.getAttribute('data-import-result'), 'dry-run');
  assert.match(await result.innerText(), /Would create the environments prod, staging\./);
  assert.match(await result.innerText(), /Would import 2 items \(0 unchanged\)\./);  // checked with them, as one batch
  assert.equal((await p.api('GET', '/v1/workspaces/copy')).environments.length, 0, 'a dry run wrote nothing');
  await admin.getByRole('button', { name: 'Import', exact: true }).click();
  await admin.locator('[data-import-result="imported"]').waitFor();
  const text = await admin.locator('[data-import-result]').innerText();
  assert.match(text, /Created the environments prod, staging\./);
  assert.match(text, /Imported 2 items \(0 unchanged\)\./);
  assert.match(text, /Secrets named only .*stripe\.key/);
  await assertAccessible(admin, 'workspace (import done)');
  await screenshot(admin, 'workspace-import', admin.locator('[data-import]'));
  assert.deepEqual((await p.api('GET', '/v1/workspaces/copy/configs/db.pool')).values, { prod: 50, staging: 5 });
  assert.equal((await p.api('GET', '/v1/workspaces/copy/flags/checkout')).environments.prod.on, true);
  // The copy exports as the original but for its name and the secrets (named only).
  const copied = await ev.call('api', 'GET', '/v1/workspaces/copy/export?format=json', { bearer: ev.adminKey });
  const strip = ({ workspace, secrets, ...rest }) => rest;  // eslint-disable-line no-unused-vars
  assert.deepEqual(strip(JSON.parse(copied.text)), strip(doc));
  assert.deepEqual(pageErrors, []);
});
