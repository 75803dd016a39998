// The console's web app in a real browser against a real `edgevault up`: Playwright drives
// Debian's Chromium through the console origin only (the BFF under /bff/). First login with
// the one-time password, the forced password change, a workspace, two environments (the
// child inherits), a config value set in the parent and shown as inherited in the child, a
// change made elsewhere arriving live, markup in user strings staying text, and axe-core
// finding no serious or critical violation on any page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertAccessible as axe, consoleArgs, launchChromium, screenshot, watchPage } from './lib/browser.mjs';
import { EdgeVault } from './lib/edgevault.mjs';

// The markup a careless renderer would turn into an element that runs code.
const XSS = '<img src=x onerror="window.__xss=1">';
const NEW_PASSWORD = 'console e2e password 1';

let ev, browser, page, origin;
const pageErrors = [];
const cspViolations = [];

before(async () => {
  ev = await EdgeVault.start({ extraArgs: consoleArgs() });
  origin = ev.url('console');
  browser = await launchChromium();
  page = await (await browser.newContext()).newPage();
  watchPage(page, pageErrors);
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });
});

after(async () => {
  await browser?.close();
  await ev?.stop();
});

// Every page the accessibility check visits is also a screenshot for docs/console.md.
async function assertAccessible(name) {
  await screenshot(page, name);
  await axe(page, name);
}

async function assertInert() {
  assert.equal(await page.locator('img').count(), 0, 'user markup became an <img> element');
  assert.equal(await page.evaluate(() => window.__xss), undefined, 'user markup ran code');
}

const heading = (name) => page.getByRole('heading', { level: 1, name });

test('the console: login, first-start password, workspace, inheritance, live updates, inert markup, accessibility', async () => {
  // Login page.
  await page.goto(origin + '/');
  await heading('Sign in to EdgeVault').waitFor();
  await assertAccessible('login');
  // A wrong password: the error is shown, nothing else happens.
  await page.getByLabel('Email').fill(ev.ownerEmail);
  await page.getByLabel('Password', { exact: true }).fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').waitFor();
  await page.getByLabel('Password', { exact: true }).fill(ev.ownerOneTimePassword);
  await page.getByRole('button', { name: 'Sign in' }).click();

  // First start: the one-time password must be replaced before anything else.
  await heading('Choose your password').waitFor();
  await assertAccessible('password change');
  await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
  await page.getByLabel('Confirm new password').fill(NEW_PASSWORD);
  await page.getByRole('button', { name: 'Change password' }).click();

  // Workspaces: empty state, then create one whose name carries markup.
  await heading('Workspaces').waitFor();
  await page.getByText('No workspaces yet').waitFor();
  await assertAccessible('workspaces');
  const wsName = `Shop ${XSS}`;
  await page.getByLabel('Key', { exact: true }).fill('shop');
  await page.getByLabel('Name (optional)').fill(wsName);
  await page.getByRole('button', { name: 'Create workspace' }).click();

  // The workspace page: the name is shown as text.
  await heading(wsName).waitFor();
  await page.waitForURL(origin + '/workspaces/shop');
  await page.getByText('No environments yet').waitFor();
  await assertInert();
  await assertAccessible('workspace (empty)');

  // Two environments: dev inherits from base.
  const createEnv = async (key, parent) => {
    await page.locator('#env-key').fill(key);
    await page.locator('#env-parent').selectOption(parent ?? '');
    await page.locator('#env-reason').fill(`e2e: ${key}`);
    await page.getByRole('button', { name: 'Create environment' }).click();
    await page.getByText(`Environment ${key} created.`).waitFor();
  };
  await createEnv('base');
  await createEnv('dev', 'base');
  const tree = page.getByRole('list', { name: 'Environments and what each inherits from' });
  // dev is drawn inside base's item: a nested list.
  await tree.locator('li li', { hasText: 'dev' }).waitFor();
  assert.match(await tree.locator('li li').first().innerText(), /inherits from\s+base/);

  // A config key with markup is refused by the api; its error is shown as text.
  await page.locator('#cfg-key').fill(XSS);
  await page.locator('#cfg-reason').fill('e2e: markup key');
  await page.getByRole('button', { name: 'Add config' }).click();
  await page.getByRole('alert').waitFor();
  await assertInert();

  // A real config, set in base only.
  await page.locator('#cfg-key').fill('greeting');
  await page.locator('#cfg-reason').fill('e2e: add greeting');
  await page.getByRole('button', { name: 'Add config' }).click();
  await page.getByRole('button', { name: 'Set greeting in base' }).click();
  const value = `hello ${XSS}`;
  await page.locator('#set-value').fill(value);
  await page.locator('#set-reason').fill('e2e: greet');
  await page.getByRole('button', { name: 'Set value' }).click();
  const cell = (env) => page.locator(`table.configs td[data-env="${env}"]`);
  await cell('base').getByText('set here').waitFor();
  await cell('dev').getByText('inherited from base').waitFor();
  assert.equal(await cell('dev').locator('.value').innerText(), value);
  assert.equal(await cell('base').locator('.value').innerText(), value);
  await assertInert();
  await assertAccessible('workspace (configs)');

  // A change made elsewhere (the api, with the bootstrap admin key) arrives live.
  const put = await ev.call('api', 'PUT', '/v1/workspaces/shop/configs/greeting', {
    bearer: ev.adminKey,
    body: { type: 'string', values: { base: value, dev: 'hi from the api' }, reason: 'e2e: live' },
  });
  assert.equal(put.status, 200, put.text);
  await cell('dev').getByText('set here').waitFor();
  assert.equal(await cell('dev').locator('.value').innerText(), 'hi from the api');

  // A reload keeps the session and the page (client-side route served as index.html).
  await page.reload();
  await heading(wsName).waitFor();
  await cell('dev').getByText('set here').waitFor();

  // Sign out: the session ends; the app asks to sign in again.
  await page.getByRole('link', { name: 'Sign out' }).click();
  await page.getByText('You are signed out.').waitFor();
  await assertAccessible('sign out');
  const r = await page.evaluate(async () => (await fetch('/bff/v1/session')).status);
  assert.equal(r, 401);
  await page.getByRole('button', { name: 'Sign in again' }).click();
  await heading('Sign in to EdgeVault').waitFor();

  await assertInert();
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(cspViolations, []);
});
