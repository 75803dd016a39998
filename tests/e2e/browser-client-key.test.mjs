// Client SDK keys in a real browser (issue 19; docs/delivery.md "Client keys",
// docs/connect-your-app.md "Browser"): Debian's Chromium through playwright-core loads a page
// bundled by esbuild (tests/e2e/pages/client-key-page.mjs: @openfeature/web-sdk with
// @openfeature/ofrep-web-provider) from one 127.0.0.1 origin and reads delivery with a client
// key that lists that origin:
//   - it gets the client-visible flags and config, never a server-only item (FLAG_NOT_FOUND,
//     and the client document the page fetches holds none);
//   - the same page served from another origin (another port) is refused by CORS: the
//     provider errors and Chromium reports the CORS block;
//   - a page using a server key gets no CORS headers, so the browser blocks it too, and
//     delivery's answers to server keys carry no Access-Control-* header at all.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { EdgeVault } from './lib/edgevault.mjs';
import { launchChromium } from './lib/browser.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
let ev, browser, bundleDir, pageA, pageB, clientKey, serverKey;

// A static server for the page: GET / → the HTML, GET /page.js → the bundle.
function servePage(js) {
  const html = '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>client key</title></head>' +
    '<body><script src="/page.js"></script></body></html>';
  const server = http.createServer((req, res) => {
    if (req.url.startsWith('/page.js')) {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(js);
    } else {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(html);
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    resolve({ server, origin: `http://127.0.0.1:${server.address().port}` });
  }));
}

before(async () => {
  bundleDir = mkdtempSync(path.join(os.tmpdir(), 'ev-client-page-'));
  await esbuild.build({
    entryPoints: [path.join(here, 'pages/client-key-page.mjs')],
    bundle: true, format: 'iife', target: 'chrome100', outfile: path.join(bundleDir, 'page.js'), logLevel: 'error',
  });
  const js = readFileSync(path.join(bundleDir, 'page.js'), 'utf8');
  pageA = await servePage(js);
  pageB = await servePage(js);

  ev = await EdgeVault.start();
  const api = (method, target, body) => ev.call('api', method, target, { body, bearer: ev.adminKey });
  const ok = async (p, status = 200) => { const r = await p; assert.equal(r.status, status, r.text); return r; };
  await ok(api('POST', '/v1/workspaces', { key: 'web', name: 'Web' }), 201);
  await ok(api('POST', '/v1/workspaces/web/environments', { key: 'prod', name: 'Production', reason: 'setup' }), 201);
  const bool = (on, extra = {}) => ({
    variations: [{ value: false, name: 'off' }, { value: true, name: 'on' }],
    environments: { prod: { on: true, rules: [{ clauses: [{ attribute: 'plan', op: 'in', values: ['pro'] }], variation: 1 }], fallthrough: { variation: on ? 1 : 0 } } },
    ...extra,
  });
  await ok(api('PUT', '/v1/workspaces/web/flags/new-checkout', { ...bool(false, { client_visible: true }), reason: 'web' }));
  await ok(api('PUT', '/v1/workspaces/web/flags/dark-mode', { ...bool(true, { client_visible: true }), reason: 'web' }));
  await ok(api('PUT', '/v1/workspaces/web/flags/internal-kill', { ...bool(true), reason: 'server only' }));
  await ok(api('PUT', '/v1/workspaces/web/configs/ui.theme', { type: 'string', client_visible: true, values: { prod: 'ocean' }, reason: 'web' }));
  await ok(api('PUT', '/v1/workspaces/web/configs/db.password-hint', { type: 'string', values: { prod: 'server-only-value' }, reason: 'server only' }));
  await ok(api('PUT', '/v1/workspaces/web/secrets/stripe.key', { values: { prod: 'sk_live_never_in_a_browser' }, reason: 'server only' }));

  // A bad origin is a 400 naming it; a server key takes no origins.
  const wild = await api('POST', '/v1/workspaces/web/environments/prod/sdk-keys', { kind: 'client', origins: ['https://*.example'] });
  assert.equal(wild.status, 400, wild.text);
  assert.match(wild.text, /origins\[0\]/);
  const serverWithOrigins = await api('POST', '/v1/workspaces/web/environments/prod/sdk-keys', { origins: [pageA.origin] });
  assert.equal(serverWithOrigins.status, 400, serverWithOrigins.text);

  const ck = await ok(api('POST', '/v1/workspaces/web/environments/prod/sdk-keys', { name: 'web app', kind: 'client', origins: [pageA.origin] }), 201);
  clientKey = ck.json.key;
  assert.match(clientKey, /^evc_/);
  assert.equal(ck.json.kind, 'client');
  assert.deepEqual(ck.json.origins, [pageA.origin]);
  const sk = await ok(api('POST', '/v1/workspaces/web/environments/prod/sdk-keys', { name: 'backend' }), 201);
  serverKey = sk.json.key;
  assert.match(serverKey, /^evs_/);
  const listed = await ok(api('GET', '/v1/workspaces/web/sdk-keys'));
  assert.deepEqual(listed.json.sdk_keys.map((k) => [k.name, k.kind, k.origins]),
    [['web app', 'client', [pageA.origin]], ['backend', 'server', []]]);

  // Propagation runs after the write answered: wait until delivery serves the client document.
  const deadline = Date.now() + 30000;
  for (;;) {
    const r = await ev.call('delivery', 'GET', '/v1/config', { bearer: clientKey });
    if (r.status === 200 && r.json?.flags?.['dark-mode'] && r.json?.configs?.['ui.theme']) break;
    if (Date.now() > deadline) throw new Error(`the client document never arrived: ${r.status} ${r.text}`);
    await new Promise((res) => setTimeout(res, 50));
  }
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await ev?.stop();
  pageA?.server.close();
  pageB?.server.close();
  if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
});

