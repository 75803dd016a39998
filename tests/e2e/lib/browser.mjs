// Browser helpers for the console's e2e tests: Debian's Chromium through playwright-core,
// axe-core's verdict, and a CDP virtual authenticator for WebAuthn ceremonies.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';

// `args`: more Chromium flags.
export function launchChromium(args = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', ...args],
  });
}

// Fails when axe-core finds a serious or critical violation on the page as it is now.
export async function assertAccessible(page, name) {
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`), [],
    `axe: serious or critical violations on the ${name} page`);
}

// A platform authenticator with resident keys and user verification that answers every
// ceremony of `page` without a prompt.
export async function addVirtualAuthenticator(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
}

// `edgevault up` arguments that make the console serve the web app CTest built
// (EDGEVAULT_WEB_DIR = <build>/web); without it the console serves its default, <bin>/../web.
export function consoleArgs() {
  const webDir = process.env.EDGEVAULT_WEB_DIR;
  return webDir ? ['--set', `console.web_dir=${webDir}`] : [];
}

// Records `page`'s uncaught errors and any dialog (dismissed) in `errors`.
export function watchPage(page, errors) {
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('dialog', (d) => { errors.push(`dialog: ${d.message()}`); void d.dismiss(); });
  return page;
}

// With EDGEVAULT_SCREENSHOTS_DIR set (CTest: <build>/screenshots), saves the page as
// <name>.png (a 1280x800 viewport), scrolled to the top or with `focus` (a locator) in the
// middle; `make screenshots` copies them into docs/console/, so the pictures are the pages a
// test drove. Names are unique across the console tests (they share one directory).
export async function screenshot(page, name, focus) {
  const dir = process.env.EDGEVAULT_SCREENSHOTS_DIR;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  if (focus) await focus.evaluate((el) => el.scrollIntoView({ block: 'center' }));
  else await page.evaluate(() => window.scrollTo(0, 0));
  const file = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') + '.png';
  await page.screenshot({ path: path.join(dir, file) });
}
