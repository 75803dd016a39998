// Helpers for console tests that act as several people against one `edgevault up`: the api
// as the bootstrap admin key, inviting users with a role, and signing one in in a fresh
// browser context (so two people never share a cookie).
import assert from 'node:assert/strict';
import { consoleArgs, launchChromium, watchPage } from './browser.mjs';
import { EdgeVault } from './edgevault.mjs';

// One `edgevault up` serving the console and one Chromium, for a test file's `before`
// (`stop()` in its `after`): {ev, browser, origin, pageErrors, p: people(...)}.
// `extraArgs`: more `edgevault up` settings.
export async function consoleSession(extraArgs = []) {
  const ev = await EdgeVault.start({ extraArgs: [...consoleArgs(), ...extraArgs] });
  const browser = await launchChromium();
  const pageErrors = [];
  return {
    ev, browser, origin: ev.url('console'), pageErrors, p: people(ev, browser, pageErrors),
    async stop() {
      await browser.close();
      await ev.stop();
    },
  };
}

export function people(ev, browser, pageErrors) {
  const origin = ev.url('console');
  return {
    // The api as the bootstrap admin key; fails the test on anything but 2xx.
    async api(method, target, body) {
      const r = await ev.call('api', method, target, { bearer: ev.adminKey, body });
      assert.ok(r.status >= 200 && r.status < 300, `${method} ${target}: ${r.status} ${r.text}`);
      return r.json;
    },
    async invite(u) {
      const r = await ev.auth('POST', '/v1/users', { bearer: ev.adminKey, body: { email: u.email, role: u.role, password: u.password } });
      assert.equal(r.status, 201, r.text);
    },
    async login(u) {
      const page = watchPage(await (await browser.newContext()).newPage(), pageErrors);
      await page.goto(origin + '/');
      await page.getByRole('heading', { level: 1, name: 'Sign in to EdgeVault' }).waitFor();
      await page.getByLabel('Email').fill(u.email);
      await page.getByLabel('Password', { exact: true }).fill(u.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { level: 1, name: 'Workspaces' }).waitFor();
      return page;
    },
  };
}

// A datetime-local value `seconds` from now in the page's own time zone (what a person
// would type into the schedule field).
export function localInputIn(page, seconds) {
  return page.evaluate((s) => {
    const d = new Date(Date.now() + s * 1000);
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }, seconds);
}

// Waits until the change request page shows `state`: the page follows the workspace's
// events, and is reloaded every few seconds in case a live update is missed. A generous
// bound, never a timing assertion.
export async function waitForState(page, state, timeoutMs = 120000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await page.locator(`[data-state="${state}"]`).waitFor({ timeout: 5000 });
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await page.reload();
    }
  }
}
