// Change requests, promotions, environment policies and webhooks in Chromium against a real
// `edgevault up`: an admin sets prod's policy (1 approval, change requests required) from the
// environment tree; a developer promotes staging → prod through the preview (a secret shown
// only as "value from staging") and is refused approving their own request; an admin in a
// second browser sees the review badge, approves and applies; the configs page then shows
// the promoted value, and a direct edit of prod is refused with change_request_required; a
// webhook is added (its secret shown once) and listed. axe-core checks every new page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertAccessible, consoleArgs, launchChromium, screenshot, watchPage } from './lib/browser.mjs';
import { EdgeVault } from './lib/edgevault.mjs';

const DEV = { email: 'dev@promo.example', password: 'promo e2e developer password 1', role: 'developer' };
const ADMIN = { email: 'admin@promo.example', password: 'promo e2e admin password 1', role: 'admin' };

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

async function invite(u) {
  const r = await ev.auth('POST', '/v1/users', { bearer: ev.adminKey, body: { email: u.email, role: u.role, password: u.password } });
  assert.equal(r.status, 201, r.text);
}

async function login(u) {
  const page = watchPage(await (await browser.newContext()).newPage(), pageErrors);
  await page.goto(origin + '/');
  await page.getByRole('heading', { level: 1, name: 'Sign in to EdgeVault' }).waitFor();
  await page.getByLabel('Email').fill(u.email);
  await page.getByLabel('Password', { exact: true }).fill(u.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Workspaces' }).waitFor();
  return page;
}

const cell = (p, env) => p.locator(`table.configs td[data-env="${env}"]`);

test('promotion staging → prod through review, policy, badge, apply; webhooks', async () => {
  await api('POST', '/v1/workspaces', { key: 'shop', name: 'Shop' });
  await api('POST', '/v1/workspaces/shop/environments', { key: 'prod', name: 'Production', reason: 'setup' });
  await api('POST', '/v1/workspaces/shop/environments', { key: 'staging', name: 'Staging', parent: 'prod', reason: 'setup' });
  await api('PUT', '/v1/workspaces/shop/configs/greeting',
    { type: 'string', values: { prod: 'hello v1', staging: 'hello v2' }, reason: 'setup' });
  const SECRET = 'sk_staging_e2e_do_not_show';
  await api('PUT', '/v1/workspaces/shop/secrets/stripe.key', { values: { staging: SECRET }, reason: 'setup' });
  await invite(DEV);
  await invite(ADMIN);

  // The admin sets prod's policy from the environment tree.
  const admin = await login(ADMIN);
  await admin.goto(origin + '/workspaces/shop');
  await admin.getByRole('button', { name: 'Policy of prod', exact: true }).click();
  await admin.getByRole('heading', { name: 'Policy of prod' }).waitFor();
  await admin.waitForFunction(() => document.activeElement?.id === 'env-policy-approvals');
  await admin.locator('#env-policy-approvals').fill('1');
  await admin.getByLabel(/Change requests required/).check();
  await admin.locator('#env-change-reason').fill('e2e: review prod changes');
  await assertAccessible(admin, 'environment policy');
  await screenshot(admin, 'environment-policy', admin.locator('form[aria-labelledby="env-change-h"]'));
  await admin.getByRole('button', { name: 'Save policy' }).click();
  await admin.getByText("prod's policy is saved.").waitFor();
  await admin.locator('li[data-env="prod"] .badge.policy', { hasText: '1 approval, change requests only' }).waitFor();
  const prod = (await api('GET', '/v1/workspaces/shop/environments')).environments.find((e) => e.key === 'prod');
  assert.deepEqual(prod.policy, { required_approvals: 1, approver_roles: ['admin', 'owner'], change_requests_required: true });

  // The developer promotes staging → prod: the preview first, then the request.
  const dev = await login(DEV);
  // A developer's policy change is refused by the api, its message shown.
  await dev.goto(origin + '/workspaces/shop');
  await dev.getByRole('button', { name: 'Policy of prod', exact: true }).click();
  await dev.locator('#env-policy-approvals').fill('0');
  await dev.locator('#env-change-reason').fill('e2e: let me through');
  await dev.getByRole('button', { name: 'Save policy' }).click();
  await dev.locator('form[aria-labelledby="env-change-h"] [role="alert"]').waitFor();

  await dev.goto(origin + '/workspaces/shop/change-requests');
  await dev.getByRole('heading', { level: 1, name: 'Change requests' }).waitFor();
  await dev.getByText('No change requests yet.', { exact: false }).waitFor();
  await assertAccessible(dev, 'change requests (empty)');
  await dev.getByRole('link', { name: 'New promotion' }).click();
  await dev.getByRole('heading', { level: 1, name: 'New promotion' }).waitFor();
  await dev.getByLabel('From', { exact: true }).selectOption('staging');
  await dev.getByLabel('To', { exact: true }).selectOption('prod');
  await dev.getByLabel('Title', { exact: true }).fill('Ship greeting v2');
  await dev.getByLabel('Description (optional)').fill('New wording, reviewed in staging.');
  await dev.getByRole('button', { name: 'Preview the diff' }).click();
  const preview = dev.locator('section.preview');
  await preview.getByRole('heading', { name: 'Preview: staging → prod' }).waitFor();
  await dev.waitForFunction(() => document.activeElement?.id === 'preview-h');
  const row = (scope, item) => scope.locator(`[data-diff-env="prod"] tr[data-item="${item}"] td`);
  assert.deepEqual(await row(preview, 'config:greeting').allInnerTexts(), ['"hello v1"', '"hello v2"']);
  assert.deepEqual(await row(preview, 'secret:stripe.key').allInnerTexts(), ['(not shown)', 'value from staging']);
  assert.ok(!(await dev.content()).includes(SECRET), 'the preview never holds the secret value');
  // The preview stored nothing.
  assert.deepEqual((await api('GET', '/v1/workspaces/shop/change-requests')).change_requests, []);
  await assertAccessible(dev, 'new promotion (preview)');
  await screenshot(dev, 'new-promotion-preview', preview);
  await preview.getByRole('button', { name: 'Create change request' }).click();
  await dev.getByRole('heading', { level: 1, name: '#1 Ship greeting v2' }).waitFor();
  await dev.locator('[data-state="open"]').waitFor();
  assert.equal(await dev.locator('[data-approvals]').innerText(), '0 of 1 (round 1)');
  // The author cannot approve their own request: the api's refusal is shown.
  await dev.getByRole('button', { name: 'Approve' }).click();
  const refusal = dev.locator('section[aria-labelledby="review-h"] [role="alert"]');
  await refusal.waitFor();
  assert.match(await refusal.innerText(), /author of a change request never reviews it/);
  // Nor apply it before it is approved.
  await dev.getByRole('button', { name: 'Apply…' }).click();
  await dev.getByRole('button', { name: 'Apply now' }).click();
  await dev.locator('section[aria-labelledby="actions-h"] [role="alert"]').waitFor();
  await dev.getByLabel('Comment', { exact: true }).fill('Ready for review.');
  await dev.getByRole('button', { name: 'Add comment' }).click();
  await dev.locator('ul.comments').getByText('Ready for review.').waitFor();
  await assertAccessible(dev, 'change request (author)');

  // The admin, in another browser, sees the badge, approves and applies.
  await admin.goto(origin + '/workspaces/shop/change-requests');
  const badge = admin.locator('nav.tabs .badge.count');
  await badge.waitFor();
  assert.match(await badge.innerText(), /^1/);
  const listed = admin.locator('tr[data-cr="1"]');
  assert.match(await listed.innerText(), /Ship greeting v2\s+Promotion\s+Open\s+dev@promo\.example\s+0 of 1/);
  await assertAccessible(admin, 'change requests');
  await screenshot(admin, 'change-requests');
  await listed.getByRole('link', { name: 'Ship greeting v2' }).click();
  await admin.getByRole('heading', { level: 1, name: '#1 Ship greeting v2' }).waitFor();
  await admin.locator('li[data-policy-env="prod"]', { hasText: '1 approval(s) from admin or owner' }).waitFor();
  await admin.getByLabel('Comment with your review (optional)').fill('Looks right.');
  await admin.getByRole('button', { name: 'Approve' }).click();
  await admin.getByText('You approved this change request.').waitFor();
  await admin.locator('[data-state="approved"]').waitFor();
  await admin.locator('ul.reviews').getByText('Looks right.').waitFor();
  await admin.getByRole('button', { name: 'Apply…' }).click();
  await admin.getByText('Apply 2 changes to prod now, in one commit?').waitFor();
  await admin.waitForFunction(() => document.activeElement?.textContent === 'Apply now');
  await assertAccessible(admin, 'change request (confirm apply)');
  await screenshot(admin, 'change-request', admin.locator('section[aria-labelledby="changes-h"]'));
  await admin.getByRole('button', { name: 'Apply now' }).click();
  await admin.locator('[data-state="applied"]').waitFor();
  await admin.getByRole('button', { name: 'Revert…' }).waitFor();
  await badge.waitFor({ state: 'detached' });

  // The configs page shows prod's new value; a direct edit of prod is refused.
  await admin.goto(origin + '/workspaces/shop');
  assert.equal(await cell(admin, 'prod').locator('.value').innerText(), 'hello v2');
  await admin.getByRole('button', { name: 'Set greeting in prod' }).click();
  await admin.locator('#set-value').fill('hello v3');
  await admin.locator('#set-reason').fill('e2e: straight to prod');
  await admin.getByRole('button', { name: 'Set value' }).click();
  const direct = admin.locator('form[aria-labelledby="set-h"] [role="alert"]');
  await direct.waitFor();
  assert.match(await direct.innerText(), /accepts changes only through change requests/);
  assert.equal((await api('GET', '/v1/workspaces/shop/configs/greeting')).values.prod, 'hello v2');

  // Revert #1 from its page: a new request (#2) restoring prod's old value and removing the
  // secret. An item changed meanwhile makes apply answer change_request_conflict: the page
  // explains it and Rebase recomputes the diff.
  await admin.goto(origin + '/workspaces/shop/change-requests/1');
  await admin.getByRole('button', { name: 'Revert…' }).click();
  await admin.getByRole('heading', { level: 1, name: /^#2 / }).waitFor();
  const revertDiff = admin.locator('section[aria-labelledby="changes-h"]');
  assert.deepEqual(await row(revertDiff, 'config:greeting').allInnerTexts(), ['"hello v2"', '"hello v1"']);
  assert.deepEqual(await row(revertDiff, 'secret:stripe.key').allInnerTexts(), ['(not shown)', '(no value)']);
  await api('PUT', '/v1/workspaces/shop/configs/greeting',
    { type: 'string', values: { prod: 'hello v2', staging: 'hello v3' }, reason: 'meanwhile in staging' });
  await admin.getByRole('button', { name: 'Apply…' }).click();
  await admin.getByRole('button', { name: 'Apply now' }).click();
  await admin.getByText('Rebase it: the diff is computed again', { exact: false }).waitFor();
  await assertAccessible(admin, 'change request (conflict)');
  await admin.getByRole('button', { name: 'Rebase' }).click();
  await admin.getByText('Rebased: the diff was computed again; approvals start over.').waitFor();
  await admin.locator('[data-approvals]', { hasText: '0 of 1 (round 2)' }).waitFor();
  // The developer's badge counts the admin's open request; the admin's own does not count.
  await dev.goto(origin + '/workspaces/shop/change-requests');
  await dev.locator('nav.tabs .badge.count', { hasText: '1' }).waitFor();
  await admin.getByRole('button', { name: 'Close request' }).click();
  await admin.locator('[data-state="closed"]').waitFor();

  // Webhooks: add one; its secret is shown once; the list shows it.
  await admin.goto(origin + '/workspaces/shop/webhooks');
  await admin.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();
  await admin.getByText('No webhooks yet.').waitFor();
  await admin.getByLabel('URL').fill('http://127.0.0.1:9/edgevault');
  await admin.getByLabel('Description (optional)').fill('deploy bot');
  await admin.getByRole('button', { name: 'Add webhook' }).click();
  await admin.getByRole('heading', { name: 'Secret for http://127.0.0.1:9/edgevault' }).waitFor();
  const firstSecret = await admin.locator('#wh-once-secret').inputValue();
  assert.match(firstSecret, /^whsec_[0-9a-f]{64}$/);
  const hook = admin.locator('table.webhooks tbody tr');
  await hook.getByText('http://127.0.0.1:9/edgevault').waitFor();
  assert.match(await hook.innerText(), /every event/);
  await assertAccessible(admin, 'webhooks');
  await screenshot(admin, 'webhooks');
  await admin.getByRole('button', { name: 'I have copied it' }).click();
  await admin.getByRole('button', { name: 'Pause http://127.0.0.1:9/edgevault' }).click();
  await hook.locator('.status', { hasText: 'paused' }).waitFor();
  const listedHooks = (await api('GET', '/v1/workspaces/shop/webhooks')).webhooks;
  assert.equal(listedHooks.length, 1);
  assert.equal(listedHooks[0].active, false);
  await admin.getByRole('button', { name: 'Resume http://127.0.0.1:9/edgevault' }).click();
  await admin.getByRole('button', { name: 'Pause http://127.0.0.1:9/edgevault' }).waitFor();
  // Rotating shows the new secret once; the old one is gone.
  await admin.getByRole('button', { name: 'Rotate secret of http://127.0.0.1:9/edgevault' }).click();
  await admin.getByRole('heading', { name: 'New secret for http://127.0.0.1:9/edgevault' }).waitFor();
  const rotated = await admin.locator('#wh-once-secret').inputValue();
  assert.match(rotated, /^whsec_[0-9a-f]{64}$/);
  assert.notEqual(rotated, firstSecret);
  await admin.getByRole('button', { name: 'I have copied it' }).click();
  assert.ok(!(await admin.content()).includes(rotated), 'the secret is gone from the page once dismissed');
  // Delete asks first, with the focus on the confirming button.
  await admin.getByRole('button', { name: 'Delete http://127.0.0.1:9/edgevault' }).click();
  await admin.waitForFunction(() => document.activeElement?.textContent === 'Delete now');
  await admin.keyboard.press('Enter');
  await admin.getByText('No webhooks yet.').waitFor();
  assert.deepEqual((await api('GET', '/v1/workspaces/shop/webhooks')).webhooks, []);
  // A developer is refused by the api and sees why.
  await dev.goto(origin + '/workspaces/shop/webhooks');
  await dev.getByRole('alert').waitFor();

  assert.deepEqual(pageErrors, []);
});
