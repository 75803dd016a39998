// The console's History, Secrets and SDK keys pages in Chromium against a real `edgevault up`:
// revisions attributed by name with per-environment before/after, revert and rollback after a
// preview and a confirmation, a secret inherited from a protected environment withheld from a
// developer (naming where it comes from) but revealed to the owner, an SDK key shown once and
// then refused by delivery once revoked, markup in a reason staying text, and axe-core finding
// no serious or critical violation on these pages. History is live: a second browser's write
// appears without a reload, and with a preview open the page says the preview is out of date
// instead of changing it; its confirm button then refreshes the preview.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertAccessible, consoleArgs, launchChromium, screenshot, watchPage } from './lib/browser.mjs';
import { EdgeVault } from './lib/edgevault.mjs';

const XSS = '<img src=x onerror="window.__xss=1">';
const OWNER_PASSWORD = 'history e2e owner password 1';
const DEV_EMAIL = 'dev@history.example';
const DEV_PASSWORD = 'history e2e developer password 1';
const PROD_SECRET = 'prod-secret-value-42';

let ev, browser, origin;
const pageErrors = [];

before(async () => {
  ev = await EdgeVault.start({ extraArgs: consoleArgs() });
  origin = ev.url('console');
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await ev?.stop();
});

async function newPage() {
  return watchPage(await (await browser.newContext()).newPage(), pageErrors);
}

async function assertInert(page) {
  assert.equal(await page.locator('img').count(), 0, 'user markup became an <img> element');
  assert.equal(await page.evaluate(() => window.__xss), undefined, 'user markup ran code');
}

async function login(page, email, password) {
  await page.goto(origin + '/');
  await page.getByRole('heading', { level: 1, name: 'Sign in to EdgeVault' }).waitFor();
  await assertAccessible(page, 'login');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Workspaces' }).waitFor();
  await assertAccessible(page, 'workspaces');
}

