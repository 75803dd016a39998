// Records real WebAuthn ceremonies from Chromium's CDP virtual authenticator into the JSON
// fixtures beside this file (chromium_*.json). Re-run with:
//
//   mkdir -p /tmp/wa-node && (cd /tmp/wa-node && npm install playwright-core)
//   WA_NODE_DIR=/tmp/wa-node node src/crypto/testdata/webauthn/record.mjs
//
// It serves an empty page from http://localhost:<port 0>/ (localhost is a secure context), adds
// a CTAP2 "internal" virtual authenticator with user verification, registers one credential per
// algorithm (ES256, EdDSA, RS256 — whichever Chromium supports) and asserts twice with each, so
// the signature counter is seen to increase. All binary fields are base64url without padding.
import { createRequire } from 'node:module';
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const nodeDir = process.env.WA_NODE_DIR || '/tmp/wa-node';
const require = createRequire(path.join(nodeDir, 'package.json'));
const { chromium } = require('playwright-core');
const outDir = path.dirname(fileURLToPath(import.meta.url));
const b64u = (buf) => Buffer.from(buf).toString('base64url');

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/html' });
  res.end('<!doctype html><title>webauthn fixture recorder</title>');
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = server.address().port;
const origin = `http://localhost:${port}`;
const rpId = 'localhost';

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
});
const page = await browser.newPage();
await page.goto(`${origin}/`);
const cdp = await page.context().newCDPSession(page);
await cdp.send('WebAuthn.enable', { enableUI: false });
const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
  options: {
    protocol: 'ctap2',
    transport: 'internal',
    hasResidentKey: true,
    hasUserVerification: true,
    isUserVerified: true,
    automaticPresenceSimulation: true,
  },
});
const version = browser.version();

// Runs in the page: navigator.credentials.create with one algorithm.
async function create(alg, attestation) {
  const challenge = crypto.randomBytes(32);
  const userId = crypto.randomBytes(16);
  const result = await page.evaluate(
    async ({ challenge, userId, alg, rpId, attestation }) => {
      const b64u = (buf) => {
        let s = '';
        for (const byte of new Uint8Array(buf)) s += String.fromCharCode(byte);
        return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
      };
      try {
        const cred = await navigator.credentials.create({
          publicKey: {
            challenge: new Uint8Array(challenge),
            rp: { id: rpId, name: 'EdgeVault fixture' },
            user: { id: new Uint8Array(userId), name: 'alice@example.com', displayName: 'Alice' },
            pubKeyCredParams: [{ type: 'public-key', alg }],
            authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
            attestation,
            timeout: 20000,
          },
        });
        return {
          ok: true,
          credentialId: cred.id,
          clientDataJSON: b64u(cred.response.clientDataJSON),
          attestationObject: b64u(cred.response.attestationObject),
          publicKeyAlgorithm: cred.response.getPublicKeyAlgorithm(),
        };
      } catch (e) {
        return { ok: false, error: `${e.name}: ${e.message}` };
      }
    },
    { challenge: [...challenge], userId: [...userId], alg, rpId, attestation },
  );
  return { challenge: b64u(challenge), ...result };
}

// Runs in the page: navigator.credentials.get for one credential.
async function get(credentialId) {
  const challenge = crypto.randomBytes(32);
  const result = await page.evaluate(
    async ({ challenge, credentialId, rpId }) => {
      const b64u = (buf) => {
        let s = '';
        for (const byte of new Uint8Array(buf)) s += String.fromCharCode(byte);
        return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
      };
      const idBytes = Uint8Array.from(
        atob(credentialId.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
      const cred = await navigator.credentials.get({
        publicKey: {
          challenge: new Uint8Array(challenge),
          rpId,
          allowCredentials: [{ type: 'public-key', id: idBytes }],
          userVerification: 'required',
          timeout: 20000,
        },
      });
      return {
        credentialId: cred.id,
        clientDataJSON: b64u(cred.response.clientDataJSON),
        authenticatorData: b64u(cred.response.authenticatorData),
        signature: b64u(cred.response.signature),
        userHandle: cred.response.userHandle ? b64u(cred.response.userHandle) : null,
      };
    },
    { challenge: [...challenge], credentialId, rpId },
  );
  return { challenge: b64u(challenge), ...result };
}

const cases = [
  { name: 'es256', alg: -7, attestation: 'none' },
  { name: 'eddsa', alg: -8, attestation: 'none' },
  { name: 'rs256', alg: -257, attestation: 'none' },
];
for (const c of cases) {
  const registration = await create(c.alg, c.attestation);
  if (!registration.ok) {
    console.log(`${c.name}: Chromium refused alg ${c.alg}: ${registration.error}`);
    continue;
  }
  delete registration.ok;
  const assertions = [await get(registration.credentialId), await get(registration.credentialId)];
  const fixture = {
    source: `Chromium ${version} CDP virtual authenticator (ctap2, internal, UV), recorded by record.mjs`,
    rpId,
    origin,
    algorithm: c.alg,
    attestation: c.attestation,
    // What the authenticator was configured to report (isUserVerified; no backup eligibility).
    expect: { userVerified: true, backupEligible: false, backedUp: false },
    registration,
    assertions,
  };
  const file = path.join(outDir, `chromium_${c.name}.json`);
  fs.writeFileSync(file, JSON.stringify(fixture, null, 2) + '\n');
  console.log(`${c.name}: wrote ${path.basename(file)}`);
}

await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId });
await browser.close();
server.close();