// Opens the page on `origin` and returns window.__result plus the console messages.
async function runPage(origin, base, { user = 'user-1', plan = 'pro', flags = [] } = {}) {
  const page = await browser.newPage();
  const consoleMessages = [];
  page.on('console', (m) => consoleMessages.push(m.text()));
  const q = new URLSearchParams({ base, user, plan, flags: flags.join(',') });
  await page.goto(`${origin}/?${q}`);
  const result = await page.evaluate(() => window.__result);
  return { page, result, consoleMessages };
}

test('a page on a listed origin gets the client-visible flags and config, never a server-only item', async () => {
  const base = `${ev.url('delivery')}/client/${clientKey}`;
  const { page, result } = await runPage(pageA.origin, base,
    { flags: ['new-checkout', 'dark-mode', 'internal-kill', 'no-such-flag', 'ui.theme', 'db.password-hint', 'stripe.key'] });
  try {
    assert.equal(result.error, undefined, JSON.stringify(result));
    assert.equal(result.ready, true);
    assert.deepEqual(result.values['new-checkout'], { value: true, reason: 'TARGETING_MATCH', variant: 'on', errorCode: null });
    assert.deepEqual(result.values['dark-mode'].value, true);
    assert.equal(result.values['ui.theme'].value, 'ocean');
    assert.equal(result.values['ui.theme'].reason, 'STATIC');
    // Server-only items and secrets look exactly like keys that do not exist.
    for (const hidden of ['internal-kill', 'db.password-hint', 'stripe.key', 'no-such-flag']) {
      assert.equal(result.values[hidden].errorCode, 'FLAG_NOT_FOUND', hidden);
      assert.equal(result.values[hidden].reason, 'ERROR', hidden);
    }
    // What the page can fetch itself: the client document and a single evaluation.
    const fetched = await page.evaluate(async (b) => {
      const doc = await fetch(`${b}/v1/config`);
      const one = await fetch(`${b}/ofrep/v1/evaluate/flags/internal-kill`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"context":{"targetingKey":"u"}}',
      });
      return { status: doc.status, etag: doc.headers.get('etag'), body: await doc.text(), oneStatus: one.status, one: await one.json() };
    }, base);
    assert.equal(fetched.status, 200);
    assert.ok(fetched.etag, 'ETag is exposed to the page');
    const doc = JSON.parse(fetched.body);
    assert.equal(doc.audience, 'client');
    assert.deepEqual(Object.keys(doc.flags).sort(), ['dark-mode', 'new-checkout']);
    assert.deepEqual(Object.keys(doc.configs), ['ui.theme']);
    for (const secret of ['internal-kill', 'db.password-hint', 'server-only-value', 'stripe', 'sk_live']) {
      assert.equal(fetched.body.includes(secret), false, secret);
    }
    assert.equal(fetched.oneStatus, 404);
    assert.equal(fetched.one.errorCode, 'FLAG_NOT_FOUND');
  } finally {
    await page.close();
  }
});

