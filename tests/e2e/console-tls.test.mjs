// The console over HTTPS in a real browser (issue 13): `edgevault up` with
// console.tls_cert_file/tls_key_file set to a self-signed certificate made here with the
// openssl command line; Chromium trusts exactly that key (--ignore-certificate-errors-spki-list,
// so the page is an ordinary secure context, no certificate error). Login and the
// first-start password change over TLS, the session cookie __Host-prefixed, Secure,
// HttpOnly and SameSite=Strict, HSTS on the page, and a state-changing request (creating a
// workspace) accepted with its https Origin.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { consoleArgs, launchChromium, watchPage } from './lib/browser.mjs';
import { EdgeVault } from './lib/edgevault.mjs';

const NEW_PASSWORD = 'console tls e2e password 1';

let ev, browser, context, page, origin, certDir;
const pageErrors = [];

before(async () => {
  certDir = mkdtempSync(path.join(os.tmpdir(), 'ev-e2e-tls-'));
  const crt = path.join(certDir, 'console.crt');
  const key = path.join(certDir, 'console.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', key, '-out', crt], { stdio: 'pipe' });
  chmodSync(key, 0o600);
  // Chromium's pin: base64 of the SHA-256 of the certificate's SubjectPublicKeyInfo.
  const spki = new X509Certificate(readFileSync(crt)).publicKey.export({ type: 'spki', format: 'der' });
  const pin = createHash('sha256').update(spki).digest('base64');

  ev = await EdgeVault.start({
    extraArgs: [...consoleArgs(), '--set', `console.tls_cert_file=${crt}`, '--set', `console.tls_key_file=${key}`],
  });
  origin = `https://127.0.0.1:${ev.port('console')}`;
  browser = await launchChromium([`--ignore-certificate-errors-spki-list=${pin}`]);
  context = await browser.newContext();
  page = watchPage(await context.newPage(), pageErrors);
});

after(async () => {
  await browser?.close();
  await ev?.stop();
  if (certDir) rmSync(certDir, { recursive: true, force: true });
});

const heading = (name) => page.getByRole('heading', { level: 1, name });

test('the console over HTTPS: login, __Host- Secure cookie, HSTS, a state-changing request with an https Origin', async () => {
  const first = await page.goto(origin + '/');
  assert.equal(first.status(), 200);
  assert.match(first.headers()['strict-transport-security'] ?? '', /^max-age=\d+/);
  assert.equal(await page.evaluate(() => window.isSecureContext), true);
  assert.equal(await page.evaluate(() => location.protocol), 'https:');

  // Every state-changing /bff/ request the app sends, with its Origin header.
  const posts = [];
  page.on('request', (req) => {
    if (req.method() !== 'GET' && new URL(req.url()).pathname.startsWith('/bff/')) {
      // allHeaders(): the headers Chromium added itself (Origin) are not in headers().
      posts.push(req.allHeaders().then((h) => ({ path: new URL(req.url()).pathname, origin: h.origin })));
    }
  });

  await heading('Sign in to EdgeVault').waitFor();
  await page.getByLabel('Email').fill(ev.ownerEmail);
  await page.getByLabel('Password', { exact: true }).fill(ev.ownerOneTimePassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await heading('Choose your password').waitFor();

  const cookies = await context.cookies(origin);
  const session = cookies.find((c) => c.name === '__Host-ev_session');
  assert.ok(session, `no __Host-ev_session cookie; got ${cookies.map((c) => c.name).join(', ')}`);
  assert.equal(session.secure, true);
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');
  assert.equal(session.path, '/');
  assert.equal(session.domain, '127.0.0.1');  // host-only: __Host- forbids a Domain attribute
  assert.ok(session.value.startsWith('evsn_'));
  assert.equal(cookies.find((c) => c.name === 'ev_session'), undefined, 'the plain-HTTP cookie name over TLS');

  await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
  await page.getByLabel('Confirm new password').fill(NEW_PASSWORD);
  await page.getByRole('button', { name: 'Change password' }).click();
  await heading('Workspaces').waitFor();

  // A state-changing request: the BFF's CSRF check accepts it only with Origin = https://host.
  await page.getByLabel('Key', { exact: true }).fill('tls-shop');
  await page.getByRole('button', { name: 'Create workspace' }).click();
  await page.waitForURL(origin + '/workspaces/tls-shop');
  await page.getByText('No environments yet').waitFor();

  const sent = await Promise.all(posts);
  assert.ok(sent.length >= 3, JSON.stringify(sent));  // login, password, workspace
  for (const p of sent) assert.equal(p.origin, origin, JSON.stringify(p));
  const ws = await ev.call('api', 'GET', '/v1/workspaces/tls-shop', { bearer: ev.adminKey });
  assert.equal(ws.status, 200, ws.text);
  assert.deepEqual(pageErrors, []);
});
