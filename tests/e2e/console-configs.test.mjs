// The console's configs editors and item deletion in a real browser against a real
// `edgevault up`: a JSON Schema set on a `json` config (bad JSON caught in the browser before
// any request), a value that violates it refused by the api and shown inline at the value
// field with the failing place (/port) while nothing changes in the api, then a valid value;
// a flag another flag needs refused with the api's message, then a flag and a segment
// deleted after confirmation; axe-core finding no serious or critical violation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertAccessible as axe, consoleArgs, launchChromium, screenshot as shoot, watchPage } from './lib/browser.mjs';
import { EdgeVault } from './lib/edgevault.mjs';

const NEW_PASSWORD = 'console configs e2e password 1';

let ev, browser, page, origin;
const pageErrors = [];

before(async () => {
  ev = await EdgeVault.start({ extraArgs: consoleArgs() });
  origin = ev.url('console');
  browser = await launchChromium();
  page = await (await browser.newContext()).newPage();
  watchPage(page, pageErrors);
});

after(async () => {
  await browser?.close();
  await ev?.stop();
});

const screenshot = (name, focus) => shoot(page, name, focus);
const assertAccessible = (name) => axe(page, name);

const api = (method, target, body) => ev.call('api', method, target, { body, bearer: ev.adminKey });
async function ok(p) {
  const r = await p;
  assert.ok(r.status >= 200 && r.status < 300, `${r.status} ${r.text}`);
  return r;
}
const config = async () => (await ok(api('GET', '/v1/workspaces/shop/configs/limits'))).json;

