// TOTP with a real, independent generator: Debian's oathtool. A code it makes logs in;
// the same code a second time is refused (replay protection).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { EdgeVault } from './lib/edgevault.mjs';

let ev;
before(async () => { ev = await EdgeVault.start(); });
after(async () => { await ev?.stop(); });

function oathtool(secret, when = 'now') {
  return execFileSync('oathtool', ['--totp', '-b', secret, '-N', when], { encoding: 'utf8' }).trim();
}

test('oathtool code logs in once; the same code twice fails', async () => {
  const session = await ev.ownerSession();
  const enrol = await ev.auth('POST', '/v1/mfa/totp/enroll', { bearer: session });
  assert.equal(enrol.status, 200, enrol.text);
  assert.match(enrol.json.otpauth_uri, /^otpauth:\/\/totp\/EdgeVault:/);
  assert.match(enrol.json.qr_svg, /^<svg/);
  const secret = enrol.json.secret;
  const confirm = await ev.auth('POST', '/v1/mfa/totp/confirm',
    { bearer: session, body: { code: oathtool(secret) } });
  assert.equal(confirm.status, 200, confirm.text);
  assert.equal(confirm.json.recovery_codes.length, 10);

  const login = async () => {
    const r = await ev.auth('POST', '/v1/login', { body: { email: ev.ownerEmail, password: ev.ownerPassword } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.mfa_required, true);
    assert.ok(r.json.methods.includes('totp'));
    assert.equal(r.json.session, undefined);
    return r.json.mfa_token;
  };
  // The confirm step spent the current step's code; the next step's code is inside the
  // ±1 step window, so it is usable now without waiting 30 s.
  const code = oathtool(secret, 'now + 30 seconds');
  const ok = await ev.auth('POST', '/v1/login/totp', { body: { mfa_token: await login(), code } });
  assert.equal(ok.status, 200, ok.text);
  assert.match(ok.json.session, /^evsn_/);
  const replay = await ev.auth('POST', '/v1/login/totp', { body: { mfa_token: await login(), code } });
  assert.equal(replay.status, 401, replay.text);
  assert.equal(replay.json.error.code, 'invalid_second_factor');
});
