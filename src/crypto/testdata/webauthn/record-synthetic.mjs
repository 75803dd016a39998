// Generates WebAuthn ceremonies with Node's own crypto acting as the authenticator, writing
// synthetic_*.json beside this file in the same shape as record.mjs's Chromium fixtures.
// These cover what the browser recording does not: "packed" self-attestation, authenticator
// extensions after the COSE key (ED flag), backup flags (BE/BS), counterless passkeys (count
// stays 0), a nonzero initial count, and an authenticator without user verification (UV clear). Re-run with:
//
//   node src/crypto/testdata/webauthn/record-synthetic.mjs
//
// CBOR is encoded by hand below (definite lengths, shortest-form heads, as CTAP2 does).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const outDir = path.dirname(fileURLToPath(import.meta.url));
const b64u = (buf) => Buffer.from(buf).toString('base64url');
const sha256 = (data) => crypto.createHash('sha256').update(data).digest();

function head(major, n) {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
  if (n < 0x10000) return Buffer.from([(major << 5) | 25, n >> 8, n & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}

// number → int, Buffer → byte string, string → text, Array → array, Map → map (keys in
// insertion order), plain object → map with text keys.
function cbor(v) {
  if (typeof v === 'number') return v >= 0 ? head(0, v) : head(1, -1 - v);
  if (Buffer.isBuffer(v)) return Buffer.concat([head(2, v.length), v]);
  if (typeof v === 'string') {
    const t = Buffer.from(v, 'utf8');
    return Buffer.concat([head(3, t.length), t]);
  }
  if (Array.isArray(v)) return Buffer.concat([head(4, v.length), ...v.map(cbor)]);
  const entries = v instanceof Map ? [...v.entries()] : Object.entries(v);
  return Buffer.concat([head(5, entries.length), ...entries.flatMap(([k, x]) => [cbor(k), cbor(x)])]);
}

const FLAG_UP = 0x01, FLAG_UV = 0x04, FLAG_BE = 0x08, FLAG_BS = 0x10, FLAG_AT = 0x40, FLAG_ED = 0x80;

function coseKey(alg, publicKey) {
  const jwk = publicKey.export({ format: 'jwk' });
  const x = (s) => Buffer.from(s, 'base64url');
  if (alg === -7) return new Map([[1, 2], [3, -7], [-1, 1], [-2, x(jwk.x)], [-3, x(jwk.y)]]);
  if (alg === -8) return new Map([[1, 1], [3, -8], [-1, 6], [-2, x(jwk.x)]]);
  return new Map([[1, 3], [3, -257], [-1, x(jwk.n)], [-2, x(jwk.e)]]);
}

function sign(alg, privateKey, data) {
  return crypto.sign(alg === -8 ? null : 'sha256', data, privateKey);  // ECDSA → DER
}

function authData(rpId, flags, count, attested, extensions) {
  const c = Buffer.alloc(4);
  c.writeUInt32BE(count);
  const parts = [sha256(rpId), Buffer.from([flags]), c];
  if (attested) {
    const len = Buffer.alloc(2);
    len.writeUInt16BE(attested.credentialId.length);
    parts.push(attested.aaguid, len, attested.credentialId, cbor(attested.cose));
  }
  if (extensions) parts.push(cbor(extensions));
  return Buffer.concat(parts);
}

function clientData(type, challenge, origin) {
  return Buffer.from(JSON.stringify({ type, challenge: b64u(challenge), origin, crossOrigin: false }));
}

const rpId = 'edgevault.test';
const origin = 'https://edgevault.test';

const cases = [
  // name, alg, key generation, counts (registration, then two assertions), flags
  { name: 'es256_packed', alg: -7, gen: () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }),
    counts: [0, 1, 2], backup: false, extensions: { credProtect: 2 } },
  { name: 'eddsa_packed', alg: -8, gen: () => crypto.generateKeyPairSync('ed25519'),
    counts: [0, 0, 0], backup: true, extensions: null },
  { name: 'rs256_packed', alg: -257, gen: () => crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }),
    counts: [5, 6, 9], backup: false, extensions: { credProtect: 1 } },
  { name: 'es256_none_no_uv', alg: -7, gen: () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }),
    counts: [0, 1, 2], backup: false, extensions: null, fmt: 'none', uv: false },
];

for (const c of cases) {
  const { publicKey, privateKey } = c.gen();
  const credentialId = crypto.randomBytes(32);
  const aaguid = crypto.randomBytes(16);
  const backupFlags = c.backup ? FLAG_BE | FLAG_BS : 0;
  const uvFlag = c.uv === false ? 0 : FLAG_UV;
  const fmt = c.fmt || 'packed';

  const regChallenge = crypto.randomBytes(32);
  const regClientData = clientData('webauthn.create', regChallenge, origin);
  const regFlags = FLAG_UP | uvFlag | FLAG_AT | backupFlags | (c.extensions ? FLAG_ED : 0);
  const regAuthData = authData(rpId, regFlags, c.counts[0],
    { aaguid, credentialId, cose: coseKey(c.alg, publicKey) }, c.extensions);
  const attStmt = fmt === 'none' ? {}
    : { alg: c.alg, sig: sign(c.alg, privateKey, Buffer.concat([regAuthData, sha256(regClientData)])) };
  const attestationObject = cbor({ fmt, attStmt, authData: regAuthData });

  const assertions = c.counts.slice(1).map((count) => {
    const challenge = crypto.randomBytes(32);
    const cd = clientData('webauthn.get', challenge, origin);
    const ad = authData(rpId, FLAG_UP | uvFlag | backupFlags, count, null, null);
    return {
      challenge: b64u(challenge),
      credentialId: b64u(credentialId),
      clientDataJSON: b64u(cd),
      authenticatorData: b64u(ad),
      signature: b64u(sign(c.alg, privateKey, Buffer.concat([ad, sha256(cd)]))),
    };
  });

  const fixture = {
    source: `Node ${process.version} crypto as authenticator, ${fmt} attestation, by record-synthetic.mjs`,
    rpId,
    origin,
    algorithm: c.alg,
    attestation: fmt,
    expect: { userVerified: c.uv !== false, backupEligible: c.backup, backedUp: c.backup },
    registration: {
      challenge: b64u(regChallenge),
      credentialId: b64u(credentialId),
      clientDataJSON: b64u(regClientData),
      attestationObject: b64u(attestationObject),
    },
    assertions,
  };
  const file = path.join(outDir, `synthetic_${c.name}.json`);
  fs.writeFileSync(file, JSON.stringify(fixture, null, 2) + '\n');
  console.log(`${c.name}: wrote ${path.basename(file)}`);
}
