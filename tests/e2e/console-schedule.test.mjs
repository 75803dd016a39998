// Scheduling a change request from its page, and the editors' marks for environments that
// take changes only through change requests, in Chromium against a real `edgevault up`:
// prod's policy needs 1 approval and change requests; the config editor marks prod and a
// direct save there is refused with the offer to propose it instead; a promotion (opened
// through the api) is approved by an admin, a time in the past is refused with the api's
// message, then it is scheduled, unscheduled, scheduled again a few seconds ahead, and the
// page shows it applied with prod's new value. axe-core checks each state.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertAccessible, consoleArgs, launchChromium, screenshot } from './lib/browser.mjs';
import { EdgeVault } from './lib/edgevault.mjs';
import { localInputIn, people, waitForState } from './lib/people.mjs';

const ADMIN = { email: 'admin@sched.example', password: 'schedule e2e admin password 1', role: 'admin' };

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

test('a save refused by policy offers a proposal; an approved request is scheduled, unscheduled and applied on time', async () => {
  await p.api('POST', '/v1/workspaces', { key: 'shop', name: 'Shop' });
  await p.api('POST', '/v1/workspaces/shop/environments', { key: 'prod', name: 'Production', reason: 'setup' });
  await p.api('POST', '/v1/workspaces/shop/environments', { key: 'staging', name: 'Staging', parent: 'prod', reason: 'setup' });
  await p.api('PUT', '/v1/workspaces/shop/configs/db.pool', { type: 'integer', values: { prod: 50, staging: 80 }, reason: 'setup' });
  await p.api('PUT', '/v1/workspaces/shop/environments/prod/policy',
    { required_approvals: 1, approver_roles: ['admin', 'owner'], change_requests_required: true, reason: 'setup' });
  await p.invite(ADMIN);
  const admin = await p.login(ADMIN);

  // The config editor marks prod; a direct save there is refused, and the refusal offers
  // the proposal (its title made from the edit) instead of only an error.
  await admin.goto(origin + '/workspaces/shop');
  await admin.getByRole('button', { name: 'Set db.pool in prod' }).click();
  assert.deepEqual(await admin.locator('#set-env option').allInnerTexts(), ['prod (change requests only)', 'staging']);
  await admin.locator('[data-cr-only="prod"]').waitFor();
  await admin.locator('#set-value').fill('90');
  await admin.locator('#set-reason').fill('e2e: load test');
  await admin.getByRole('button', { name: 'Set value' }).click();
  const refused = admin.locator('form[aria-labelledby="set-h"] [role="alert"][data-refused]');
  await refused.waitFor();
  assert.match(await refused.innerText(), /accepts changes only through change requests/);
  await refused.getByRole('button', { name: 'Propose as change request', exact: true }).waitFor();
  await refused.getByText('titled “Update config "db.pool" in prod”').waitFor();
  await assertAccessible(admin, 'configs (save refused by policy)');
  await screenshot(admin, 'propose-offered', refused);
  // "Edit the title first…" opens the proposal form, pre-filled, focus on the title.
  await refused.getByRole('button', { name: 'Edit the title first…' }).click();
  await admin.waitForFunction(() => document.activeElement?.id === 'set-propose-title');
  assert.equal(await admin.locator('#set-propose-title').inputValue(), 'Update config "db.pool" in prod');
  assert.equal(await admin.locator('#set-propose-description').inputValue(), 'e2e: load test');
  await assertAccessible(admin, 'configs (proposal form)');
  await admin.keyboard.press('Escape');
  await admin.getByRole('button', { name: 'Propose as change request…' }).waitFor();
  assert.equal((await p.api('GET', '/v1/workspaces/shop/configs/db.pool')).values.prod, 50);

  // A promotion staging → prod, opened through the api (so its author is not the admin).
  const cr = await p.api('POST', '/v1/workspaces/shop/promotions', { from: 'staging', to: 'prod', title: 'Raise the pool' });
  await admin.goto(origin + `/workspaces/shop/change-requests/${cr.id}`);
  await admin.getByRole('heading', { level: 1, name: `#${cr.id} Raise the pool` }).waitFor();
  assert.equal(await admin.locator('[data-cr-type]').innerText(), 'Promotion');
  // Not approved yet: nothing to schedule.
  assert.equal(await admin.getByRole('heading', { name: 'Schedule' }).count(), 0);
  await admin.getByRole('button', { name: 'Approve' }).click();
  await admin.locator('[data-state="approved"]').waitFor();

  // A time in the past: the api's refusal, as it gives it.
  const schedule = admin.locator('section[aria-labelledby="schedule-h"]');
  await schedule.getByLabel('Apply at (your local time)').fill(await localInputIn(admin, -3600));
  await schedule.getByRole('button', { name: 'Schedule' }).click();
  await schedule.getByRole('alert').getByText(/must be in the future/).waitFor();
  assert.equal((await p.api('GET', `/v1/workspaces/shop/change-requests/${cr.id}`)).state, 'approved');

  // An hour ahead: scheduled, shown in local time and UTC; then unscheduled.
  await schedule.getByLabel('Apply at (your local time)').fill(await localInputIn(admin, 3600));
  await schedule.getByRole('button', { name: 'Schedule' }).click();
  await admin.locator('[data-state="scheduled"]').waitFor();
  const at = admin.locator('[data-apply-at]');
  await at.waitFor();
  const stored = await p.api('GET', `/v1/workspaces/shop/change-requests/${cr.id}`);
  assert.equal(stored.state, 'scheduled');
  assert.equal(await at.getAttribute('data-apply-at'), stored.apply_at);
  assert.match(await at.innerText(), / UTC/);
  assert.ok(Math.abs(Date.parse(stored.apply_at) - Date.now() - 3600_000) < 600_000, `apply_at ${stored.apply_at}`);
  await assertAccessible(admin, 'change request (scheduled)');
  await screenshot(admin, 'change-request-scheduled', schedule);
  await schedule.getByRole('button', { name: 'Unschedule' }).click();
  await admin.locator('[data-state="approved"]').waitFor();
  assert.equal((await p.api('GET', `/v1/workspaces/shop/change-requests/${cr.id}`)).apply_at, undefined);

  // A few seconds ahead: the page follows it to applied; prod serves the promoted value.
  await schedule.getByLabel('Apply at (your local time)').fill(await localInputIn(admin, 8));
  await schedule.getByRole('button', { name: 'Schedule' }).click();
  await admin.locator('[data-state="scheduled"]').waitFor();
  await waitForState(admin, 'applied');
  assert.equal((await p.api('GET', '/v1/workspaces/shop/configs/db.pool')).values.prod, 80);
  await assertAccessible(admin, 'change request (applied by the scheduler)');

  assert.deepEqual(pageErrors, []);
});