async function api(method, target, body) {
  const r = await ev.call('api', method, target, { bearer: ev.adminKey, body });
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${target}: ${r.status} ${r.text}`);
  return r.json;
}

test('history, secrets and SDK keys pages', async () => {
  // The owner replaces the one-time password (through auth), then signs in to the console.
  await ev.ownerSession(OWNER_PASSWORD);
  const page = await newPage();
  await login(page, ev.ownerEmail, OWNER_PASSWORD);

  // A workspace with protected prod and staging inheriting from it, a prod secret and a
  // config: written with the bootstrap admin key.
  await api('POST', '/v1/workspaces', { key: 'hist', name: 'History shop' });
  await api('POST', '/v1/workspaces/hist/environments', { key: 'prod', name: 'Production', protected: true, reason: 'e2e' });
  await api('POST', '/v1/workspaces/hist/environments', { key: 'staging', name: 'Staging', parent: 'prod', reason: 'e2e' });
  await api('PUT', '/v1/workspaces/hist/secrets/db.password', { values: { prod: PROD_SECRET }, reason: 'e2e: prod secret' });
  const created = await api('PUT', '/v1/workspaces/hist/configs/greeting', { type: 'string', values: { prod: 'hello' }, reason: 'e2e: greeting' });
  const base = created.workspace_revision;

  // The owner sets staging's greeting twice in the console; the first reason carries markup.
  await page.goto(origin + '/workspaces/hist');
  await page.getByRole('heading', { level: 1, name: 'History shop' }).waitFor();
  await assertAccessible(page, 'workspace');
  const setGreeting = async (value, reason, on = page) => {
    await on.getByRole('button', { name: 'Set greeting in staging' }).click();
    await on.locator('#set-value').fill(value);
    await on.locator('#set-reason').fill(reason);
    await on.getByRole('button', { name: 'Set value' }).click();
    await on.getByText('greeting set in staging.').waitFor();
    await on.locator('table.configs td[data-env="staging"] .value', { hasText: value }).waitFor();
  };
  await setGreeting('one', `first ${XSS}`);
  await setGreeting('two', 'second');

  // History, from the main menu: both revisions by the owner, newest first, with the diff.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'History' }).click();
  await page.waitForURL(origin + '/workspaces/hist/history');
  await page.getByRole('heading', { level: 1, name: 'History of History shop' }).waitFor();
  const rev = (n) => page.locator(`li.revision[data-seq="${n}"]`);
  await rev(base + 2).waitFor();
  for (const n of [base + 1, base + 2]) {
    assert.match(await rev(n).locator('.actor').innerText(), new RegExp(ev.ownerEmail.replace(/[.+]/g, '\\$&')));
  }
  assert.equal(await rev(base + 1).locator('.reason').innerText(), `first ${XSS}`);
  assert.equal(await rev(base + 2).locator('td.before').innerText(), 'one');
  assert.equal(await rev(base + 2).locator('td.after').innerText(), 'two');
  assert.equal(await rev(base + 2).locator('tr[data-env]').getAttribute('data-env'), 'staging');
  // The key-written revisions name the key; the secret's revision shows no value.
  assert.match(await rev(base).locator('.actor').innerText(), /^API key /);
  assert.match(await rev(base - 1).innerText(), /Secret value changed/);
  assert.ok(!(await page.content()).includes(PROD_SECRET), 'a secret value appeared in the history');
  const order = await page.locator('li.revision').evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
  assert.deepEqual(order.slice(0, 2), [base + 2, base + 1]);
  await assertInert(page);
  await assertAccessible(page, 'history');

  // Revert the latest: the preview says staging goes from two back to one.
  await page.getByRole('button', { name: `Revert revision ${base + 2}` }).click();
  const confirm = page.locator('section.confirm');
  await confirm.getByRole('heading', { name: `Preview: Revert revision ${base + 2}` }).waitFor();
  assert.equal(await confirm.locator('tr[data-env="staging"] td.before').innerText(), 'two');
  assert.equal(await confirm.locator('tr[data-env="staging"] td.after').innerText(), 'one');
  await screenshot(page, 'history preview', confirm);
  await assertAccessible(page, 'history (revert preview)');
  await confirm.getByLabel('Reason').fill('e2e: undo second');
  await page.getByRole('button', { name: 'Confirm revert' }).click();
  await page.getByText(`Revision ${base + 2} reverted (new revision ${base + 3}).`).waitFor();
  await rev(base + 3).waitFor();
  assert.match(await rev(base + 3).locator('.rev-title').innerText(), /revert config greeting/);
  assert.equal(await rev(base + 3).locator('td.after').innerText(), 'one');

  // Roll back to the revision that created the config: staging's own value goes away.
  await page.getByRole('button', { name: `Roll back to revision ${base}` }).click();
  await confirm.getByRole('heading', { name: `Preview: Roll back to revision ${base}` }).waitFor();
  assert.equal(await confirm.locator('tr[data-env="staging"] td.before').innerText(), 'one');
  assert.equal(await confirm.locator('tr[data-env="staging"] td.after').innerText(), 'hello');
  assert.equal(await confirm.locator('tr[data-env="prod"]').count(), 0, 'prod does not change');
  await confirm.getByLabel('Reason').fill('e2e: back to the start');
  await page.getByRole('button', { name: 'Confirm rollback' }).click();
  await page.getByText(`Rolled back to revision ${base}: 1 revision(s) written (head ${base + 4}).`).waitFor();
  const cfg = await api('GET', '/v1/workspaces/hist/configs/greeting');
  assert.deepEqual(cfg.values, { prod: 'hello' });

  // Live: the owner in a second browser sets staging's greeting on the workspace page; the
  // first browser's History shows the new revision without a reload. The second browser
  // gets no events (its event stream is blocked), so it can go stale later.
  const other = await newPage();
  await other.route('**/events', (route) => route.abort());
  await login(other, ev.ownerEmail, OWNER_PASSWORD);
  await other.goto(origin + '/workspaces/hist');
  await other.getByRole('heading', { level: 1, name: 'History shop' }).waitFor();
  await page.getByText('Live: changes made elsewhere appear here.').waitFor();
  await setGreeting('live', 'e2e: from elsewhere', other);
  await rev(base + 5).waitFor();
  assert.equal(await rev(base + 5).locator('td.after').innerText(), 'live');

  // With a preview open, another write does not change the page under the user: the preview
  // says it is out of date, and its button refreshes it instead of writing.
  await page.getByRole('button', { name: `Revert revision ${base + 5}` }).click();
  await confirm.getByRole('heading', { name: `Preview: Revert revision ${base + 5}` }).waitFor();
  assert.equal(await confirm.locator('tr[data-env="staging"] td.before').innerText(), 'live');
  await confirm.getByLabel('Reason').fill('e2e: undo the live one');
  await setGreeting('meanwhile', 'e2e: meanwhile', other);
  await confirm.getByText('1 new revision; the preview is out of date.').waitFor();
  assert.equal(await rev(base + 6).count(), 0, 'the list changed while a preview was open');
  assert.equal(await confirm.locator('tr[data-env="staging"] td.before').innerText(), 'live');
  await assertAccessible(page, 'history (preview out of date)');
  await confirm.getByRole('button', { name: 'Refresh the preview' }).click();
  await confirm.getByText('The preview shows the current state').waitFor();
  assert.equal(await confirm.locator('tr[data-env="staging"] td.before').innerText(), 'meanwhile');
  assert.equal(await confirm.locator('tr[data-env="staging"] td.after').innerText(), 'hello');
  await rev(base + 6).waitFor();
  assert.equal(await confirm.getByLabel('Reason').inputValue(), 'e2e: undo the live one');
  await page.getByRole('button', { name: 'Confirm revert' }).click();
  await page.getByText(`Revision ${base + 5} reverted (new revision ${base + 7}).`).waitFor();
  assert.deepEqual((await api('GET', '/v1/workspaces/hist/configs/greeting')).values, { prod: 'hello' });

  // Without live updates (the second browser), a write meanwhile makes the confirmation a
  // 412 with a clear message, and the preview is recomputed.
  await other.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'History' }).click();
  await other.getByText('Live updates are not connected.').waitFor();
  await assertAccessible(other, 'history (not live)');
  await other.getByRole('button', { name: `Revert revision ${base + 7}` }).click();
  const otherConfirm = other.locator('section.confirm');
  await otherConfirm.locator('tr[data-env="staging"]').waitFor();
  await api('PUT', '/v1/workspaces/hist/configs/greeting', { type: 'string', values: { prod: 'hello', staging: 'race' }, reason: 'e2e: race' });
  await otherConfirm.getByLabel('Reason').fill('e2e: stale');
  await other.getByRole('button', { name: 'Confirm revert' }).click();
  await otherConfirm.getByText('The workspace changed since this preview was made.').waitFor();
  await otherConfirm.locator('tr[data-env="staging"] td.before', { hasText: 'race' }).waitFor();
  await other.getByRole('button', { name: 'Cancel' }).click();
  await other.context().close();

  // A developer: staging's secret is inherited from protected prod, so it is withheld, and
  // the page names prod as where it comes from.
  const invited = await ev.auth('POST', '/v1/users', {
    bearer: ev.adminKey,
    body: { email: DEV_EMAIL, role: 'developer', password: DEV_PASSWORD, display_name: 'Dana Developer' },
  });
  assert.equal(invited.status, 201, invited.text);
  const devPage = await newPage();
  await login(devPage, DEV_EMAIL, DEV_PASSWORD);
  await devPage.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Secrets' }).click();
  await devPage.getByRole('link', { name: 'History shop' }).click();
  await devPage.getByRole('heading', { level: 1, name: 'Secrets of History shop' }).waitFor();
  const devCell = devPage.locator('table.secrets tr', { hasText: 'db.password' }).locator('td[data-env="staging"]');
  await devCell.getByText('inherited from prod').waitFor();
  await devPage.getByRole('button', { name: 'Reveal staging' }).click();
  await devCell.locator('.withheld').waitFor();
  assert.match(await devCell.locator('.withheld').innerText(), /comes from prod/);
  assert.ok(!(await devPage.content()).includes(PROD_SECRET));
  // In prod itself the value is withheld too (it is set in a protected environment).
  await devPage.getByRole('button', { name: 'Reveal prod' }).click();
  const devProd = devPage.locator('table.secrets tr', { hasText: 'db.password' }).locator('td[data-env="prod"]');
  await devProd.locator('.withheld').waitFor();
  assert.ok(!(await devPage.content()).includes(PROD_SECRET));
  await assertAccessible(devPage, 'secrets (developer)');

  // Reverting a change to protected prod is the api's 403, shown with its reason.
  await devPage.getByRole('navigation', { name: 'Workspace sections' }).getByRole('link', { name: 'History' }).click();
  await devPage.getByRole('button', { name: `Revert revision ${base}…` }).click();
  const devConfirm = devPage.locator('section.confirm');
  await devConfirm.locator('tr[data-env="prod"]').waitFor();
  await devConfirm.getByLabel('Reason').fill('e2e: not allowed');
  await devPage.getByRole('button', { name: 'Confirm revert' }).click();
  await devConfirm.getByRole('alert').getByText(/^Not allowed: /).waitFor();
  await assertAccessible(devPage, 'history (developer, refused)');
  assert.equal((await api('GET', '/v1/workspaces/hist/configs/greeting')).values.prod, 'hello');

  // The owner may reveal it, and sets a secret of their own in staging.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Secrets' }).click();
  await page.getByRole('heading', { level: 1, name: 'Secrets of History shop' }).waitFor();
  const ownerCell = page.locator('table.secrets tr', { hasText: 'db.password' }).locator('td[data-env="staging"]');
  assert.equal(await ownerCell.locator('.masked').count(), 1);
  await page.getByRole('button', { name: 'Reveal staging' }).click();
  await ownerCell.locator('.revealed', { hasText: PROD_SECRET }).waitFor();
  // The reveal was the api's audited read: the workspace's activity records it (keys only).
  const activity = await api('GET', '/v1/workspaces/hist/activity?limit=1000');
  const reads = activity.activity.filter((a) => a.type === 'event' && a.action === 'workspace.secret.read');
  assert.ok(reads.length >= 1, JSON.stringify(activity.activity.filter((a) => a.type === 'event')));
  assert.ok(!JSON.stringify(activity).includes(PROD_SECRET));
  await page.getByRole('button', { name: 'Hide staging' }).click();
  await ownerCell.locator('.masked').waitFor();
  await page.locator('#secret-key').fill('api.token');
  await page.locator('#secret-env').selectOption('staging');
  await page.locator('#secret-value').fill('staging-token');
  await page.locator('#secret-reason').fill(`e2e: token ${XSS}`);
  await page.getByRole('button', { name: 'Save secret' }).click();
  await page.getByText('api.token set in staging.').waitFor();
  await page.locator('table.secrets tr', { hasText: 'api.token' }).locator('td[data-env="staging"]').getByText('set here').waitFor();
  await assertInert(page);
  await screenshot(page, 'secrets');
  await assertAccessible(page, 'secrets (owner)');

  // SDK keys: create one for staging; it is shown once, then only its prefix.
  await page.getByRole('navigation', { name: 'Workspace sections' }).getByRole('link', { name: 'SDK keys' }).click();
  await page.getByRole('heading', { level: 1, name: 'SDK keys of History shop' }).waitFor();
  await page.getByText('No SDK keys for staging.').waitFor();
  await assertAccessible(page, 'SDK keys (empty)');
  await page.locator('#key-env').selectOption('staging');
  await page.locator('#key-name').fill('web app');
  await page.getByRole('button', { name: 'Create SDK key' }).click();
  await page.getByText('Copy this key now: it is shown only once.').waitFor();
  const key = await page.locator('#once-key').inputValue();
  assert.match(key, /^evs_/);
  await assertAccessible(page, 'SDK keys (new key)');
  await page.getByRole('button', { name: 'I have copied it' }).click();
  const row = page.locator('section[data-env="staging"] tr', { hasText: 'web app' });
  await row.waitFor();
  const prefix = (await row.locator('.prefix').innerText()).replace(/…$/, '');
  assert.ok(prefix.length > 0 && key.startsWith(prefix), `prefix ${prefix} of ${key}`);
  assert.ok(!(await page.content()).includes(key), 'the key is still on the page after closing');
  await screenshot(page, 'sdk keys');
  await assertAccessible(page, 'SDK keys');

  // Delivery serves the key until it is revoked, then refuses it.
  const deliver = () => ev.call('delivery', 'GET', '/v1/config', { bearer: key });
  const deadline = Date.now() + 30000;
  let served = await deliver();
  while (served.status !== 200 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    served = await deliver();
  }
  assert.equal(served.status, 200, served.text);
  await row.getByRole('button', { name: 'Revoke web app' }).click();
  await row.getByRole('button', { name: 'Revoke web app now' }).click();
  await row.getByText(/^Revoked/).waitFor();
  assert.equal((await deliver()).status, 401);
  await assertAccessible(page, 'SDK keys (revoked)');

  // A client key (issue 19): kind "client" with its browser origins, shown as such.
  await page.locator('#key-env').selectOption('staging');
  await page.locator('#key-name').fill('browser');
  await page.locator('#key-kind').selectOption('client');
  await page.locator('#key-origins').fill('https://App.example:443\nhttp://127.0.0.1:5173');
  await page.getByRole('button', { name: 'Create SDK key' }).click();
  await page.getByText('Copy this key now: it is shown only once.').waitFor();
  assert.match(await page.locator('#once-key').inputValue(), /^evc_/);
  await page.getByRole('button', { name: 'I have copied it' }).click();
  const clientRow = page.locator('section[data-env="staging"] tr', { hasText: 'browser' });
  await clientRow.waitFor();
  const kindCell = await clientRow.locator('td').first().innerText();
  assert.match(kindCell, /Client/);
  assert.match(kindCell, /https:\/\/app\.example/);  // normalised
  assert.match(kindCell, /http:\/\/127\.0\.0\.1:5173/);
  await assertAccessible(page, 'SDK keys (client key)');

  assert.deepEqual(pageErrors, []);
});
