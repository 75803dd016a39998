// Console benchmark: what a browser pays to open the console, and what the console costs
// the host. Drives Debian's Chromium (playwright-core from tests/e2e) against a real
// `edgevault up` on loopback and prints:
//   - the initial load: bytes of index.html and the assets it references, raw and gzip;
//   - time to interactive: navigation start until the login form's Email field is visible
//     and enabled (median of N fresh browser contexts), against a baseline measured in the
//     same run: a bare page with one input served as a data: URL (the browser's own floor);
//   - the console's RSS (VmRSS of edgevault-console) after start and after N logged-in
//     page loads with the workspaces list.
// Usage: node bench/console/run.mjs [N=20]   (after `make build` and `make e2e-deps`)
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

const require = createRequire(new URL('../../tests/e2e/package.json', import.meta.url));
const { chromium } = require('playwright-core');
const { EdgeVault } = await import(new URL('../../tests/e2e/lib/edgevault.mjs', import.meta.url));

const N = Number(process.argv[2] || 20);
const webDir = process.env.EDGEVAULT_WEB_DIR || path.resolve('build/web');
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

const ev = await EdgeVault.start({ extraArgs: ['--set', `console.web_dir=${webDir}`] });
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
try {
  const origin = ev.url('console');
  const consolePid = Number(readFileSync(path.join(ev.dataDir, 'run', 'console.pid'), 'utf8'));
  const rssStart = rssKiB(consolePid);

  // Initial load: what index.html pulls in.
  const index = await (await fetch(origin + '/')).text();
  const refs = [...index.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
  let raw = Buffer.byteLength(index), gz = gzipSync(index).length;
  for (const ref of refs) {
    const body = Buffer.from(await (await fetch(origin + ref)).arrayBuffer());
    raw += body.length;
    gz += gzipSync(body).length;
  }

  async function interactive(url, selector) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(url, { waitUntil: 'commit' });
    await page.locator(selector).first().waitFor({ state: 'visible' });
    await page.waitForFunction((sel) => !document.querySelector(sel).disabled, selector);
    const ms = await page.evaluate(() => performance.now());
    await context.close();
    return ms;
  }
  const consoleMs = [], baselineMs = [];
  for (let i = 0; i < N; ++i) {
    consoleMs.push(await interactive(origin + '/', 'input[type=email], input[autocomplete=username]'));
    baselineMs.push(await interactive('data:text/html,<!doctype html><title>b</title><input type=email>', 'input[type=email]'));
  }

  // Logged-in load: N page loads of the workspaces list through the BFF.
  await ev.ownerSession('bench owner password 1');  // replaces the one-time password
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(origin + '/');
  await page.getByLabel('Email').fill(ev.ownerEmail);
  await page.getByLabel('Password', { exact: true }).fill('bench owner password 1');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: /Workspaces/ }).waitFor();
  for (let i = 0; i < N; ++i) {
    await page.reload();
    await page.getByRole('heading', { level: 1, name: /Workspaces/ }).waitFor();
  }
  const rssAfter = rssKiB(consolePid);
  await context.close();

  const c = median(consoleMs), b = median(baselineMs);
  console.log(`initial load: ${refs.length + 1} files, ${raw} bytes raw, ${gz} bytes gzip (${(gz / 1024).toFixed(1)} KiB)`);
  console.log(`time to interactive (median of ${N}): console ${c.toFixed(1)} ms, bare page ${b.toFixed(1)} ms, ratio ${(c / b).toFixed(2)}`);
  console.log(`edgevault-console RSS: ${rssStart} KiB after start, ${rssAfter} KiB after ${N} logged-in page loads`);
} finally {
  await browser.close();
  await ev.stop();
}
