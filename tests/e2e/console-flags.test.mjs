// The console's Flags and Segments pages in a real browser against a real `edgevault up`: a
// flag built through the editor (an individual target, a rule with a clause and a 50/50
// rollout whose percentages are checked inline before submit), the "evaluate as" panel
// answering exactly what delivery's OFREP endpoint answers for the same context, a toggle
// (with its reason) made with the keyboard arriving live in a second browser, a segment, and
// axe-core finding no serious or critical violation. The insights chart shows, per variant,
// the same totals as the api's insights for those OFREP evaluations (counts shipped every
// second here: delivery.usage_interval_s=1).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertAccessible, consoleArgs, launchChromium, screenshot, watchPage } from './lib/browser.mjs';
import { EdgeVault } from './lib/edgevault.mjs';

const NEW_PASSWORD = 'console flags e2e password 1';

let ev, browser, context, page, origin;
const pageErrors = [];

before(async () => {
  ev = await EdgeVault.start({ extraArgs: [...consoleArgs(), '--set', 'delivery.usage_interval_s=1'] });
  origin = ev.url('console');
  browser = await launchChromium();
  context = await browser.newContext();
  page = await context.newPage();
  watchPage(page, pageErrors);
});

after(async () => {
  await browser?.close();
  await ev?.stop();
});

// Presses Tab until `locator`'s element has the focus: it is reachable with the keyboard.
async function tabTo(p, locator, max = 120) {
  const handle = await locator.elementHandle();
  for (let i = 0; i < max; i++) {
    if (await p.evaluate((el) => document.activeElement === el, handle)) return;
    await p.keyboard.press('Tab');
  }
  assert.fail(`not reachable with Tab: ${locator}`);
}

const api = (method, target, body) => ev.call('api', method, target, { body, bearer: ev.adminKey });

