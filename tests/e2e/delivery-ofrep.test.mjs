// OpenFeature's own server SDK with its OFREP provider (@openfeature/ofrep-provider)
// evaluates flags and configs against a running edgevault-delivery: values, variants and
// reasons as docs/delivery.md maps them, and a bad SDK key is refused (401).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { OpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { EdgeVault } from './lib/edgevault.mjs';

let ev;
let sdkKey;
before(async () => {
  ev = await EdgeVault.start();
  const api = (method, target, body) => ev.call('api', method, target, { body, bearer: ev.adminKey });
  let r = await api('POST', '/v1/workspaces', { key: 'shop', name: 'Shop' });
  assert.equal(r.status, 201, r.text);
  r = await api('POST', '/v1/workspaces/shop/environments', { key: 'prod', name: 'Production', reason: 'setup' });
  assert.equal(r.status, 201, r.text);
  r = await api('PUT', '/v1/workspaces/shop/flags/new-checkout', {
    variations: [{ value: false, name: 'old' }, { value: true, name: 'new' }],
    environments: {
      prod: {
        on: true,
        off_variation: 0,
        rules: [{ clauses: [{ attribute: 'plan', op: 'in', values: ['pro'] }], variation: 1 }],
        fallthrough: { variation: 0 },
      },
    },
    reason: 'launch',
  });
  assert.equal(r.status, 200, r.text);
  r = await api('PUT', '/v1/workspaces/shop/flags/banner', {
    variations: [{ value: 'blue' }, { value: 'green' }],
    environments: { prod: { on: true, fallthrough: { variation: 1 } } },
    reason: 'colour',
  });
  assert.equal(r.status, 200, r.text);
  r = await api('PUT', '/v1/workspaces/shop/flags/layout', {
    variations: [{ value: { columns: 2 }, name: 'narrow' }, { value: { columns: 3 }, name: 'wide' }],
    environments: {
      prod: { on: true, fallthrough: { rollout: [{ variation: 0, weight: 30000 }, { variation: 1, weight: 70000 }] } },
    },
    reason: 'experiment',
  });
  assert.equal(r.status, 200, r.text);
  r = await api('PUT', '/v1/workspaces/shop/configs/db.pool', { type: 'integer', values: { prod: 12 }, reason: 'sizing' });
  assert.equal(r.status, 200, r.text);
  r = await api('POST', '/v1/workspaces/shop/environments/prod/sdk-keys', { name: 'e2e' });
  assert.equal(r.status, 201, r.text);
  sdkKey = r.json.key;
  assert.match(sdkKey, /^evs_/);
  // Propagation is asynchronous: wait until delivery serves a document with all three items.
  const deadline = Date.now() + 20000;
  for (;;) {
    const c = await ev.call('delivery', 'GET', '/v1/config', { bearer: sdkKey });
    if (c.status === 200 && c.json?.flags?.banner && c.json?.flags?.layout && c.json?.flags?.['new-checkout'] && c.json?.configs?.['db.pool']) break;
    if (Date.now() > deadline) throw new Error(`delivery never served the document: ${c.status} ${c.text}`);
    await new Promise((res) => setTimeout(res, 50));
  }
});
after(async () => {
  await OpenFeature.close();
  await ev?.stop();
});

test('OFREP provider evaluates rules, fallthrough and configs through delivery', async () => {
  await OpenFeature.setProviderAndWait('edgevault', new OFREPProvider({
    baseUrl: ev.url('delivery'),
    headers: [['Authorization', `Bearer ${sdkKey}`]],
  }));
  const client = OpenFeature.getClient('edgevault');

  const match = await client.getBooleanDetails('new-checkout', false, { targetingKey: 'u1', plan: 'pro' });
  assert.equal(match.value, true, JSON.stringify(match));
  assert.equal(match.reason, 'TARGETING_MATCH');
  assert.equal(match.variant, 'new');
  assert.equal(match.errorCode, undefined);

  const fall = await client.getBooleanDetails('new-checkout', true, { targetingKey: 'u2', plan: 'free' });
  assert.equal(fall.value, false, JSON.stringify(fall));
  assert.equal(fall.reason, 'DEFAULT');
  assert.equal(fall.variant, 'old');

  const banner = await client.getStringDetails('banner', 'none', { targetingKey: 'u3' });
  assert.equal(banner.value, 'green', JSON.stringify(banner));
  assert.equal(banner.reason, 'DEFAULT');
  assert.equal(banner.variant, '1');  // no name: the variation's index

  const pool = await client.getNumberDetails('db.pool', 0, { targetingKey: 'u4' });
  assert.equal(pool.value, 12, JSON.stringify(pool));
  assert.equal(pool.reason, 'STATIC');

  const missing = await client.getBooleanDetails('no-such-flag', true, { targetingKey: 'u5' });
  assert.equal(missing.value, true);
  assert.equal(missing.reason, 'ERROR');
  assert.equal(missing.errorCode, 'FLAG_NOT_FOUND');
});

test('an object flag with a 30/70 rollout splits 10,000 keys within 1% of its weights', async () => {
  await OpenFeature.setProviderAndWait('rollout', new OFREPProvider({
    baseUrl: ev.url('delivery'),
    headers: [['X-API-Key', sdkKey]],
  }));
  const client = OpenFeature.getClient('rollout');
  const one = await client.getObjectDetails('layout', {}, { targetingKey: 'user-0' });
  assert.equal(one.reason, 'SPLIT', JSON.stringify(one));
  assert.ok(one.variant === 'narrow' || one.variant === 'wide');
  assert.deepEqual(one.value, one.variant === 'narrow' ? { columns: 2 } : { columns: 3 });
  // The same key always lands in the same bucket.
  const again = await client.getObjectDetails('layout', {}, { targetingKey: 'user-0' });
  assert.equal(again.variant, one.variant);
  let narrow = 0;
  const n = 10000;
  for (let i = 0; i < n; i += 100) {
    const batch = [];
    for (let j = i; j < i + 100; j++) batch.push(client.getObjectDetails('layout', {}, { targetingKey: `user-${j}` }));
    for (const d of await Promise.all(batch)) {
      assert.equal(d.reason, 'SPLIT');
      if (d.variant === 'narrow') narrow++;
    }
  }
  assert.ok(Math.abs(narrow / n - 0.3) <= 0.01, `narrow share ${narrow / n}`);
});

test('a bad SDK key is refused with 401, and the provider falls back to the default', async () => {
  const raw = await fetch(ev.url('delivery') + '/ofrep/v1/evaluate/flags/new-checkout', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer evs_not_a_real_key' },
    body: JSON.stringify({ context: { targetingKey: 'u1' } }),
  });
  assert.equal(raw.status, 401);
  const none = await fetch(ev.url('delivery') + '/v1/config');
  assert.equal(none.status, 401);

  await OpenFeature.setProviderAndWait('bad-key', new OFREPProvider({
    baseUrl: ev.url('delivery'),
    headers: [['X-API-Key', 'evs_not_a_real_key']],
  }));
  const details = await OpenFeature.getClient('bad-key')
    .getBooleanDetails('new-checkout', false, { targetingKey: 'u1', plan: 'pro' });
  assert.equal(details.value, false, JSON.stringify(details));
  assert.equal(details.reason, 'ERROR');
});
