// A JWT from POST /v1/token verifies with the `jose` package against the live JWKS
// (issuer, audience and algorithm checked), for a login session and for an API key.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader } from 'jose';
import { EdgeVault } from './lib/edgevault.mjs';

let ev;
before(async () => { ev = await EdgeVault.start(); });
after(async () => { await ev?.stop(); });

test('session token verifies with jose against /.well-known/jwks.json', async () => {
  const session = await ev.ownerSession();
  const r = await ev.auth('POST', '/v1/token', { bearer: session });
  assert.equal(r.status, 200, r.text);
  const jwks = createRemoteJWKSet(new URL(ev.url('auth') + '/.well-known/jwks.json'));
  const { payload, protectedHeader } = await jwtVerify(r.json.token, jwks, {
    issuer: 'edgevault', audience: 'edgevault', algorithms: ['EdDSA'],
  });
  assert.equal(protectedHeader.alg, 'EdDSA');
  assert.ok(protectedHeader.kid);
  assert.deepEqual(payload.roles, ['owner']);
  assert.ok(payload.sub && payload.org && payload.jti);
  assert.ok(payload.exp - payload.iat <= 300);
  // Wrong audience and issuer are refused by jose too: the claims are really there.
  await assert.rejects(jwtVerify(r.json.token, jwks, { audience: 'someone-else' }));
  await assert.rejects(jwtVerify(r.json.token, jwks, { issuer: 'someone-else' }));
});

test('API key token verifies and carries the key as subject', async () => {
  const r = await ev.auth('POST', '/v1/token', { bearer: ev.adminKey });
  assert.equal(r.status, 200, r.text);
  const jwks = createRemoteJWKSet(new URL(ev.url('auth') + '/.well-known/jwks.json'));
  const { payload } = await jwtVerify(r.json.token, jwks, { issuer: 'edgevault', audience: 'edgevault' });
  assert.match(payload.sub, /^key:key_/);
  assert.ok(payload.scopes.includes('admin'));
  const jwksDoc = await (await fetch(ev.url('auth') + '/.well-known/jwks.json')).json();
  const kid = decodeProtectedHeader(r.json.token).kid;
  const jwk = jwksDoc.keys.find((k) => k.kid === kid);
  assert.equal(jwk.kty, 'OKP');
  assert.equal(jwk.crv, 'Ed25519');
  assert.equal(jwk.d, undefined, 'the JWKS must never contain private key material');
});