// Delivery's OFREP answer for `ctx`, once delivery serves the workspace's current head.
async function ofrep(sdkKey, flag, ctx) {
  const head = (await api('GET', '/v1/workspaces/shop')).json.revision;
  const deadline = Date.now() + 20000;
  for (;;) {
    const r = await ev.call('delivery', 'POST', `/ofrep/v1/evaluate/flags/${flag}`, { bearer: sdkKey, body: { context: ctx } });
    if (r.status === 200 && r.json?.metadata?.version === head) return r.json;
    if (Date.now() > deadline) throw new Error(`delivery never served revision ${head}: ${r.status} ${r.text}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

async function evaluateAs(targetingKey, attributes) {
  await page.locator('#eval-flag').selectOption('checkout');
  await page.locator('#eval-key').fill(targetingKey);
  await page.locator('#eval-attrs').fill(JSON.stringify(attributes));
  // Each answer numbers the table (data-answer): wait for the one this click asks for.
  const before = await page.evaluate(() => Number(document.querySelector('table.evaluation')?.dataset.answer ?? 0));
  await page.getByRole('button', { name: 'Evaluate', exact: true }).click();
  await Promise.race([
    page.locator(`table.evaluation[data-answer="${before + 1}"]`).waitFor(),
    page.locator('section[aria-labelledby="eval-h"] [role="alert"]').waitFor()
      .then(async () => { throw new Error(`evaluate failed: ${await page.locator('section[aria-labelledby="eval-h"] [role="alert"]').innerText()}`); }),
  ]);
  const row = page.locator('table.evaluation tr[data-env="prod"]');
  return {
    value: await row.locator('td.value').innerText(),
    variant: await row.locator('td.variant').innerText(),
    reason: await row.locator('td.reason').innerText(),
    rule: await row.locator('td.rule').innerText(),
  };
}

test('flags: editor, rollout validation, evaluate-as equals OFREP, live toggle, segments, accessibility', async () => {
  // Sign in (first start: replace the one-time password).
  await page.goto(origin + '/');
  await page.getByRole('heading', { level: 1, name: 'Sign in to EdgeVault' }).waitFor();
  await assertAccessible(page, 'login');
  await page.getByLabel('Email').fill(ev.ownerEmail);
  await page.getByLabel('Password', { exact: true }).fill(ev.ownerOneTimePassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Choose your password' }).waitFor();
  await assertAccessible(page, 'password change');
  await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
  await page.getByLabel('Confirm new password').fill(NEW_PASSWORD);
  await page.getByRole('button', { name: 'Change password' }).click();

  // A workspace and an environment through the UI.
  await page.getByRole('heading', { level: 1, name: 'Workspaces' }).waitFor();
  await assertAccessible(page, 'workspaces');
  await page.getByLabel('Key', { exact: true }).fill('shop');
  await page.getByRole('button', { name: 'Create workspace' }).click();
  await page.waitForURL(origin + '/workspaces/shop');
  await page.locator('#env-key').fill('prod');
  await page.locator('#env-reason').fill('e2e: prod');
  await page.getByRole('button', { name: 'Create environment' }).click();
  await page.getByText('Environment prod created.').waitFor();
  await assertAccessible(page, 'workspace');

  // The Flags entry of the navigation leads to the workspace's flags.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Flags' }).click();
  await page.waitForURL(origin + '/workspaces/shop/flags');
  await page.getByRole('heading', { level: 1, name: 'Flags' }).waitFor();
  await page.getByText('No flags yet').waitFor();
  await assertAccessible(page, 'flags (empty)');

  // A new flag: on in prod, rule 1 (plan is one of pro) serves On, the default a 50/50 rollout.
  await page.getByRole('button', { name: 'New flag' }).click();
  await page.locator('#flag-key').fill('checkout');
  await page.locator('#env-prod-on').check();
  await page.locator('#env-prod-targets-1').fill('vip-1');
  await page.getByRole('button', { name: 'Add rule' }).click();
  await page.locator('#env-prod-r0-id').fill('pro-plan');
  await page.locator('#env-prod-r0-c0-attr').fill('plan');
  await page.locator('#env-prod-r0-c0-op').selectOption('in');
  await page.locator('#env-prod-r0-c0-values').fill('pro');
  await page.locator('#env-prod-r0-variation').selectOption('1');
  await page.locator('#env-prod-fall-mode').selectOption('rollout');
  await page.locator('#env-prod-fall-pct-0').fill('50');
  await page.locator('#env-prod-fall-pct-1').fill('60');
  // Checked inline, and the save is refused before any request.
  await page.getByText('The percentages add up to 110%; they must add up to 100%.').first().waitFor();
  await page.locator('#flag-reason').fill('e2e: launch checkout');
  await page.getByRole('button', { name: 'Save flag' }).click();
  await page.getByRole('alert').getByText('add up to 110%').waitFor();
  assert.equal((await api('GET', '/v1/workspaces/shop/flags')).json.items.length, 0, 'an invalid rollout was submitted');
  await page.locator('#env-prod-fall-pct-1').fill('50');
  await page.getByText('The percentages add up to 100%.').first().waitFor();
  await screenshot(page, 'flag editor', page.locator('#env-prod-r0-c0-attr'));
  await assertAccessible(page, 'flag editor');
  await page.getByRole('button', { name: 'Save flag' }).click();
  await page.getByText('checkout saved.').waitFor();
  const stored = (await api('GET', '/v1/workspaces/shop/flags/checkout')).json;
  assert.deepEqual(stored.environments.prod.fallthrough,
    { rollout: [{ variation: 0, weight: 50000 }, { variation: 1, weight: 50000 }] });
  assert.deepEqual(stored.environments.prod.targets, [{ variation: 1, values: ['vip-1'] }]);
  assert.deepEqual(stored.environments.prod.rules,
    [{ id: 'pro-plan', clauses: [{ attribute: 'plan', op: 'in', values: ['pro'] }], variation: 1 }]);
  const toggle = page.locator('table.flags td[data-env="prod"] button.toggle');
  assert.equal(await toggle.getAttribute('aria-pressed'), 'true');

  // Evaluate as: the same answer as delivery's OFREP endpoint for the same context.
  const minted = await api('POST', '/v1/workspaces/shop/environments/prod/sdk-keys', { name: 'e2e' });
  assert.equal(minted.status, 201, minted.text);
  const sdkKey = minted.json.key;
  for (const [key, attrs] of [['user-1', { plan: 'pro' }], ['user-2', { plan: 'free' }], ['user-3', {}], ['vip-1', { plan: 'free' }]]) {
    const shown = await evaluateAs(key, attrs);
    const want = await ofrep(sdkKey, 'checkout', { targetingKey: key, ...attrs });
    assert.equal(shown.value, JSON.stringify(want.value), `${key}: value`);
    assert.equal(shown.variant, want.variant, `${key}: variant`);
    assert.equal(shown.reason, want.reason, `${key}: reason`);
    if (key === 'vip-1') assert.deepEqual([want.reason, shown.rule], ['TARGETING_MATCH', '—']);
    else if (attrs.plan === 'pro') assert.equal(shown.rule, 'Rule 1 (pro-plan)');
    else assert.equal(want.reason, 'SPLIT');
  }
  await screenshot(page, 'evaluate as', page.locator('table.evaluation'));
  await assertAccessible(page, 'flags (evaluated)');

  // Insights: the chart and its table agree with the api once delivery has shipped the counts.
  await page.locator('#insights-flag').selectOption('checkout');
  await page.locator('#insights-env').selectOption('prod');
  await page.locator('#insights-range').selectOption('1h');
  const showInsights = async () => {
    const n = await page.evaluate(() => Number(document.querySelector('div.insights')?.dataset.answer ?? 0));
    await page.getByRole('button', { name: 'Show evaluations' }).click();
    await page.locator(`div.insights[data-answer="${n + 1}"]`).waitFor();
    return page.evaluate(() => Object.fromEntries([...document.querySelectorAll('table.insights-table tr[data-variant]')]
      .map((tr) => [tr.dataset.variant, Number(tr.querySelector('td.total').textContent)])));
  };
  const apiTotals = async () => {
    const from = new Date(Date.now() - 3600 * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
    const r = await api('GET', `/v1/workspaces/shop/flags/checkout/insights?env=prod&step=1m&from=${from}`);
    assert.equal(r.status, 200, r.text);
    return Object.fromEntries(r.json.variants.map((v) => [v.variant, v.total]));
  };
  let shown = {}, fromApi = {};
  for (const until = Date.now() + 30000; Date.now() < until;) {
    shown = await showInsights();
    fromApi = await apiTotals();
    if (Object.keys(shown).length > 0 && JSON.stringify(shown) === JSON.stringify(fromApi)) break;
    await new Promise((res) => setTimeout(res, 500));
  }
  assert.ok(Object.keys(shown).length > 0, 'no evaluations shown');
  assert.deepEqual(shown, fromApi);
  assert.equal(await page.locator('svg.chart path[data-variant]').count(), Object.keys(shown).length);
  await screenshot(page, 'flag insights', page.locator('div.insights'));
  await assertAccessible(page, 'flags (insights)');

  // A second browser on the same page sees a toggle made in the first, live.
  const other = await (await browser.newContext({ storageState: await context.storageState() })).newPage();
  await other.goto(origin + '/workspaces/shop/flags');
  await other.getByText('Live: changes made elsewhere appear here.').waitFor();
  const otherToggle = other.locator('table.flags td[data-env="prod"] button.toggle');
  assert.equal(await otherToggle.getAttribute('aria-pressed'), 'true');

  // The toggle with the keyboard only: Tab to it, Enter, type the reason, Enter.
  await page.getByRole('button', { name: 'Close editor' }).click();
  await page.getByRole('heading', { level: 1, name: 'Flags' }).focus();
  await tabTo(page, toggle);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Turn checkout off in prod' }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'toggle-reason');
  await page.keyboard.type('e2e: pause checkout');
  await page.keyboard.press('Enter');
  await page.getByText('checkout is now off in prod.').waitFor();
  await other.waitForFunction(() =>
    document.querySelector('table.flags td[data-env="prod"] button.toggle')?.getAttribute('aria-pressed') === 'false');
  assert.equal(await otherToggle.innerText(), 'Off');
  assert.equal((await api('GET', '/v1/workspaces/shop/flags/checkout')).json.environments.prod.on, false);
  const off = await evaluateAs('user-1', { plan: 'pro' });
  const offWant = await ofrep(sdkKey, 'checkout', { targetingKey: 'user-1', plan: 'pro' });
  assert.equal(offWant.reason, 'DISABLED');
  assert.equal(off.reason, offWant.reason);
  await other.context().close();
  await screenshot(page, 'flags');
  await assertAccessible(page, 'flags');

  // The editor is reachable with the keyboard too: Tab to "Edit checkout", Enter opens it.
  await page.getByRole('heading', { level: 1, name: 'Flags' }).focus();
  await tabTo(page, page.getByRole('button', { name: 'Edit checkout' }));
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Edit checkout' }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'flag-editor-h');
  await tabTo(page, page.locator('#env-prod-fall-pct-0'));

  // Segments: the navigation entry, then one created with an included key and a rule.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Segments' }).click();
  await page.getByRole('heading', { level: 1, name: 'Segments' }).waitFor();
  await page.getByText('No segments yet').waitFor();
  await assertAccessible(page, 'segments (empty)');
  await page.getByRole('button', { name: 'New segment' }).click();
  await page.locator('#seg-key').fill('beta');
  await page.locator('#seg-included').fill('user-9\nuser-10');
  await page.getByRole('button', { name: 'Add rule' }).click();
  await page.locator('#seg-r0-c0-attr').fill('email');
  await page.locator('#seg-r0-c0-op').selectOption('ends_with');
  await page.locator('#seg-r0-c0-values').fill('@corp.example');
  await page.locator('#seg-reason').fill('e2e: beta testers');
  await assertAccessible(page, 'segment editor');
  await page.getByRole('button', { name: 'Save segment' }).click();
  await page.getByText('beta saved.').waitFor();
  const seg = (await api('GET', '/v1/workspaces/shop/segments/beta')).json;
  assert.deepEqual(seg.included, ['user-9', 'user-10']);
  assert.deepEqual(seg.rules, [{ clauses: [{ attribute: 'email', op: 'ends_with', values: ['@corp.example'] }] }]);
  await page.getByText('2 included, 0 excluded, 1 rules').waitFor();
  await screenshot(page, 'segments');
  await assertAccessible(page, 'segments');

  assert.deepEqual(pageErrors, []);
});
