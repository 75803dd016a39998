// The audit warehouse on S3-compatible storage (issue 15, docs/audit.md#s3): a real
// `edgevault up` whose audit consumer writes to s3rver (tests/e2e/lib/s3-server.mjs: every
// request's SigV4 signature checked by the AWS SDK's signer) through
// audit.warehouse_url=s3://..., `edgevault audit verify` verifying the objects, a tampered
// object detected, and the objects read back with the AWS SDK (@aws-sdk/client-s3) as
// valid NDJSON whose hash chain links across objects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { S3Client, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { EdgeVault, BIN_DIR } from './lib/edgevault.mjs';

const HERE = path.dirname(new URL(import.meta.url).pathname);
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

// The S3 server as a child process (its ListObjectsV2 tokens need OpenSSL's legacy provider).
async function startS3Server() {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'ev-e2e-s3-'));
  const portFile = path.join(tmp, 'port');
  const proc = spawn(process.execPath,
    ['--openssl-legacy-provider', path.join(HERE, 'lib/s3-server.mjs'), '--dir', path.join(tmp, 'data'),
      '--port-file', portFile], { stdio: ['pipe', 'inherit', 'inherit'] });
  const deadline = Date.now() + 30000;
  for (;;) {
    let text;
    try { text = readFileSync(portFile, 'utf8'); } catch { text = undefined; }
    if (text && Number.parseInt(text, 10) > 0) {
      const port = Number.parseInt(text, 10);
      return {
        port, endpoint: `http://127.0.0.1:${port}`,
        async stop() {
          proc.kill('SIGKILL');
          await new Promise((r) => (proc.exitCode !== null || proc.signalCode !== null ? r() : proc.once('exit', r)));
          rmSync(tmp, { recursive: true, force: true });
        },
      };
    }
    if (proc.exitCode !== null) throw new Error('the S3 server exited');
    if (Date.now() > deadline) throw new Error('the S3 server did not start');
    await new Promise((r) => setTimeout(r, 20));
  }
}

