// Resource subscriptions over /mcp (issue 16, docs/design/mcp.md §1b) with the official MCP
// TypeScript SDK (@modelcontextprotocol/sdk Client + StreamableHTTPClientTransport): the
// client subscribes to an item and to a resolved document, a write through the REST api
// reaches it as notifications/resources/updated on the session's GET stream (which the SDK
// opens itself after initialize); after unsubscribing nothing more comes. When the key behind
// a session is revoked, the api's principal recheck ends the stream without waiting for a
// write, the SDK's reconnection is refused, and the next write reaches the other client (the
// positive control) but not the revoked one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ResourceListChangedNotificationSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { EdgeVault } from './lib/edgevault.mjs';

const ITEM = 'edgevault://shop/configs/db.pool';
const RESOLVED = 'edgevault://shop/environments/prod/resolved';

let ev;
const clients = [];

const ok = async (p, status = 200) => {
  const r = await p;
  assert.equal(r.status, status, r.text);
  return r;
};

async function newKey(name) {
  const r = await ok(ev.call('auth', 'POST', '/v1/api-keys',
    { bearer: ev.adminKey, body: { name, scopes: ['read'], role: 'viewer' } }), 201);
  return { id: r.json.id, key: r.json.key };
}

let writes = 0;
async function writePool() {
  writes += 1;
  await ok(ev.call('api', 'PUT', '/v1/workspaces/shop/configs/db.pool',
    { bearer: ev.adminKey, body: { type: 'integer', values: { prod: 10 + writes }, reason: `write ${writes}` } }));
}

