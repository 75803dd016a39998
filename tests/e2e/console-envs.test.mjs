// The workspace page's environment actions in Chromium against a real `edgevault up`: rename
// and protect/unprotect (and, issue 17, move and delete) from the environment tree, with the keyboard, each with a reason; a
// second browser showing the same workspace updates live; Escape closes the form and gives
// the focus back; History shows the change in words and reverts it; a developer's attempt
// is refused by the api with its message shown and nothing changed; axe-core finds no
// serious or critical violation with the form open.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertAccessible, consoleArgs, launchChromium, watchPage } from './lib/browser.mjs';
import { EdgeVault } from './lib/edgevault.mjs';

const OWNER_PASSWORD = 'envs e2e owner password 1';
const DEV_EMAIL = 'dev@envs.example';
const DEV_PASSWORD = 'envs e2e developer password 1';

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

async function api(method, target, body) {
  const r = await ev.call('api', method, target, { bearer: ev.adminKey, body });
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${target}: ${r.status} ${r.text}`);
  return r.json;
}

async function login(page, email, password) {
  await page.goto(origin + '/');
  await page.getByRole('heading', { level: 1, name: 'Sign in to EdgeVault' }).waitFor();
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Workspaces' }).waitFor();
}

// Presses Tab until `locator`'s element has the focus: it is reachable with the keyboard.
async function tabTo(p, locator, max = 60) {
  const handle = await locator.elementHandle();
  for (let i = 0; i < max; i++) {
    if (await p.evaluate((el) => document.activeElement === el, handle)) return;
    await p.keyboard.press('Tab');
  }
  assert.fail(`not reachable with Tab: ${locator}`);
}

const focusedId = (p) => p.evaluate(() => document.activeElement?.id);
const envRow = (p, key) => p.locator(`li[data-env="${key}"] > span.env`);
const envOf = async (key) => (await api('GET', '/v1/workspaces/shop/environments')).environments.find((e) => e.key === key);

test('environments: rename and protect from the tree, live elsewhere, refused for a developer', async () => {
  await ev.ownerSession(OWNER_PASSWORD);
  await api('POST', '/v1/workspaces', { key: 'shop', name: 'Shop' });
  await api('POST', '/v1/workspaces/shop/environments', { key: 'prod', name: 'Production', protected: true, reason: 'setup' });
  await api('POST', '/v1/workspaces/shop/environments', { key: 'staging', name: 'Staging', parent: 'prod', reason: 'setup' });
  await api('POST', '/v1/workspaces/shop/environments', { key: 'dev', name: 'Dev', parent: 'staging', reason: 'setup' });

  const context = await browser.newContext();
  const page = watchPage(await context.newPage(), pageErrors);
  await login(page, ev.ownerEmail, OWNER_PASSWORD);
  await page.goto(origin + '/workspaces/shop');
  await page.getByText('Live: changes made elsewhere appear here.').waitFor();
  // A second browser on the same workspace.
  const other = watchPage(await (await browser.newContext({ storageState: await context.storageState() })).newPage(), pageErrors);
  await other.goto(origin + '/workspaces/shop');
  await other.getByText('Live: changes made elsewhere appear here.').waitFor();
  assert.equal(await envRow(other, 'staging').locator('strong').innerText(), 'Staging');

  // Rename with the keyboard only: Tab to the button, Enter, type, Enter.
  await page.getByRole('heading', { level: 1, name: 'Shop' }).focus();
  await tabTo(page, page.getByRole('button', { name: 'Rename staging', exact: true }));
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Rename staging' }).waitFor();
  assert.equal(await focusedId(page), 'env-change-name');
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.type('Pre-production');
  await page.keyboard.press('Tab');
  assert.equal(await focusedId(page), 'env-change-reason');
  await page.keyboard.type('e2e: clearer name');
  await assertAccessible(page, 'workspace (rename form)');
  await page.keyboard.press('Enter');
  await page.getByText('staging is now called Pre-production.').waitFor();
  await page.waitForFunction(() => document.activeElement?.id === 'env-rename-staging');
  assert.equal((await envOf('staging')).name, 'Pre-production');
  await other.waitForFunction(() =>
    document.querySelector('li[data-env="staging"] > span.env strong')?.textContent === 'Pre-production');

  // Protect dev; the other browser shows the badge; the button becomes Unprotect.
  await page.getByRole('button', { name: 'Protect dev', exact: true }).click();
  await page.getByRole('heading', { name: 'Protect dev' }).waitFor();
  assert.equal(await focusedId(page), 'env-change-reason');
  await page.keyboard.type('e2e: freeze dev');
  await page.keyboard.press('Enter');
  await page.getByText('dev is protected: only admins may change its values.').waitFor();
  await envRow(other, 'dev').locator('.badge', { hasText: 'protected' }).waitFor();
  assert.equal((await envOf('dev')).protected, true);
  await page.getByRole('button', { name: 'Unprotect dev', exact: true }).waitFor();
  await page.waitForFunction(() => document.activeElement?.id === 'env-protection-dev');

  // Escape closes the form without a change and gives the focus back to its button.
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Unprotect dev' }).waitFor();
  await page.keyboard.press('Escape');
  await page.getByRole('heading', { name: 'Unprotect dev' }).waitFor({ state: 'detached' });
  // The focus goes back once the closed form has left the page (a task after the render).
  await page.waitForFunction(() => document.activeElement?.id === 'env-protection-dev');
  assert.equal(await focusedId(page), 'env-protection-dev');
  assert.equal((await envOf('dev')).protected, true);

  // Unprotect through the form; the other browser loses the badge.
  await page.getByRole('button', { name: 'Unprotect dev', exact: true }).click();
  await page.locator('#env-change-reason').fill('e2e: thaw dev');
  await page.getByRole('button', { name: 'Unprotect dev', exact: true }).last().click();
  await page.getByText('dev is no longer protected.').waitFor();
  await other.waitForFunction(() => !document.querySelector('li[data-env="dev"] > span.env .badge'));
  assert.equal((await envOf('dev')).protected, false);
  const revisions = (await api('GET', '/v1/workspaces/shop/revisions?after=3')).revisions;
  assert.deepEqual(revisions.map((r) => [r.kind, r.key, r.op, r.reason]), [
    ['environment', 'staging', 'update', 'e2e: clearer name'],
    ['environment', 'dev', 'update', 'e2e: freeze dev'],
    ['environment', 'dev', 'update', 'e2e: thaw dev'],
  ]);
  await other.context().close();

  // History lists the rename in words, and reverting it (revision 4) through its preview
  // gives staging its old name back.
  await page.goto(origin + '/workspaces/shop/history');
  const renameRev = page.locator('li.revision[data-seq="4"]');
  await renameRev.getByText('name: "Staging" → "Pre-production"').waitFor();
  await page.getByRole('button', { name: 'Revert revision 4…' }).click();
  const confirm = page.locator('section.confirm');
  await confirm.getByText('name: "Pre-production" → "Staging"').waitFor();
  await confirm.getByLabel('Reason').fill('e2e: old name back');
  await page.getByRole('button', { name: 'Confirm revert' }).click();
  await page.getByText('Revision 4 reverted (new revision 7).').waitFor();
  assert.equal((await envOf('staging')).name, 'Staging');

  // A developer sees the actions, but the api refuses them: the message is shown, nothing changes.
  const invited = await ev.auth('POST', '/v1/users', {
    bearer: ev.adminKey,
    body: { email: DEV_EMAIL, role: 'developer', password: DEV_PASSWORD },
  });
  assert.equal(invited.status, 201, invited.text);
  const devPage = watchPage(await (await browser.newContext()).newPage(), pageErrors);
  await login(devPage, DEV_EMAIL, DEV_PASSWORD);
  await devPage.goto(origin + '/workspaces/shop');
  await devPage.getByRole('button', { name: 'Unprotect prod', exact: true }).click();
  await devPage.locator('#env-change-reason').fill('e2e: let me in');
  await devPage.getByRole('button', { name: 'Unprotect prod', exact: true }).last().click();
  const refusal = devPage.locator('form[aria-labelledby="env-change-h"] [role="alert"]');
  await refusal.waitFor();
  assert.match(await refusal.innerText(), /admin role/);
  assert.equal((await envOf('prod')).protected, true);
  await devPage.context().close();

  assert.deepEqual(pageErrors, []);
  await context.close();
});

// Issue 17: move an environment under another parent (a cycle is refused with the api's
// message) and delete one, saying where its children go and revoking its SDK keys.
test('environments: move and delete from the tree', async () => {
  await api('POST', '/v1/workspaces', { key: 'tree', name: 'Tree' });
  for (const env of [{ key: 'base' }, { key: 'prod', parent: 'base' }, { key: 'qa', parent: 'prod' }, { key: 'other' }]) {
    await api('POST', '/v1/workspaces/tree/environments', { ...env, reason: 'setup' });
  }
  const envIn = async (key) => (await api('GET', '/v1/workspaces/tree/environments')).environments.find((e) => e.key === key);
  const context = await browser.newContext();
  const page = watchPage(await context.newPage(), pageErrors);
  await login(page, ev.ownerEmail, OWNER_PASSWORD);
  await page.goto(origin + '/workspaces/tree');
  await page.getByText('Live: changes made elsewhere appear here.').waitFor();

  // Move qa under other with the keyboard.
  await page.getByRole('button', { name: 'Move qa', exact: true }).click();
  await page.getByRole('heading', { name: 'Move qa' }).waitFor();
  assert.equal(await focusedId(page), 'env-change-parent');
  await page.locator('#env-change-parent').selectOption('other');
  await page.locator('#env-change-reason').fill('e2e: test on other');
  await page.keyboard.press('Enter');
  await page.getByText('qa now inherits from other.').waitFor();
  assert.equal((await envIn('qa')).parent, 'other');

  // A cycle: the api's refusal is shown, nothing changes.
  await page.getByRole('button', { name: 'Move base', exact: true }).click();
  await page.locator('#env-change-parent').selectOption('prod');
  await page.locator('#env-change-reason').fill('e2e: loop');
  await page.getByRole('button', { name: 'Move base', exact: true }).last().click();
  const refusal = page.locator('form[aria-labelledby="env-change-h"] [role="alert"]');
  await refusal.waitFor();
  assert.match(await refusal.innerText(), /cycle/);
  assert.equal((await envIn('base')).parent ?? null, null);
  await page.keyboard.press('Escape');

  // Delete base: an SDK key reads it and prod inherits from it.
  const minted = await ev.call('api', 'POST', '/v1/workspaces/tree/environments/base/sdk-keys', { bearer: ev.adminKey, body: {} });
  assert.equal(minted.status, 201, minted.text);
  await page.getByRole('button', { name: 'Delete base', exact: true }).click();
  await page.getByRole('heading', { name: 'Delete base' }).waitFor();
  await page.locator('#env-delete-children').waitFor();
  await page.locator('#env-change-reason').fill('e2e: retire base');
  await assertAccessible(page, 'workspace (delete environment form)');
  await page.getByRole('button', { name: 'Delete base', exact: true }).last().click();
  await refusal.waitFor();
  assert.match(await refusal.innerText(), /SDK key/);
  assert.ok(await envIn('base'));
  await page.locator('#env-delete-revoke').check();
  await page.getByRole('button', { name: 'Delete base', exact: true }).last().click();
  await page.getByText('base is deleted with every value set in it.').waitFor();
  assert.equal(await envIn('base'), undefined);
  assert.equal((await envIn('prod')).parent ?? null, null);  // its child became a root
  const keys = (await api('GET', '/v1/workspaces/tree/sdk-keys')).sdk_keys;
  assert.ok(keys.every((k) => k.revoked_at), JSON.stringify(keys));

  assert.deepEqual(pageErrors, []);
  await context.close();
});
