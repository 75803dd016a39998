// Signed documents (docs/design/resolved-document.md §8) checked by a verifier that is not
// ours: jose imports the published JWK, Node's crypto (OpenSSL) checks Ed25519 over
// "edgevault-document-v1\n" || the exact bytes delivery served. Full and client documents,
// the header on 200 and 304, the stream's signature event, a tampered byte, the client
// document's signature presented for the full document, and a key rotation with
// `edgevault keys rotate-document-signing` (the new key is published at once and then
// re-signs every document at the same version).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import crypto from 'node:crypto';
import { importJWK } from 'jose';
import { EdgeVault, BIN_DIR } from './lib/edgevault.mjs';

const CONTEXT = Buffer.from('edgevault-document-v1\n');

let ev;
let serverKey;
let clientKey;

async function until(what, fn, ms = 30000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// The exact bytes and headers of a delivery GET.
async function get(target, headers = {}) {
  const res = await fetch(ev.url('delivery') + target, { headers });
  const bytes = Buffer.from(await res.arrayBuffer());
  return { status: res.status, bytes, headers: res.headers };
}

function parseSignature(value) {
  const m = /^kid=([A-Za-z0-9_-]+); sig=([A-Za-z0-9_-]+)$/.exec(value ?? '');
  assert.ok(m, `not a signature: ${value}`);
  return { kid: m[1], sig: Buffer.from(m[2], 'base64url') };
}

async function publishedKeys() {
  const r = await get('/.well-known/edgevault-document-keys.json');
  assert.equal(r.status, 200, r.bytes.toString());
  const jwks = JSON.parse(r.bytes.toString());
  const keys = new Map();
  for (const jwk of jwks.keys) {
    assert.equal(jwk.kty, 'OKP');
    assert.equal(jwk.crv, 'Ed25519');
    keys.set(jwk.kid, await importJWK({ ...jwk }, 'EdDSA'));
  }
  return keys;
}

function verify(keys, bytes, { kid, sig }) {
  const key = keys.get(kid);
  if (!key) return false;
  return crypto.verify(null, Buffer.concat([CONTEXT, bytes]), key, sig);
}

before(async () => {
  ev = await EdgeVault.start();
  const api = (method, target, body) => ev.call('api', method, target, { body, bearer: ev.adminKey });
  const ok = async (p, status = 200) => { const r = await p; assert.equal(r.status, status, r.text); return r.json; };
  await ok(api('POST', '/v1/workspaces', { key: 'shop', name: 'Shop' }), 201);
  await ok(api('POST', '/v1/workspaces/shop/environments', { key: 'prod', name: 'Production', reason: 'setup' }), 201);
  await ok(api('PUT', '/v1/workspaces/shop/flags/banner', {
    variations: [{ value: 'blue' }, { value: 'green' }],
    environments: { prod: { on: true, fallthrough: { variation: 1 } } },
    client_visible: true,
    reason: 'colour',
  }));
  await ok(api('PUT', '/v1/workspaces/shop/configs/db.host', { type: 'string', values: { prod: 'db.internal' }, reason: 'db' }));
  serverKey = (await ok(api('POST', '/v1/workspaces/shop/environments/prod/sdk-keys', { name: 'server' }), 201)).key;
  clientKey = (await ok(api('POST', '/v1/workspaces/shop/environments/prod/sdk-keys',
    { name: 'web', kind: 'client', origins: ['https://app.example'] }), 201)).key;
  await until('both items in the document', async () => {
    const c = await get('/v1/config', { authorization: `Bearer ${serverKey}` });
    if (c.status !== 200) return false;
    const doc = JSON.parse(c.bytes.toString());
    return doc.flags?.banner && doc.configs?.['db.host'];
  });
});

after(async () => { await ev?.stop(); });

test('full and client documents verify with the published keys; tampering and swaps do not', async () => {
  const keys = await publishedKeys();
  const full = await get('/v1/config', { authorization: `Bearer ${serverKey}` });
  assert.equal(full.status, 200);
  const fullSig = parseSignature(full.headers.get('edgevault-signature'));
  assert.ok(verify(keys, full.bytes, fullSig), 'the full document does not verify');

  const client = await get(`/client/${clientKey}/v1/config`, { origin: 'https://app.example' });
  assert.equal(client.status, 200);
  assert.match(client.headers.get('access-control-expose-headers') ?? '', /EdgeVault-Signature/);
  const clientSig = parseSignature(client.headers.get('edgevault-signature'));
  assert.ok(verify(keys, client.bytes, clientSig), 'the client document does not verify');
  assert.equal(JSON.parse(client.bytes.toString()).audience, 'client');

  // Every byte matters, and neither signature passes for the other document.
  for (const i of [0, 10, Math.floor(full.bytes.length / 2), full.bytes.length - 1]) {
    const tampered = Buffer.from(full.bytes);
    tampered[i] ^= 0x01;
    assert.equal(verify(keys, tampered, fullSig), false, `byte ${i}`);
  }
  assert.equal(verify(keys, full.bytes, clientSig), false);
  assert.equal(verify(keys, client.bytes, fullSig), false);
  // Without the context prefix the signature is not a plain Ed25519 signature of the bytes.
  assert.equal(crypto.verify(null, full.bytes, keys.get(fullSig.kid), fullSig.sig), false);

  // A 304 carries the signature too.
  const again = await get('/v1/config', { authorization: `Bearer ${serverKey}`, 'if-none-match': full.headers.get('etag') });
  assert.equal(again.status, 304);
  assert.equal(again.headers.get('edgevault-signature'), full.headers.get('edgevault-signature'));
});

test('the stream sends each version\'s signature event before its config event', async () => {
  const keys = await publishedKeys();
  const ac = new AbortController();
  const res = await fetch(`${ev.url('delivery')}/v1/stream`, { headers: { authorization: `Bearer ${serverKey}` }, signal: ac.signal });
  assert.equal(res.status, 200);
  const reader = res.body.getReader();
  let text = '';
  while (!/event: config\ndata: .*\n\n/.test(text)) {
    const { value, done } = await reader.read();
    assert.ok(!done, `stream ended: ${text}`);
    text += Buffer.from(value).toString();
  }
  ac.abort();
  const m = /id: (\d+)\nevent: signature\ndata: (.*)\n\nid: (\d+)\nevent: config\ndata: (.*)\n\n/.exec(text);
  assert.ok(m, text);
  assert.equal(m[1], m[3]);
  assert.ok(verify(keys, Buffer.from(m[4]), parseSignature(m[2])));
});

test('rotate-document-signing: published at once, then every document is re-signed by it', async () => {
  const before = parseSignature((await get('/v1/config', { authorization: `Bearer ${serverKey}` })).headers.get('edgevault-signature'));
  const cli = spawnSync(path.join(BIN_DIR, 'edgevault'), ['keys', 'rotate-document-signing', '--data-dir', ev.dataDir], { encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stdout + cli.stderr);
  const newKid = /new document-signing key: (\S+)/.exec(cli.stdout)?.[1];
  assert.ok(newKid, cli.stdout);
  // Published before it signs (the api reloads its keys every 2 s).
  await until('the new key in the published JWKS', async () => (await publishedKeys()).has(newKid));
  // After the settle period (10 s) the api re-signs; delivery serves the same bytes with
  // the new key's signature, and the old key is still published.
  const resigned = await until('the document re-signed by the new key', async () => {
    const r = await get('/v1/config', { authorization: `Bearer ${serverKey}` });
    const sig = r.status === 200 ? parseSignature(r.headers.get('edgevault-signature')) : undefined;
    return sig?.kid === newKid ? { r, sig } : false;
  });
  const keys = await publishedKeys();
  assert.ok(keys.has(before.kid), 'the previous key was dropped too early');
  assert.ok(verify(keys, resigned.r.bytes, resigned.sig));
  const client = await get(`/client/${clientKey}/v1/config`);
  assert.ok(verify(keys, client.bytes, parseSignature(client.headers.get('edgevault-signature'))));
});
