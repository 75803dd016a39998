// Proposing changes from the item editors (POST /v1/workspaces/{ws}/change-requests, type
// "change") in Chromium against a real `edgevault up`: an admin requires change requests
// for prod from the environment tree; a developer's save of a prod config is refused and the
// refusal's one click proposes it; the developer lands on the request, an admin (another
// browser) approves and schedules it a few seconds ahead and the page follows it to applied,
// with prod's new value. A secret proposed for prod is shown only as a sealed new value,
// a flag toggle as prod's configuration, a flag deletion (proposed from the delete form) as
// the whole item's removal. axe-core checks every new state.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertAccessible, consoleArgs, launchChromium, screenshot } from './lib/browser.mjs';
import { EdgeVault } from './lib/edgevault.mjs';
import { localInputIn, people, waitForState } from './lib/people.mjs';

const DEV = { email: 'dev@propose.example', password: 'propose e2e developer password 1', role: 'developer' };
const ADMIN = { email: 'admin@propose.example', password: 'propose e2e admin password 1', role: 'admin' };
const SECRET = 'sk_live_proposed_e2e_never_shown';

let ev, browser, origin, p;
const pageErrors = [];

before(async () => {
  ev = await EdgeVault.start({ extraArgs: consoleArgs() });
  origin = ev.url('console');
  browser = await launchChromium();
  p = people(ev, browser, pageErrors);
});

after(async () => {
  await browser?.close();
  await ev?.stop();
});

const changes = (page) => page.locator('section[aria-labelledby="changes-h"]');
const row = (page, env, item) => changes(page).locator(`[data-diff-env="${env}"] tr[data-item="${item}"] td`);