// Every step is bounded, and the last one begun is said when the test fails: this test hung
// once in CI until CTest's 300 s timeout with nothing to show where.
let step = 'start';
function bounded(promise, what, ms = 30000) {
  step = what;
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function verify(url) {
  step = 'edgevault audit verify';
  return spawnSync(path.join(BIN_DIR, 'edgevault'), ['audit', 'verify', '--warehouse-url', url], {
    encoding: 'utf8', timeout: 60000,
    env: { ...process.env, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' },
  });
}

async function body(s3, key) {
  const r = await bounded(s3.send(new GetObjectCommand({ Bucket: 'audit', Key: key })), `GET ${key}`);
  return bounded(r.Body.transformToString(), `read ${key}`);
}

test('the audit consumer writes a hash-chained NDJSON warehouse to S3 that verify and the AWS SDK read', { timeout: 240000 }, async (t) => {
  t.after(() => { if (step !== 'done') t.diagnostic(`last step begun: ${step}`); });
  step = 'start the S3 server';
  const server = await startS3Server();
  t.after(() => server.stop());
  const url = `s3://audit/edgevault/prod?endpoint=${server.endpoint}&region=us-east-1&style=path`;
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
  step = 'edgevault up';
  const ev = await EdgeVault.start({ extraArgs: ['--set', `audit.warehouse_url=${url}`] });
  t.after(() => ev.stop());

  // Audit events: failed logins (each one is recorded), then the owner's login and
  // password change.
  step = 'log in';
  for (let i = 0; i < 2; ++i) {
    const r = await ev.auth('POST', '/v1/login', { body: { email: ev.ownerEmail, password: `wrong ${i}` } });
    assert.equal(r.status, 401, r.text);
  }
  await ev.ownerSession();

  // The consumer drains the queue into the bucket: wait until the audit service says so.
  const s3 = new S3Client({ endpoint: server.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: CREDENTIALS });
  let status;
  const deadline = Date.now() + 60000;
  step = 'wait for the audit consumer';
  for (;;) {
    status = (await ev.call('audit', 'GET', '/v1/audit/status')).json;
    if (status && status.events_written >= 4 && status.queue_depth === 0) break;
    if (Date.now() > deadline) throw new Error(`the audit consumer did not write: ${JSON.stringify(status)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(status.warehouse, 's3://audit/edgevault/prod/');

  // A third-party client lists and reads the objects: valid NDJSON, chained across objects.
  // The services may still record an event meanwhile (the consumer then writes one more
  // object and moves HEAD), so the walk is repeated until HEAD names its last record.
  const walk = async () => {
    const listed = await bounded(s3.send(new ListObjectsV2Command({ Bucket: 'audit', Prefix: 'edgevault/prod/' })),
      'list the objects');
    const keys = listed.Contents.map((o) => o.Key);
    const chainKeys = keys.filter((k) => k.endsWith('.ndjson'));
    assert.ok(chainKeys.length >= 1, keys.join(' '));
    for (const k of chainKeys) {
      assert.match(k, /^edgevault\/prod\/\d{4}\/\d{2}\/\d{2}\/\d{2}\/node-1-\d{10}\.ndjson$/);
    }
    assert.ok(keys.includes('edgevault/prod/node-1.head'), keys.join(' '));
    chainKeys.sort((a, b) => a.slice(-17).localeCompare(b.slice(-17)));  // by seq
    let prev = '0'.repeat(64);
    let records = 0;
    const actions = new Set();
    for (const k of chainKeys) {
      const text = await body(s3, k);
      assert.ok(text.endsWith('\n'), `${k} ends with a newline`);
      for (const line of text.slice(0, -1).split('\n')) {
        const rec = JSON.parse(line);
        assert.equal(rec.prev_hash, prev, `${k}: prev_hash links to the previous record`);
        // hash = SHA-256(prev_hash || the line without its two chain members).
        const canonical = line.slice(0, line.lastIndexOf(',"prev_hash":')) + '}';
        assert.equal(rec.hash, createHash('sha256').update(prev + canonical).digest('hex'));
        prev = rec.hash;
        actions.add(rec.action);
        ++records;
      }
    }
    const head = JSON.parse(await body(s3, 'edgevault/prod/node-1.head'));
    return { chainKeys, records, actions, prev, head };
  };
  let seen = await walk();
  for (let i = 0; i < 20 && seen.head.hash !== seen.prev; ++i) {
    await new Promise((r) => setTimeout(r, 250));
    seen = await walk();
  }
  const { chainKeys, records, actions, prev, head } = seen;
  assert.ok(records >= 4, `records: ${records}`);
  assert.ok([...actions].some((a) => a.startsWith('auth.login')), [...actions].join(' '));
  assert.equal(head.hash, prev, 'HEAD names the last record');

  // `edgevault audit verify` on the objects.
  let v = verify(url);
  assert.equal(v.status, 0, v.stdout + v.stderr);
  // At least what the walk saw (an event recorded since adds to both counts).
  const ok = v.stdout.match(/OK: (\d+) event\(s\) in (\d+) file\(s\), 1 chain\(s\) intact \(s3:\/\/audit\/edgevault\/prod\/\)/);
  assert.ok(ok, v.stdout);
  assert.ok(Number(ok[1]) >= records && Number(ok[2]) >= chainKeys.length, v.stdout);

  // Tamper: edit a field of the first record. verify names the object and the line.
  const first = chainKeys[0];
  const original = await body(s3, first);
  const tampered = original.replace(/"outcome":"[a-z]+"/, '"outcome":"tampered"');
  assert.notEqual(tampered, original);
  await bounded(s3.send(new PutObjectCommand({ Bucket: 'audit', Key: first, Body: tampered })), `PUT ${first}`);
  v = verify(url);
  assert.equal(v.status, 1, v.stdout + v.stderr);
  assert.match(v.stdout, new RegExp(`BROKEN: s3://audit/${first.replace(/[.]/g, '\\.')} line 1: hash mismatch`));

  // Wrong credentials are refused by the store and reported, not taken for an empty warehouse.
  step = 'verify with wrong credentials';
  const denied = spawnSync(path.join(BIN_DIR, 'edgevault'), ['audit', 'verify', '--warehouse-url', url], {
    encoding: 'utf8', timeout: 60000, env: { ...process.env, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'wrong' },
  });
  assert.equal(denied.status, 1, denied.stdout + denied.stderr);
  assert.match(denied.stderr, /SignatureDoesNotMatch/);
  step = 'done';
});
