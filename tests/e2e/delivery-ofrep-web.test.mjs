// OpenFeature's web SDK with its OFREP web provider (@openfeature/ofrep-web-provider) against a
// running edgevault-delivery, in node (it needs only `fetch`). The web provider fetches every
// flag at once (bulk POST /ofrep/v1/evaluate/flags) per context and answers evaluations from
// that cache: values, variants and reasons as docs/delivery.md maps them, configs (STATIC),
// FLAG_NOT_FOUND, a three-way rollout over 10,000 targeting keys, the bulk ETag when only
// attributes change (the provider re-sends its old ETag), and the per-SDK-key rate limit
// (429 + Retry-After) on a second instance started with a low limit, for the web provider
// and (last test) for the server provider of delivery-ofrep.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { OpenFeature, ClientProviderEvents } from '@openfeature/web-sdk';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';
import { OpenFeature as ServerOpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { EdgeVault } from './lib/edgevault.mjs';

// A fetch that records what the provider sent and got: If-None-Match, status, ETag.
function recordingFetch(log) {
  return async (req, init) => {
    const sent = { ifNoneMatch: req.headers.get('if-none-match'), context: JSON.parse(await req.clone().text()).context };
    const res = await fetch(req, init);
    log.push({ ...sent, url: req.url, status: res.status, etag: res.headers.get('etag'), retryAfter: res.headers.get('retry-after') });
    return res;
  };
}

function webProvider(ev, sdkKey, log) {
  return new OFREPWebProvider({
    baseUrl: ev.url('delivery'),
    headers: [['Authorization', `Bearer ${sdkKey}`]],
    // No localStorage in node; 'disabled' makes every context change a network fetch.
    cacheMode: 'disabled',
    fetchImplementation: log ? recordingFetch(log) : undefined,
  });
}

async function setUpWorkspace(ev) {
  const api = (method, target, body) => ev.call('api', method, target, { body, bearer: ev.adminKey });
  const ok = async (p, status = 200) => { const r = await p; assert.equal(r.status, status, r.text); return r; };
  await ok(api('POST', '/v1/workspaces', { key: 'web', name: 'Web' }), 201);
  await ok(api('POST', '/v1/workspaces/web/environments', { key: 'prod', name: 'Production', reason: 'setup' }), 201);
  await ok(api('PUT', '/v1/workspaces/web/flags/new-checkout', {
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
  }));
  await ok(api('PUT', '/v1/workspaces/web/flags/banner', {
    variations: [{ value: 'blue' }, { value: 'green' }],
    environments: { prod: { on: true, fallthrough: { variation: 1 } } },
    reason: 'colour',
  }));
  await ok(api('PUT', '/v1/workspaces/web/flags/max-items', {
    variations: [{ value: 10, name: 'few' }, { value: 50, name: 'many' }],
    environments: {
      prod: {
        on: true,
        rules: [{ clauses: [{ attribute: 'country', op: 'in', values: ['de', 'fr'] }], variation: 1 }],
        fallthrough: { variation: 0 },
      },
    },
    reason: 'eu',
  }));
  await ok(api('PUT', '/v1/workspaces/web/flags/layout', {
    variations: [{ value: { columns: 1 }, name: 'compact' }, { value: { columns: 2 }, name: 'narrow' }, { value: { columns: 3 }, name: 'wide' }],
    environments: {
      prod: {
        on: true,
        fallthrough: { rollout: [{ variation: 0, weight: 20000 }, { variation: 1, weight: 30000 }, { variation: 2, weight: 50000 }] },
      },
    },
    reason: 'experiment',
  }));
  await ok(api('PUT', '/v1/workspaces/web/configs/db.pool', { type: 'integer', values: { prod: 12 }, reason: 'sizing' }));
  await ok(api('PUT', '/v1/workspaces/web/configs/support.email', { type: 'string', values: { prod: 'help@example.com' }, reason: 'contact' }));
  const key = (await ok(api('POST', '/v1/workspaces/web/environments/prod/sdk-keys', { name: 'web-e2e' }), 201)).json.key;
  assert.match(key, /^evs_/);
  // Propagation is asynchronous: wait until delivery serves every item.
  const deadline = Date.now() + 20000;
  for (;;) {
    const c = await ev.call('delivery', 'GET', '/v1/config', { bearer: key });
    const f = c.json?.flags ?? {};
    if (c.status === 200 && f['new-checkout'] && f.banner && f['max-items'] && f.layout &&
        c.json?.configs?.['db.pool'] && c.json?.configs?.['support.email']) break;
    if (Date.now() > deadline) throw new Error(`delivery never served the document: ${c.status} ${c.text}`);
    await new Promise((res) => setTimeout(res, 50));
  }
  return key;
}

let ev;
let sdkKey;
let limited;  // a second instance: OFREP limited to 1 request/s per SDK key, bursts of 2
let limitedKey;
before(async () => {
  [ev, limited] = await Promise.all([
    EdgeVault.start(),
    EdgeVault.start({ extraArgs: ['--set', 'delivery.ofrep_rate_limit_per_second=1', '--set', 'delivery.ofrep_rate_limit_burst=2'] }),
  ]);
  [sdkKey, limitedKey] = await Promise.all([setUpWorkspace(ev), setUpWorkspace(limited)]);
});
after(async () => {
  await OpenFeature.close();
  await ServerOpenFeature.close();
  await Promise.all([ev?.stop(), limited?.stop()]);
});

test('web provider evaluates boolean, string, number and object flags, configs and FLAG_NOT_FOUND', async () => {
  await OpenFeature.setProviderAndWait('values', webProvider(ev, sdkKey),
    { targetingKey: 'u1', plan: 'pro', country: 'de' });
  const client = OpenFeature.getClient('values');

  const checkout = client.getBooleanDetails('new-checkout', false);
  assert.equal(checkout.value, true, JSON.stringify(checkout));
  assert.equal(checkout.variant, 'new');
  assert.equal(checkout.reason, 'TARGETING_MATCH');
  assert.equal(checkout.errorCode, undefined);
  assert.equal(typeof checkout.flagMetadata.version, 'number');

  const banner = client.getStringDetails('banner', 'none');
  assert.equal(banner.value, 'green', JSON.stringify(banner));
  assert.equal(banner.variant, '1');  // no name: the variation's index
  assert.equal(banner.reason, 'DEFAULT');

  const items = client.getNumberDetails('max-items', 0);
  assert.equal(items.value, 50, JSON.stringify(items));
  assert.equal(items.variant, 'many');
  assert.equal(items.reason, 'TARGETING_MATCH');

  const layout = client.getObjectDetails('layout', {});
  assert.equal(layout.reason, 'SPLIT', JSON.stringify(layout));
  const columns = { compact: 1, narrow: 2, wide: 3 }[layout.variant];
  assert.ok(columns, JSON.stringify(layout));
  assert.deepEqual(layout.value, { columns });

  // Config items come through OFREP too: reason STATIC, no variant, metadata kind "config".
  const pool = client.getNumberDetails('db.pool', 0);
  assert.equal(pool.value, 12, JSON.stringify(pool));
  assert.equal(pool.reason, 'STATIC');
  assert.equal(pool.variant, undefined);
  assert.equal(pool.flagMetadata.kind, 'config');
  const email = client.getStringDetails('support.email', '');
  assert.equal(email.value, 'help@example.com', JSON.stringify(email));
  assert.equal(email.reason, 'STATIC');

  // A key the bulk answer does not hold: the provider's own FLAG_NOT_FOUND, caller's default.
  const missing = client.getBooleanDetails('no-such-flag', true);
  assert.equal(missing.value, true, JSON.stringify(missing));
  assert.equal(missing.reason, 'ERROR');
  assert.equal(missing.errorCode, 'FLAG_NOT_FOUND');
  // The wrong type is the SDK's TYPE_MISMATCH, with the default.
  const wrongType = client.getBooleanDetails('banner', false);
  assert.equal(wrongType.value, false, JSON.stringify(wrongType));
  assert.equal(wrongType.errorCode, 'TYPE_MISMATCH');
});

test('context changes: the old ETag gets 304 only while the evaluated result is unchanged', async () => {
  const log = [];
  await OpenFeature.setProviderAndWait('etag', webProvider(ev, sdkKey, log),
    { targetingKey: 'u1', plan: 'pro', country: 'de' });
  const client = OpenFeature.getClient('etag');
  const changed = [];
  client.addHandler(ClientProviderEvents.ConfigurationChanged, (d) => changed.push(d));
  assert.equal(log.length, 1);
  assert.equal(log[0].status, 200);
  assert.equal(log[0].ifNoneMatch, null);
  const first = log[0].etag;
  assert.match(first, /^"[0-9a-f]{32}"$/);
  assert.equal(client.getBooleanValue('new-checkout', false), true);

  // An attribute no rule reads: same targetingKey, so the provider re-sends its ETag; the
  // evaluated result is the same, so 304 and the cached values stay.
  await OpenFeature.setContext('etag', { targetingKey: 'u1', plan: 'pro', country: 'de', browser: 'firefox' });
  assert.equal(log.length, 2);
  assert.equal(log[1].ifNoneMatch, first);
  assert.deepEqual(log[1].context, { targetingKey: 'u1', plan: 'pro', country: 'de', browser: 'firefox' });
  assert.equal(log[1].status, 304);
  assert.equal(client.getBooleanValue('new-checkout', false), true);
  assert.equal(client.getNumberValue('max-items', 0), 50);

  // An attribute a rule reads: the provider still sends the old ETag (targetingKey is the
  // same), but the result differs, so its ETag differs: 200 with the new values, not 304.
  await OpenFeature.setContext('etag', { targetingKey: 'u1', plan: 'free', country: 'us' });
  assert.equal(log.length, 3);
  assert.equal(log[2].ifNoneMatch, first);
  assert.equal(log[2].status, 200);
  assert.notEqual(log[2].etag, first);
  const checkout = client.getBooleanDetails('new-checkout', true);
  assert.equal(checkout.value, false, JSON.stringify(checkout));
  assert.equal(checkout.variant, 'old');
  assert.equal(checkout.reason, 'DEFAULT');
  const items = client.getNumberDetails('max-items', 0);
  assert.equal(items.value, 10, JSON.stringify(items));
  assert.equal(items.variant, 'few');

  // The same context again: the new ETag matches, 304.
  await OpenFeature.setContext('etag', { targetingKey: 'u1', plan: 'free', country: 'us' });
  assert.equal(log.length, 4);
  assert.equal(log[3].ifNoneMatch, log[2].etag);
  assert.equal(log[3].status, 304);
  assert.equal(client.getBooleanValue('new-checkout', true), false);

  // A new targetingKey: the provider drops its ETag and fetches unconditionally.
  await OpenFeature.setContext('etag', { targetingKey: 'u2', plan: 'pro', country: 'fr' });
  assert.equal(log.length, 5);
  assert.equal(log[4].ifNoneMatch, null);
  assert.equal(log[4].status, 200);
  assert.equal(client.getBooleanValue('new-checkout', false), true);
  assert.equal(client.getNumberValue('max-items', 0), 50);

  // Back to the first context: a 200 whose body (and so ETag) is the first one again.
  await OpenFeature.setContext('etag', { targetingKey: 'u1', plan: 'pro', country: 'de' });
  assert.equal(log[5].status, 200);
  assert.equal(log[5].etag, first);
  // The provider does not emit ConfigurationChanged for context changes (the SDK's own
  // ContextChanged covers them); nothing here changed the flag configuration.
  assert.equal(changed.length, 0, JSON.stringify(changed));
});

test('a 20/30/50 rollout splits 10,000 targeting keys, each through a web-provider context change, within 1%', async (t) => {
  // Ten providers (domains) side by side, each walking its share of the keys through
  // setContext: every key is one bulk evaluation and one cache lookup in the provider.
  const domains = 10;
  const n = 10000;
  const counts = { compact: 0, narrow: 0, wide: 0 };
  const variantOf = new Map();
  await Promise.all(Array.from({ length: domains }, async (_, d) => {
    const domain = `rollout-${d}`;
    await OpenFeature.setProviderAndWait(domain, webProvider(ev, sdkKey), { targetingKey: `user-${d}` });
    const client = OpenFeature.getClient(domain);
    for (let i = d; i < n; i += domains) {
      await OpenFeature.setContext(domain, { targetingKey: `user-${i}` });
      const details = client.getObjectDetails('layout', {});
      assert.equal(details.reason, 'SPLIT', JSON.stringify(details));
      assert.equal(details.errorCode, undefined, JSON.stringify(details));
      assert.deepEqual(details.value, { columns: { compact: 1, narrow: 2, wide: 3 }[details.variant] });
      counts[details.variant]++;
      variantOf.set(i, details.variant);
    }
  }));
  assert.equal(counts.compact + counts.narrow + counts.wide, n);
  t.diagnostic(`split over ${n} keys: ${JSON.stringify(counts)}`);
  for (const [variant, weight] of [['compact', 0.2], ['narrow', 0.3], ['wide', 0.5]]) {
    assert.ok(Math.abs(counts[variant] / n - weight) <= 0.01, `${variant}: ${counts[variant] / n} ${JSON.stringify(counts)}`);
  }
  // Sticky: the bulk endpoint puts a sample of keys in the same bucket as the provider did.
  for (let i = 0; i < n; i += 997) {
    const r = await ev.call('delivery', 'POST', '/ofrep/v1/evaluate/flags',
      { bearer: sdkKey, body: { context: { targetingKey: `user-${i}` } } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.flags.find((f) => f.key === 'layout').variant, variantOf.get(i), `user-${i}`);
  }
});

// Spends `key`'s OFREP tokens on `instance` until delivery refuses; returns the 429.
async function drain(instance, key) {
  for (let i = 0; i < 10; i++) {
    const r = await instance.call('delivery', 'POST', '/ofrep/v1/evaluate/flags/banner',
      { bearer: key, body: { context: { targetingKey: 'drain' } } });
    if (r.status === 429) return r;
    assert.equal(r.status, 200, r.text);
  }
  throw new Error('never limited');
}

test('over the per-key rate limit: 429 with Retry-After; the web provider keeps its values, goes stale, then recovers', async () => {
  const raw = await drain(limited, limitedKey);
  const retryAfter = Number(raw.headers.get('retry-after'));
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1, raw.headers.get('retry-after'));
  assert.equal(raw.json.key, 'banner');
  assert.equal(raw.json.errorCode, 'GENERAL');
  assert.match(raw.json.errorDetails, /rate limit/);
  // GET /v1/config is not limited.
  assert.equal((await limited.call('delivery', 'GET', '/v1/config', { bearer: limitedKey })).status, 200);
  await new Promise((res) => setTimeout(res, retryAfter * 1000 + 100));

  const log = [];
  await OpenFeature.setProviderAndWait('limited', webProvider(limited, limitedKey, log),
    { targetingKey: 'u1', plan: 'pro', country: 'de' });
  const client = OpenFeature.getClient('limited');
  assert.equal(client.getBooleanValue('new-checkout', false), true);
  const stale = [];
  client.addHandler(ClientProviderEvents.Stale, (d) => stale.push(d));
  // Refused context change: delivery answers 429 with Retry-After; the provider keeps the
  // values it has and says so with a Stale event. (Drain again first, so a slow machine
  // that let a token refill in between does not turn the 429 into a 200.)
  let refused;
  for (let attempt = 0; attempt < 5 && !refused; attempt++) {
    await drain(limited, limitedKey);
    const before = log.length;
    await OpenFeature.setContext('limited', { targetingKey: 'u1', plan: 'free', country: 'us', attempt });
    if (log[before]?.status === 429) refused = log[before];
    else await new Promise((res) => setTimeout(res, 1100));  // got a token; start over
  }
  assert.ok(refused, JSON.stringify(log));
  assert.ok(Number(refused.retryAfter) >= 1, JSON.stringify(refused));
  await new Promise((res) => setImmediate(res));
  assert.ok(stale.length >= 1, 'no Stale event');
  assert.match(stale[0].message, /rate limit|TooManyRequests/i, JSON.stringify(stale));
  assert.equal(client.getBooleanValue('new-checkout', false), true);  // the old context's value

  // After Retry-After the next context change is fetched and served.
  await new Promise((res) => setTimeout(res, Number(refused.retryAfter) * 1000 + 100));
  const sent = log.length;
  await OpenFeature.setContext('limited', { targetingKey: 'u1', plan: 'free', country: 'us' });
  assert.equal(log.length, sent + 1, JSON.stringify(log));
  assert.equal(log[sent].status, 200, JSON.stringify(log[sent]));
  assert.equal(client.getBooleanValue('new-checkout', true), false);
  assert.equal(client.getNumberValue('max-items', 0), 10);
});

test('the server provider surfaces a 429 as the caller\'s default with GENERAL, then evaluates again after Retry-After', async () => {
  const statuses = [];
  await ServerOpenFeature.setProviderAndWait('limited-server', new OFREPProvider({
    baseUrl: limited.url('delivery'),
    headers: [['X-API-Key', limitedKey]],
    fetchImplementation: async (req, init) => {
      const res = await fetch(req, init);
      statuses.push({ status: res.status, retryAfter: res.headers.get('retry-after') });
      return res;
    },
  }));
  const client = ServerOpenFeature.getClient('limited-server');
  const context = { targetingKey: 'u1', plan: 'pro' };
  let refused;
  for (let attempt = 0; attempt < 5 && !refused; attempt++) {
    await drain(limited, limitedKey);
    const d = await client.getBooleanDetails('new-checkout', false, context);
    if (statuses.at(-1).status === 429) refused = d;
    else await new Promise((res) => setTimeout(res, 1100));
  }
  assert.ok(refused, JSON.stringify(statuses));
  assert.equal(refused.value, false, JSON.stringify(refused));
  assert.equal(refused.reason, 'ERROR');
  assert.equal(refused.errorCode, 'GENERAL');
  const retryAfter = Number(statuses.at(-1).retryAfter);
  assert.ok(retryAfter >= 1, JSON.stringify(statuses));
  // Until Retry-After has passed the provider does not ask again.
  const sent = statuses.length;
  const paused = await client.getBooleanDetails('new-checkout', false, context);
  assert.equal(paused.errorCode, 'GENERAL', JSON.stringify(paused));
  assert.match(paused.errorMessage, /TooManyRequests/);
  assert.equal(statuses.length, sent);
  await new Promise((res) => setTimeout(res, retryAfter * 1000 + 100));
  const again = await client.getBooleanDetails('new-checkout', false, context);
  assert.equal(again.value, true, JSON.stringify(again));
  assert.equal(again.reason, 'TARGETING_MATCH');
});