// Waits for a change request page whose title is `title`; answers its id.
async function requestPage(page, title) {
  const h = page.getByRole('heading', { level: 1, name: new RegExp(`^#\\d+ ${title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) });
  await h.waitFor();
  return Number(/^#(\d+)/.exec(await h.innerText())[1]);
}

test('a refused save proposed in one click, approved, scheduled and applied; secrets, toggles and deletions proposed', async () => {
  await p.api('POST', '/v1/workspaces', { key: 'shop', name: 'Shop' });
  await p.api('POST', '/v1/workspaces/shop/environments', { key: 'prod', name: 'Production', reason: 'setup' });
  await p.api('POST', '/v1/workspaces/shop/environments', { key: 'staging', name: 'Staging', parent: 'prod', reason: 'setup' });
  await p.api('PUT', '/v1/workspaces/shop/configs/db.pool', { type: 'integer', values: { prod: 50 }, reason: 'setup' });
  await p.api('PUT', '/v1/workspaces/shop/flags/checkout', {
    variations: [{ value: false }, { value: true }],
    environments: { prod: { on: true, fallthrough: { variation: 1 } } },
    reason: 'setup',
  });
  await p.invite(DEV);
  await p.invite(ADMIN);

  // The admin requires change requests for prod (1 approval) from the environment tree.
  const admin = await p.login(ADMIN);
  await admin.goto(origin + '/workspaces/shop');
  await admin.getByRole('button', { name: 'Policy of prod', exact: true }).click();
  await admin.locator('#env-policy-approvals').fill('1');
  await admin.getByLabel(/Change requests required/).check();
  await admin.locator('#env-change-reason').fill('e2e: review prod changes');
  await admin.getByRole('button', { name: 'Save policy' }).click();
  await admin.getByText("prod's policy is saved.").waitFor();

  // The developer's save of prod is refused; one click proposes it instead.
  const dev = await p.login(DEV);
  await dev.goto(origin + '/workspaces/shop');
  await dev.getByRole('button', { name: 'Set db.pool in prod' }).click();
  await dev.locator('[data-cr-only="prod"]').waitFor();
  await dev.locator('#set-value').fill('80');
  await dev.locator('#set-reason').fill('load test of 12 May');
  await dev.getByRole('button', { name: 'Set value' }).click();
  const refused = dev.locator('form[aria-labelledby="set-h"] [role="alert"][data-refused]');
  await refused.waitFor();
  assert.match(await refused.innerText(), /accepts changes only through change requests/);
  await refused.getByRole('button', { name: 'Propose as change request', exact: true }).click();
  const id = await requestPage(dev, 'Update config "db.pool" in prod');
  await dev.locator('[data-state="open"]').waitFor();
  assert.equal(await dev.locator('[data-cr-type]').innerText(), 'Change (proposed directly)');
  assert.deepEqual(await row(dev, 'prod', 'config:db.pool').allInnerTexts(), ['50', '80']);
  assert.equal(await dev.locator('p.description').innerText(), 'load test of 12 May');
  assert.equal(await dev.locator('[data-approvals]').innerText(), '0 of 1 (round 1)');
  assert.equal((await p.api('GET', '/v1/workspaces/shop/configs/db.pool')).values.prod, 50, 'proposing writes nothing');
  await assertAccessible(dev, 'change request (proposed)');
  await screenshot(dev, 'change-request-proposed', changes(dev));

  // The admin sees it listed as a change, approves it and schedules it a few seconds ahead.
  await admin.goto(origin + '/workspaces/shop/change-requests');
  assert.equal(await admin.locator(`tr[data-cr="${id}"] [data-cr-type]`).innerText(), 'Change');
  await admin.goto(origin + `/workspaces/shop/change-requests/${id}`);
  await admin.getByRole('button', { name: 'Approve' }).click();
  await admin.locator('[data-state="approved"]').waitFor();
  const schedule = admin.locator('section[aria-labelledby="schedule-h"]');
  await schedule.getByLabel('Apply at (your local time)').fill(await localInputIn(admin, 8));
  await schedule.getByRole('button', { name: 'Schedule' }).click();
  await admin.locator('[data-state="scheduled"]').waitFor();
  await admin.locator('[data-apply-at]').waitFor();
  // The developer's page follows it to applied too.
  await waitForState(admin, 'applied');
  await waitForState(dev, 'applied');
  assert.equal((await p.api('GET', '/v1/workspaces/shop/configs/db.pool')).values.prod, 80);
  await admin.goto(origin + '/workspaces/shop');
  assert.equal(await admin.locator('table.configs td[data-env="prod"] .value').innerText(), '80');

  // A secret for prod: refused, proposed; its value is sealed and never shown.
  await dev.goto(origin + '/workspaces/shop/secrets');
  await dev.getByLabel('Key', { exact: true }).fill('stripe.key');
  await dev.locator('#secret-env').selectOption('prod');
  await dev.locator('#secret-value').fill(SECRET);
  await dev.locator('#secret-reason').fill('rotate the key');
  await dev.getByRole('button', { name: 'Save secret' }).click();
  await dev.locator('[role="alert"][data-refused]').getByRole('button', { name: 'Propose as change request', exact: true }).click();
  await requestPage(dev, 'Set secret "stripe.key" in prod');
  assert.deepEqual(await row(dev, 'prod', 'secret:stripe.key').allInnerTexts(), ['(not shown)', 'new value (sealed, never shown)']);
  assert.ok(!(await dev.content()).includes(SECRET), 'the proposed secret value is never on the page');
  await dev.getByRole('button', { name: 'Close request' }).click();
  await dev.locator('[data-state="closed"]').waitFor();

  // A flag toggle in prod: refused, proposed as prod's configuration.
  await dev.goto(origin + '/workspaces/shop/flags');
  await dev.getByRole('button', { name: 'checkout in prod: on. Turn it off' }).click();
  await dev.locator('#toggle-reason').fill('incident');
  await dev.getByRole('button', { name: 'Turn off' }).click();
  await dev.locator('[role="alert"][data-refused]').getByRole('button', { name: 'Propose as change request', exact: true }).click();
  await requestPage(dev, 'Turn flag "checkout" off in prod');
  const [was, will] = await row(dev, 'prod', 'flag:checkout').allInnerTexts();
  assert.match(was, /"on":true/);
  assert.match(will, /"on":false/);

  // Deleting the flag, proposed from the delete form with a title of the developer's own.
  await dev.goto(origin + '/workspaces/shop/flags');
  await dev.locator('#del-flag-key').selectOption('checkout');
  await dev.locator('#del-flag-reason').fill('retired');
  await dev.getByRole('button', { name: 'Propose as change request…' }).click();
  await dev.waitForFunction(() => document.activeElement?.id === 'del-flag-propose-title');
  assert.equal(await dev.locator('#del-flag-propose-title').inputValue(), 'Delete flag "checkout"');
  await dev.locator('#del-flag-propose-title').fill('Retire checkout');
  await assertAccessible(dev, 'flags (proposal form)');
  await dev.getByRole('button', { name: 'Create change request' }).click();
  await requestPage(dev, 'Retire checkout');
  await changes(dev).getByRole('heading', { name: 'Whole item (every environment)' }).waitFor();
  assert.equal((await row(dev, 'whole item', 'flag:checkout').allInnerTexts())[1], '(deleted)');
  await assertAccessible(dev, 'change request (deletion)');
  assert.equal((await p.api('GET', '/v1/workspaces/shop/flags/checkout')).environments.prod.on, true, 'proposing writes nothing');

  assert.deepEqual(pageErrors, []);
});
