// Browser helpers for the console's e2e tests: Debian's Chromium through playwright-core,
// axe-core's verdict, and a CDP virtual authenticator for WebAuthn ceremonies.
import assert from 'node:assert/strict';
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