// A connected SDK client recording every resource-updated notification and transport error.
async function connect(bearer, name) {
  const client = new Client({ name, version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${ev.url('api')}/mcp`), {
    requestInit: { headers: { Authorization: `Bearer ${bearer}` } },
    reconnectionOptions: { initialReconnectionDelay: 100, maxReconnectionDelay: 1000, reconnectionDelayGrowFactor: 1.5, maxRetries: 2 },
  });
  const c = { client, transport, updates: [], listChanged: 0, errors: [] };
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => { c.updates.push(n.params.uri); });
  client.setNotificationHandler(ResourceListChangedNotificationSchema, () => { c.listChanged += 1; });
  await client.connect(transport);
  transport.onerror = (e) => { c.errors.push(`${e?.code ?? ''} ${e?.message ?? e}`); };
  clients.push(client);
  return c;
}

async function waitFor(cond, what, ms = 30000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

// The SDK opens its GET stream after `initialized` on its own: until the api holds it, a
// notification has nowhere to go. Write until every client in `cs` has heard of a write.
async function writeUntilHeard(cs, uri) {
  const before = cs.map((c) => c.updates.filter((u) => u === uri).length);
  for (let i = 0; i < 40; i++) {
    await writePool();
    const deadline = Date.now() + 500;
    while (Date.now() < deadline) {
      if (cs.every((c, k) => c.updates.filter((u) => u === uri).length > before[k])) return;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  throw new Error(`no notification for ${uri}: ${JSON.stringify(cs.map((c) => c.updates))}`);
}

before(async () => {
  ev = await EdgeVault.start({ extraArgs: ['--set', 'api.principal_recheck_ms=200'] });
  await ok(ev.call('api', 'POST', '/v1/workspaces', { bearer: ev.adminKey, body: { key: 'shop', name: 'Shop' } }), 201);
  await ok(ev.call('api', 'POST', '/v1/workspaces/shop/environments',
    { bearer: ev.adminKey, body: { key: 'prod', name: 'prod', reason: 'setup' } }), 201);
  await writePool();
});

after(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await ev?.stop();
});

test('a subscribed resource changed by a write reaches the SDK as notifications/resources/updated', async () => {
  const { key } = await newKey('agent-subscriber');
  const c = await connect(key, 'e2e-subscriber');
  assert.equal(c.client.getServerCapabilities().resources.subscribe, true);
  assert.deepEqual(await c.client.subscribeResource({ uri: ITEM }), {});
  assert.deepEqual(await c.client.subscribeResource({ uri: RESOLVED }), {});

  await writeUntilHeard([c], ITEM);
  await waitFor(() => c.updates.includes(RESOLVED), 'the resolved document\'s notification');
  // What the notification names reads back with the write in it.
  const read = await c.client.readResource({ uri: ITEM });
  assert.match(read.contents[0].text, new RegExp(`"prod":${10 + writes}\\b`));

  // Unsubscribed from the item: the next write names only the resolved document.
  assert.deepEqual(await c.client.unsubscribeResource({ uri: ITEM }), {});
  const seen = c.updates.length;
  await writePool();
  await waitFor(() => c.updates.length > seen, 'the resolved document\'s notification after unsubscribing');
  assert.ok(c.updates.slice(seen).every((u) => u === RESOLVED), JSON.stringify(c.updates.slice(seen)));

  // A workspace the key cannot see is no subscription at all.
  await assert.rejects(c.client.subscribeResource({ uri: 'edgevault://elsewhere/configs/x' }), /-32002|not found|cannot subscribe/i);
  await assert.rejects(c.client.subscribeResource({ uri: 'https://example.com/x' }), /-32002|no resource/i);
});

// docs/design/mcp.md §1c: a new environment (and a renamed workspace) changes what
// resources/list answers; a client that listed hears notifications/resources/list_changed
// and finds the new document when it lists again.
test('a new environment reaches a client that listed as notifications/resources/list_changed', async () => {
  const { key } = await newKey('agent-lister');
  const c = await connect(key, 'e2e-lister');
  assert.equal(c.client.getServerCapabilities().resources.listChanged, true);
  const first = await c.client.listResources();
  assert.ok(first.resources.some((r) => r.uri === RESOLVED), JSON.stringify(first.resources));
  // The SDK opens its GET stream by itself: until the api holds it, a notification has
  // nowhere to go, so environments are created until one is heard.
  let created = 0;
  for (let i = 0; i < 40 && c.listChanged === 0; i++) {
    created += 1;
    await ok(ev.call('api', 'POST', '/v1/workspaces/shop/environments',
      { bearer: ev.adminKey, body: { key: `qa${created}`, name: `qa ${created}`, reason: 'list change' } }), 201);
    const deadline = Date.now() + 500;
    while (Date.now() < deadline && c.listChanged === 0) await new Promise((r) => setTimeout(r, 25));
  }
  assert.ok(c.listChanged > 0, 'no list_changed after creating environments');
  const again = await c.client.listResources();
  assert.ok(again.resources.some((r) => r.uri === `edgevault://shop/environments/qa${created}/resolved`),
    JSON.stringify(again.resources));
  // A config write changes no list: no list_changed follows it.
  const heard = c.listChanged;
  await writePool();
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(c.listChanged, heard);
  // Renaming the workspace does.
  await ok(ev.call('api', 'PATCH', '/v1/workspaces/shop', { bearer: ev.adminKey, body: { name: 'Shop 2', reason: 'rename' } }));
  await waitFor(() => c.listChanged > heard, 'list_changed after the rename');
  for (let i = 1; i <= created; i++) {
    await ok(ev.call('api', 'DELETE', `/v1/workspaces/shop/environments/qa${i}`, { bearer: ev.adminKey, body: { reason: 'cleanup' } }));
  }
});

test('revoking the key behind a session ends its stream and no notification follows', async () => {
  const doomed = await newKey('agent-doomed');
  const { key: keptKey } = await newKey('agent-kept');
  const a = await connect(doomed.key, 'e2e-doomed');
  const b = await connect(keptKey, 'e2e-kept');
  await a.client.subscribeResource({ uri: ITEM });
  await b.client.subscribeResource({ uri: ITEM });
  // Positive control: both streams are open and carry the notification.
  await writeUntilHeard([a, b], ITEM);
  const heardByA = a.updates.length;

  await ok(ev.call('auth', 'DELETE', `/v1/api-keys/${doomed.id}`, { bearer: ev.adminKey }));
  // No write happens until the stream ended: only the recheck can have closed it. The SDK
  // then reconnects and is refused (401).
  await waitFor(() => a.errors.some((e) => /401|Unauthorized/.test(e)), 'the revoked session\'s stream to end and its reconnection to be refused');

  const heardByB = b.updates.length;
  await writePool();
  await waitFor(() => b.updates.length > heardByB, 'the kept client\'s notification');
  assert.equal(a.updates.length, heardByA, `after revocation: ${JSON.stringify(a.updates.slice(heardByA))}`);
  // The session itself is gone for the revoked key.
  await assert.rejects(a.client.listResources(), /401|Unauthorized|not valid|no longer grants/);
});