test('configs: schema editor, inline schema violation, JSON value editor; deleting flags and segments', async () => {
  // Sign in (first start: replace the one-time password).
  await page.goto(origin + '/');
  await page.getByRole('heading', { level: 1, name: 'Sign in to EdgeVault' }).waitFor();
  await assertAccessible('login');
  await page.getByLabel('Email').fill(ev.ownerEmail);
  await page.getByLabel('Password', { exact: true }).fill(ev.ownerOneTimePassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Choose your password' }).waitFor();
  await assertAccessible('password change');
  await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
  await page.getByLabel('Confirm new password').fill(NEW_PASSWORD);
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.getByRole('heading', { level: 1, name: 'Workspaces' }).waitFor();
  await assertAccessible('workspaces');

  // The data through the api: a json config, two flags (checkout needs billing), a segment.
  await ok(api('POST', '/v1/workspaces', { key: 'shop', name: 'Shop' }));
  await ok(api('POST', '/v1/workspaces/shop/environments', { key: 'prod', name: 'Production', reason: 'setup' }));
  await ok(api('PUT', '/v1/workspaces/shop/configs/limits', { type: 'json', values: {}, reason: 'setup' }));
  await ok(api('PUT', '/v1/workspaces/shop/flags/billing', {
    variations: [{ value: false }, { value: true }],
    environments: { prod: { on: true, fallthrough: { variation: 1 } } },
    reason: 'setup',
  }));
  await ok(api('PUT', '/v1/workspaces/shop/flags/checkout', {
    variations: [{ value: false }, { value: true }],
    environments: { prod: { on: true, fallthrough: { variation: 1 }, prerequisites: [{ flag: 'billing', variation: 1 }] } },
    reason: 'setup',
  }));
  await ok(api('PUT', '/v1/workspaces/shop/segments/beta', { included: ['u-1'], excluded: [], rules: [], reason: 'setup' }));

  await page.goto(origin + '/workspaces/shop');
  await page.getByRole('heading', { name: 'Schema of a config' }).waitFor();

  // The schema: bad JSON is caught in the browser, nothing is sent.
  await page.locator('#schema-item').selectOption('limits');
  await page.locator('#schema-text').fill('{"type": "object",');
  await page.locator('#schema-text-hint').getByText('Not valid JSON').waitFor();
  await page.locator('#schema-reason').fill('e2e: limits schema');
  await page.getByRole('button', { name: 'Save schema' }).click();
  await page.locator('#schema-text-error').getByText('Not valid JSON').waitFor();
  assert.equal((await config()).schema, null, 'a schema that is not JSON was sent');
  // A keyword outside the subset: the api's refusal is shown at the schema field.
  await page.locator('#schema-text').fill('{"$ref": "#/x"}');
  await page.getByRole('button', { name: 'Save schema' }).click();
  await page.locator('#schema-text-error').getByText('unsupported keyword').waitFor();
  assert.equal((await config()).schema, null, 'an unsupported schema was stored');
  const schema = {
    type: 'object',
    properties: { port: { type: 'integer', minimum: 1, maximum: 65535 } },
    required: ['port'],
  };
  await page.locator('#schema-text').fill(JSON.stringify(schema, null, 2));
  await page.getByRole('button', { name: 'Save schema' }).click();
  await page.getByText('Schema of limits saved.').waitFor();
  assert.deepEqual((await config()).schema, schema);

  // A value that violates the schema: refused by the api, shown inline with its place.
  await page.locator('#set-item').selectOption('limits');
  await page.locator('#set-env').selectOption('prod');
  await page.locator('#set-value').fill('{"port": 70000');
  await page.locator('#set-value-syntax').getByText('Not valid JSON').waitFor();
  await page.locator('#set-value').fill('{"port": 70000}');
  await page.locator('#set-value-syntax').getByText('Valid JSON.').waitFor();
  await page.locator('#set-reason').fill('e2e: too big');
  await page.getByRole('button', { name: 'Set value' }).click();
  const violation = page.locator('#set-value-error');
  await violation.waitFor();
  assert.match(await violation.innerText(), /At \/port: 70000 is greater than the maximum 65535/);
  assert.equal(await page.locator('#set-value').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.locator('#set-value').getAttribute('aria-describedby'), 'set-value-error');
  assert.deepEqual((await config()).values, {}, 'a value violating the schema was stored');
  await screenshot('configs schema violation', violation);
  await assertAccessible('configs (schema violation)');

  // A valid value.
  await page.locator('#set-value').fill('{"port": 8080}');
  assert.equal(await violation.count(), 0, 'the violation stays after an edit');
  await page.getByRole('button', { name: 'Set value' }).click();
  await page.getByText('limits set in prod.').waitFor();
  assert.deepEqual((await config()).values, { prod: { port: 8080 } });
  await page.locator('td[data-env="prod"] code.value').getByText('{"port":8080}').waitFor();

  // A stricter schema the stored value would not match: refused, shown at the schema field.
  const stricter = { ...schema, properties: { port: { type: 'integer', maximum: 1024 } } };
  await page.locator('#schema-text').fill(JSON.stringify(stricter));
  await page.locator('#schema-reason').fill('e2e: stricter');
  await page.getByRole('button', { name: 'Save schema' }).click();
  await page.locator('#schema-text-error').getByText('8080 is greater than the maximum 1024').waitFor();
  assert.equal(await page.locator('#schema-text-error').innerText(),
    'The value in prod does not match at /port: 8080 is greater than the maximum 1024');
  assert.deepEqual((await config()).schema, schema, 'a schema the stored value violates was stored');

  // A value holding a credential: saved (the policy defaults to warn) with a banner naming
  // where and what, never the value (docs/secret-scanning.md).
  await page.locator('#set-value').fill('{"port": 8080, "db_password": "q7F!xR2m#Lp9vZ"}');
  await page.locator('#set-reason').fill('e2e: pasted a password');
  await page.getByRole('button', { name: 'Set value' }).click();
  const leak = page.getByRole('alert').filter({ hasText: 'looks like a credential' });
  await leak.waitFor();
  assert.match(await leak.innerText(), /limits at \/values\/prod\/db_password: high-entropy value/);
  assert.ok(!(await leak.innerText()).includes('q7F!'), 'the banner shows the value');
  await leak.getByRole('button', { name: 'Dismiss' }).click();
  assert.equal(await leak.count(), 0);

  // Flags: billing is checkout's prerequisite, so deleting it is refused and nothing changes.
  await page.goto(origin + '/workspaces/shop/flags');
  await page.getByRole('heading', { name: 'Delete a flag' }).waitFor();
  const delFlag = page.locator('form[aria-labelledby="del-flag-h"]');
  await page.locator('#del-flag-key').selectOption('billing');
  await page.locator('#del-flag-reason').fill('e2e: remove billing');
  await delFlag.getByRole('button', { name: 'Delete…' }).click();
  // The second step: nothing is sent until the confirmation.
  assert.equal((await api('GET', '/v1/workspaces/shop/flags/billing')).status, 200);
  await page.getByRole('button', { name: 'Delete billing' }).click();
  const refusal = page.locator('form[aria-labelledby="del-flag-h"] [role="alert"]');
  await refusal.getByText('would break others').waitFor();
  assert.equal((await api('GET', '/v1/workspaces/shop/flags/billing')).status, 200, 'a refused delete deleted');
  await assertAccessible('flags (delete refused)');
  // Cancel, then delete checkout.
  await delFlag.getByRole('button', { name: 'Cancel' }).click();
  await page.locator('#del-flag-key').selectOption('checkout');
  await delFlag.getByRole('button', { name: 'Delete…' }).click();
  await page.getByRole('button', { name: 'Delete checkout' }).click();
  await page.getByText('Flag checkout deleted.').waitFor();
  assert.equal((await api('GET', '/v1/workspaces/shop/flags/checkout')).status, 404);
  await page.locator('#del-flag-key option[value="checkout"]').waitFor({ state: 'detached' });

  // Segments: beta deleted after confirmation.
  await page.goto(origin + '/workspaces/shop/segments');
  await page.getByRole('heading', { name: 'Delete a segment' }).waitFor();
  const delSeg = page.locator('form[aria-labelledby="del-segment-h"]');
  await page.locator('#del-segment-key').selectOption('beta');
  await page.locator('#del-segment-reason').fill('e2e: remove beta');
  await delSeg.getByRole('button', { name: 'Delete…' }).click();
  await page.getByRole('button', { name: 'Delete beta' }).click();
  await page.getByText('Segment beta deleted.').waitFor();
  assert.equal((await api('GET', '/v1/workspaces/shop/segments/beta')).status, 404);
  await page.getByText('No segments yet').waitFor();
  await assertAccessible('segments (after delete)');

  assert.deepEqual(pageErrors, []);
});