test('the same page on an origin the key does not list is refused by CORS', async () => {
  const base = `${ev.url('delivery')}/client/${clientKey}`;
  const { page, result, consoleMessages } = await runPage(pageB.origin, base, { flags: ['new-checkout'] });
  try {
    assert.equal(result.ready, false, JSON.stringify(result));
    assert.ok(result.error || result.providerError, 'the provider reports an error');
    assert.equal(result.values['new-checkout'].value, false);  // the caller's default
    assert.equal(result.values['new-checkout'].reason, 'ERROR');
    assert.ok(consoleMessages.some((m) => /CORS/i.test(m)), `Chromium reports a CORS block: ${consoleMessages.join(' | ')}`);
    const direct = await page.evaluate(async (b) => {
      try { await fetch(`${b}/v1/config`); return 'read'; } catch (e) { return `${e.name}: ${e.message}`; }
    }, base);
    assert.match(direct, /TypeError/);
  } finally {
    await page.close();
  }
  // What the browser got: a refused preflight, without Access-Control-Allow-Origin.
  const preflight = await fetch(`${base}/ofrep/v1/evaluate/flags`, {
    method: 'OPTIONS', headers: { origin: pageB.origin, 'access-control-request-method': 'POST' },
  });
  assert.equal(preflight.status, 403);
  assert.equal(preflight.headers.get('access-control-allow-origin'), null);
  const allowed = await fetch(`${base}/ofrep/v1/evaluate/flags`, {
    method: 'OPTIONS', headers: { origin: pageA.origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
  });
  assert.equal(allowed.status, 204);
  assert.equal(allowed.headers.get('access-control-allow-origin'), pageA.origin);
  assert.equal(allowed.headers.get('vary'), 'Origin');
});

test('a server key gets no CORS headers, so a page cannot use it', async () => {
  for (const [method, target, body] of [['GET', '/v1/config'], ['POST', '/ofrep/v1/evaluate/flags', {}],
    ['POST', '/ofrep/v1/evaluate/flags/internal-kill', {}]]) {
    const r = await ev.call('delivery', method, target, { bearer: serverKey, body, headers: { origin: pageA.origin } });
    assert.equal(r.status, 200, `${target}: ${r.text}`);
    const cors = [...r.headers.keys()].filter((h) => h.startsWith('access-control-') || h === 'vary');
    assert.deepEqual(cors, [], target);
  }
  const onClientRoute = await fetch(`${ev.url('delivery')}/client/${serverKey}/ofrep/v1/evaluate/flags`, {
    method: 'OPTIONS', headers: { origin: pageA.origin, 'access-control-request-method': 'POST' },
  });
  assert.equal(onClientRoute.status, 403);
  assert.equal(onClientRoute.headers.get('access-control-allow-origin'), null);

  const page = await browser.newPage();
  const consoleMessages = [];
  page.on('console', (m) => consoleMessages.push(m.text()));
  try {
    await page.goto(`${pageA.origin}/`);
    const outcome = await page.evaluate(async ({ url, key }) => {
      try {
        const r = await fetch(`${url}/ofrep/v1/evaluate/flags`, {
          method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: '{}',
        });
        return `read ${r.status}`;
      } catch (e) { return `${e.name}: ${e.message}`; }
    }, { url: ev.url('delivery'), key: serverKey });
    assert.match(outcome, /TypeError/);
    assert.ok(consoleMessages.some((m) => /CORS/i.test(m)), consoleMessages.join(' | '));
  } finally {
    await page.close();
  }
});
