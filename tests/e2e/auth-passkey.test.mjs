// Passkeys through a real browser: Playwright drives Debian's Chromium with a CDP
// virtual authenticator against the real auth service. Registration, passwordless login,
// passkey as a second factor, and the counter moving forward.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { addVirtualAuthenticator, launchChromium } from './lib/browser.mjs';
import { EdgeVault } from './lib/edgevault.mjs';

let ev, browser, page, authOrigin;

before(async () => {
  // The browser reaches auth as http://localhost: a secure context whose host is a valid
  // RP ID (an IP address is not). Auth listens on a port the kernel picked, unknown until
  // it started, so the origin has no port: Playwright answers every request to it from the
  // real auth service (nothing listens on port 80 here).
  authOrigin = 'http://localhost';
  ev = await EdgeVault.start({ extraArgs: ['--set', `auth.webauthn_origins=${authOrigin}`] });
  browser = await launchChromium();
  page = await browser.newPage();
  await page.route(`${authOrigin}/**`, async (route) => {
    const url = new URL(route.request().url());
    const response = await route.fetch({ url: ev.url('auth') + url.pathname + url.search });
    await route.fulfill({ response });
  });
  await page.goto(authOrigin + '/');
  await addVirtualAuthenticator(page);
});

after(async () => {
  await browser?.close();
  await ev?.stop();
});

// Runs a WebAuthn ceremony inside the page: JSON options from the server in, the
// credential as base64url JSON out.
async function ceremony(kind, publicKey) {
  return page.evaluate(async ({ kind, publicKey }) => {
    const b64 = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
      .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    const unb64 = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
    const pk = structuredClone(publicKey);
    pk.challenge = unb64(pk.challenge);
    if (pk.user) pk.user.id = unb64(pk.user.id);
    for (const list of [pk.excludeCredentials, pk.allowCredentials]) {
      for (const c of list || []) c.id = unb64(c.id);
    }
    const cred = kind === 'create'
      ? await navigator.credentials.create({ publicKey: pk })
      : await navigator.credentials.get({ publicKey: pk });
    const r = cred.response;
    const response = { clientDataJSON: b64(r.clientDataJSON) };
    if (kind === 'create') response.attestationObject = b64(r.attestationObject);
    else {
      response.authenticatorData = b64(r.authenticatorData);
      response.signature = b64(r.signature);
      if (r.userHandle) response.userHandle = b64(r.userHandle);
    }
    return { id: cred.id, rawId: b64(cred.rawId), type: cred.type, response };
  }, { kind, publicKey });
}

test('register a passkey, then log in with it (passwordless and as second factor)', async () => {
  const session = await ev.ownerSession();
  const begin = await ev.auth('POST', '/v1/passkeys/register/begin', { bearer: session });
  assert.equal(begin.status, 200, begin.text);
  const credential = await ceremony('create', begin.json.publicKey);
  const finish = await ev.auth('POST', '/v1/passkeys/register/finish', {
    bearer: session, body: { challenge_id: begin.json.challenge_id, name: 'chromium', credential },
  });
  assert.equal(finish.status, 201, finish.text);
  // The registration challenge is single-use.
  const again = await ev.auth('POST', '/v1/passkeys/register/finish', {
    bearer: session, body: { challenge_id: begin.json.challenge_id, name: 'again', credential },
  });
  assert.equal(again.status, 409, again.text);

  // Passwordless.
  const lb = await ev.auth('POST', '/v1/login/passkey/begin', { body: {} });
  assert.equal(lb.status, 200, lb.text);
  assert.equal(lb.json.publicKey.userVerification, 'required');
  const assertion = await ceremony('get', lb.json.publicKey);
  const lf = await ev.auth('POST', '/v1/login/passkey/finish',
    { body: { challenge_id: lb.json.challenge_id, credential: assertion } });
  assert.equal(lf.status, 200, lf.text);
  assert.match(lf.json.session, /^evsn_/);
  // Replaying the same assertion fails (challenge used; counter would not move).
  const replay = await ev.auth('POST', '/v1/login/passkey/finish',
    { body: { challenge_id: lb.json.challenge_id, credential: assertion } });
  assert.equal(replay.status, 401, replay.text);

  // As a second factor after the password.
  const pw = await ev.auth('POST', '/v1/login', { body: { email: ev.ownerEmail, password: ev.ownerPassword } });
  assert.equal(pw.status, 200, pw.text);
  assert.equal(pw.json.mfa_required, true);
  assert.ok(pw.json.methods.includes('passkey'));
  const mb = await ev.auth('POST', '/v1/login/passkey/begin', { body: { mfa_token: pw.json.mfa_token } });
  assert.equal(mb.status, 200, mb.text);
  assert.equal(mb.json.publicKey.allowCredentials.length, 1);
  const second = await ceremony('get', mb.json.publicKey);
  const mf = await ev.auth('POST', '/v1/login/passkey/finish',
    { body: { challenge_id: mb.json.challenge_id, mfa_token: pw.json.mfa_token, credential: second } });
  assert.equal(mf.status, 200, mf.text);
  const who = await ev.auth('GET', '/v1/session', { bearer: mf.json.session });
  assert.equal(who.json.methods, 'pwd+passkey');

  const list = await ev.auth('GET', '/v1/passkeys', { bearer: mf.json.session });
  assert.equal(list.json.passkeys.length, 1);
  assert.ok(list.json.passkeys[0].last_used_at);
});

test('an assertion for another origin is refused', async () => {
  const lb = await ev.auth('POST', '/v1/login/passkey/begin', { body: {} });
  const assertion = await ceremony('get', lb.json.publicKey);
  const clientData = JSON.parse(Buffer.from(assertion.response.clientDataJSON, 'base64url'));
  clientData.origin = 'http://evil.example';
  assertion.response.clientDataJSON = Buffer.from(JSON.stringify(clientData)).toString('base64url');
  const r = await ev.auth('POST', '/v1/login/passkey/finish',
    { body: { challenge_id: lb.json.challenge_id, credential: assertion } });
  assert.equal(r.status, 401, r.text);
});
