// The official MCP TypeScript SDK (@modelcontextprotocol/sdk: Client +
// StreamableHTTPClientTransport) against edgevault-api's /mcp (issue 16,
// docs/design/mcp.md): it negotiates a protocol version, lists the tools, calls every one
// of them (the SDK checks each structuredContent against the tool's outputSchema), reads
// a resource; an agent's write to a change-request-only environment becomes a change
// request; no tool output carries a secret value unless the server allows it and the
// token may read secrets; a read-only server lists no write tools; the audit warehouse
// names the agent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { BIN_DIR, EdgeVault } from './lib/edgevault.mjs';

const MARKER = `sk_marker_${randomBytes(8).toString('hex')}`;
const PROPOSED_MARKER = `sk_proposed_${randomBytes(8).toString('hex')}`;
const WRITE_TOOLS = ['propose_change', 'apply_change', 'create_promotion', 'config_move_to_secret', 'import_workspace'];

let ev;          // default settings
let evLocked;    // mcp.read_only = true, mcp.allow_secret_values = true
const clients = [];

async function setUp(e) {
  const api = (method, target, body) => e.call('api', method, target, { body, bearer: e.adminKey });
  const ok = async (p, status = 200) => {
    const r = await p;
    assert.equal(r.status, status, r.text);
    return r;
  };
  await ok(api('POST', '/v1/workspaces', { key: 'shop', name: 'Shop' }), 201);
  for (const env of ['dev', 'prod', 'review']) {
    await ok(api('POST', '/v1/workspaces/shop/environments', { key: env, name: env, reason: 'setup' }), 201);
  }
  await ok(api('PUT', '/v1/workspaces/shop/environments/review/policy',
    { required_approvals: 1, change_requests_required: true, reason: 'review is reviewed' }));
  await ok(api('PUT', '/v1/workspaces/shop/configs/db.pool',
    { type: 'integer', description: 'connection pool size', values: { dev: 5, prod: 20 }, reason: 'sizing' }));
  await ok(api('PUT', '/v1/workspaces/shop/flags/new-checkout', {
    variations: [{ value: false, name: 'old' }, { value: true, name: 'new' }],
    environments: {
      dev: { on: true, off_variation: 0, rules: [{ clauses: [{ attribute: 'plan', op: 'in', values: ['pro'] }], variation: 1 }], fallthrough: { variation: 0 } },
      prod: { on: false, off_variation: 0, fallthrough: { variation: 0 } },
    },
    reason: 'launch',
  }));
  await ok(api('PUT', '/v1/workspaces/shop/secrets/stripe.key', { values: { dev: MARKER, prod: MARKER }, reason: 'billing' }));
  // Agents' keys: one that may read secret values, one that may not.
  const key = async (name, scopes) => {
    const r = await ok(e.call('auth', 'POST', '/v1/api-keys', { bearer: e.adminKey, body: { name, scopes, role: 'developer' } }), 201);
    return r.json.key;
  };
  e.secretsKey = await key('agent-secrets', ['read', 'write', 'secrets:read']);
  e.plainKey = await key('agent-plain', ['read', 'write']);
  e.readKey = await key('agent-read', ['read']);
  // Positive control for the scans below: this key can read the marker over REST.
  const r = await ok(e.call('api', 'GET', '/v1/workspaces/shop/environments/dev/secrets/stripe.key', { bearer: e.secretsKey }));
  assert.equal(r.json.value, MARKER);
}

async function connect(e, bearer, name = 'e2e-agent') {
  const client = new Client({ name, version: '1.2.3' });
  const transport = new StreamableHTTPClientTransport(new URL(`${e.url('api')}/mcp`), {
    requestInit: { headers: { Authorization: `Bearer ${bearer}` } },
  });
  await client.connect(transport);
  clients.push(client);
  return { client, transport };
}

// Every text the result carries, for the marker scans.
const textOf = (result) => JSON.stringify(result);

before(async () => {
  [ev, evLocked] = await Promise.all([
    EdgeVault.start(),
    EdgeVault.start({ extraArgs: ['--set', 'mcp.read_only=true', '--set', 'mcp.allow_secret_values=true'] }),
  ]);
  await Promise.all([setUp(ev), setUp(evLocked)]);
});

after(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await Promise.all([ev?.stop(), evLocked?.stop()]);
});

test('the SDK negotiates a version, lists every tool with schemas and annotations, and calls each one', async () => {
  const { client, transport } = await connect(ev, ev.secretsKey);
  assert.equal(client.getServerVersion().name, 'edgevault-api');
  assert.equal(transport.protocolVersion, LATEST_PROTOCOL_VERSION);
  assert.match(transport.sessionId, /^mcps_[0-9a-f]{32}$/);

  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  assert.deepEqual(names, ['ai_draft', 'ai_risk_review', 'apply_change', 'config_move_to_secret', 'create_promotion', 'diff_revisions', 'explain_flag',
    'export_workspace', 'flag_insights', 'get_change_request', 'get_history', 'get_item', 'get_resolved_environment', 'import_workspace',
    'leak_scan', 'list_change_requests',
    'list_environments', 'list_items', 'list_workspaces', 'propose_change', 'search_items']);
  for (const t of tools) {
    assert.equal(t.inputSchema.type, 'object', t.name);
    assert.equal(t.outputSchema.type, 'object', t.name);
    assert.equal(typeof t.annotations.readOnlyHint, 'boolean', t.name);
    assert.equal(t.annotations.readOnlyHint, !WRITE_TOOLS.includes(t.name), t.name);
  }
  assert.equal(tools.find((t) => t.name === 'apply_change').annotations.destructiveHint, true);
  assert.equal(tools.find((t) => t.name === 'config_move_to_secret').annotations.destructiveHint, true);

  const outputs = [];
  const call = async (name, args) => {
    const r = await client.callTool({ name, arguments: args });
    outputs.push(textOf(r));
    assert.ok(!r.isError, `${name}: ${textOf(r)}`);
    return r.structuredContent;
  };
  const ws = { workspace: 'shop' };
  assert.ok((await call('list_workspaces', {})).workspaces.some((w) => w.key === 'shop'));
  assert.equal((await call('list_environments', ws)).environments.length, 3);
  const items = await call('list_items', ws);
  assert.deepEqual(items.items.map((i) => `${i.kind}:${i.key}`).sort(), ['config:db.pool', 'flag:new-checkout', 'secret:stripe.key']);
  const secret = await call('get_item', { ...ws, kind: 'secret', key: 'stripe.key' });
  assert.equal(secret.key, 'stripe.key');
  assert.equal((await call('get_item', { ...ws, kind: 'config', key: 'db.pool' })).values.prod, 20);
  const resolved = await call('get_resolved_environment', { ...ws, environment: 'dev' });
  assert.equal(resolved.configs['db.pool'].value, 5);
  const exported = await call('export_workspace', ws);
  assert.equal(exported.format, 'edgevault.workspace/1');
  assert.equal(exported.configs['db.pool'].values.prod, 20);
  assert.deepEqual(Object.keys(exported.secrets), ['stripe.key']);
  // Read back into the same workspace as a dry run: every item already equal.
  const reimport = await call('import_workspace', { ...ws, document: exported, reason: 'agent check', dry_run: true });
  assert.equal(reimport.dry_run, true);
  assert.equal(reimport.batch.changes, 0);
  assert.deepEqual(reimport.secrets_not_imported, ['stripe.key']);
  assert.deepEqual((await call('search_items', { ...ws, query: 'POOL' })).items.map((i) => i.key), ['db.pool']);
  const explained = await call('explain_flag', { ...ws, flag: 'new-checkout', context: { targetingKey: 'u1', plan: 'pro' } });
  const dev = explained.environments.find((e) => e.environment === 'dev');
  assert.equal(dev.value, true);
  assert.equal(dev.reason, 'TARGETING_MATCH');
  assert.equal(explained.environments.find((e) => e.environment === 'prod').reason, 'DISABLED');
  const history = await call('get_history', { ...ws, key: 'db.pool' });
  assert.equal(history.revisions.length, 1);

  // Propose (dry run): the exact diff, the environments touched, nothing written.
  const proposed = await call('propose_change', {
    ...ws,
    changes: [
      { kind: 'config', key: 'db.pool', environment: 'prod', value: 40 },
      { kind: 'secret', key: 'stripe.key', environment: 'dev', value: PROPOSED_MARKER },
    ],
  });
  assert.equal(proposed.dry_run, true);
  assert.deepEqual(proposed.environments.sort(), ['dev', 'prod']);
  const poolChange = proposed.changes.find((c) => c.key === 'db.pool');
  assert.equal(poolChange.before, 20);
  assert.equal(poolChange.after, 40);
  const invalid = await client.callTool({ name: 'propose_change', arguments: { ...ws, changes: [{ kind: 'config', key: 'db.pool', environment: 'prod', value: 'many' }] } });
  outputs.push(textOf(invalid));
  assert.equal(invalid.isError, true, textOf(invalid));

  // AI (docs/design/ai.md): the exact risk of a change needs no model (this api has none);
  // a draft needs one and says how to configure it. Neither writes anything.
  const risk = await call('ai_risk_review', { ...ws, changes: [{ kind: 'config', key: 'db.pool', environment: 'prod', value: 40 }] });
  assert.ok(risk.exact.environments.some((e) => e.key === 'prod'), JSON.stringify(risk));
  assert.ok(risk.exact.configs.some((c) => c.key === 'db.pool' && c.environment === 'prod'), JSON.stringify(risk));
  assert.deepEqual(risk.exact.secrets, [], JSON.stringify(risk));
  const draft = await client.callTool({ name: 'ai_draft', arguments: { ...ws, prompt: 'raise the prod pool to 40' } });
  outputs.push(textOf(draft));
  assert.equal(draft.isError, true, textOf(draft));
  assert.match(textOf(draft), /ai_not_configured|ai\.provider/, textOf(draft));

  // Apply to dev: written, with the reason.
  const applied = await call('apply_change', {
    ...ws, kind: 'config', key: 'db.pool', body: { type: 'integer', description: 'connection pool size', values: { dev: 8, prod: 20 } },
    reason: 'agent resizes the dev pool',
  });
  assert.equal(applied.outcome, 'applied');
  assert.equal(applied.item.values.dev, 8);
  // Apply to the change-request-only environment: a change request, nothing written.
  const head = (await ev.call('api', 'GET', '/v1/workspaces/shop', { bearer: ev.adminKey })).json.revision;
  const opened = await call('apply_change', {
    ...ws, kind: 'secret', key: 'stripe.key', body: { values: { review: PROPOSED_MARKER } }, reason: 'agent sets the review key',
  });
  assert.equal(opened.outcome, 'change_request_opened', JSON.stringify(opened));
  assert.equal(opened.change_request.state, 'open');
  assert.equal((await ev.call('api', 'GET', '/v1/workspaces/shop', { bearer: ev.adminKey })).json.revision, head);
  const crs = await call('list_change_requests', ws);
  assert.ok(crs.change_requests.some((c) => c.id === opened.change_request.id));
  const cr = await call('get_change_request', { ...ws, id: opened.change_request.id });
  assert.equal(cr.state, 'open');

  const diff = await call('diff_revisions', { ...ws, from: 0, to: head });
  assert.ok(diff.changes.some((c) => c.key === 'db.pool'));
  const promo = await call('create_promotion', { ...ws, from: 'dev', to: 'prod', kinds: ['config'], dry_run: true });
  assert.equal(promo.dry_run, true);
  assert.ok(promo.changes.some((c) => c.key === 'db.pool'));
  // Secret-leak scanning (docs/secret-scanning.md): nothing here looks like a credential, and
  // moving a number into a secret is refused (a secret holds a string).
  assert.deepEqual((await call('leak_scan', ws)).findings, []);
  const notString = await client.callTool({ name: 'config_move_to_secret', arguments: { ...ws, key: 'db.pool', pointer: '/values/prod', reason: 'x' } });
  outputs.push(textOf(notString));
  assert.equal(notString.isError, true, textOf(notString));

  // A resource: listed, then read.
  const { resources } = await client.listResources();
  const uri = 'edgevault://shop/environments/dev/resolved';
  assert.ok(resources.some((r) => r.uri === uri), JSON.stringify(resources));
  const read = await client.readResource({ uri });
  outputs.push(textOf(read));
  assert.equal(JSON.parse(read.contents[0].text).configs['db.pool'].value, 8);
  const item = await client.readResource({ uri: 'edgevault://shop/secrets/stripe.key' });
  outputs.push(textOf(item));

  // Default server: no tool output, however it was asked, carries a secret value.
  assert.equal(outputs.length, 25);  // 23 tool calls (every tool but read_secret_value), 2 resource reads
  for (const o of outputs) {
    assert.ok(!o.includes(MARKER), `a secret value leaked: ${o.slice(0, 300)}`);
    assert.ok(!o.includes(PROPOSED_MARKER), `a proposed secret value leaked: ${o.slice(0, 300)}`);
  }
  await assert.rejects(client.callTool({ name: 'read_secret_value', arguments: { ...ws, environment: 'dev', key: 'stripe.key' } }),
    /not available/);
});

test('a token that cannot write sees no write tools', async () => {
  const { client } = await connect(ev, ev.readKey);
  const names = (await client.listTools()).tools.map((t) => t.name);
  assert.ok(names.includes('get_item'));
  for (const w of WRITE_TOOLS) assert.ok(!names.includes(w), w);
});

test('a read-only server lists no write tools and refuses them', async () => {
  const { client } = await connect(evLocked, evLocked.secretsKey);
  const names = (await client.listTools()).tools.map((t) => t.name);
  assert.ok(names.includes('list_items'));
  for (const w of WRITE_TOOLS) assert.ok(!names.includes(w), w);
  await assert.rejects(client.callTool({
    name: 'apply_change',
    arguments: { workspace: 'shop', kind: 'config', key: 'db.pool', delete: true, reason: 'no' },
  }), /read-only/);
  const r = await evLocked.call('api', 'GET', '/v1/workspaces/shop/configs/db.pool', { bearer: evLocked.adminKey });
  assert.equal(r.status, 200);
});

test('a secret value reaches an agent only when the server allows it and the token may read secrets', async () => {
  // Both switches on: the value, and its read is recorded.
  const both = await connect(evLocked, evLocked.secretsKey);
  assert.ok((await both.client.listTools()).tools.some((t) => t.name === 'read_secret_value'));
  const r = await both.client.callTool({ name: 'read_secret_value', arguments: { workspace: 'shop', environment: 'dev', key: 'stripe.key' } });
  assert.equal(r.structuredContent.value, MARKER);

  // Server allows, token may not: not listed, refused, and no other tool shows it.
  const plain = await connect(evLocked, evLocked.plainKey);
  const { tools } = await plain.client.listTools();
  assert.ok(!tools.some((t) => t.name === 'read_secret_value'));
  await assert.rejects(plain.client.callTool({ name: 'read_secret_value', arguments: { workspace: 'shop', environment: 'dev', key: 'stripe.key' } }));
  const outputs = [];
  for (const [name, args] of [['list_items', { workspace: 'shop' }], ['get_item', { workspace: 'shop', kind: 'secret', key: 'stripe.key' }],
    ['get_history', { workspace: 'shop' }], ['search_items', { workspace: 'shop', query: 'stripe' }],
    ['get_resolved_environment', { workspace: 'shop', environment: 'dev' }], ['export_workspace', { workspace: 'shop' }]]) {
    const out = await plain.client.callTool({ name, arguments: args });
    assert.ok(!out.isError, `${name}: ${textOf(out)}`);
    outputs.push(textOf(out));
  }
  for (const o of outputs) assert.ok(!o.includes(MARKER), o.slice(0, 300));

  // Token may, server does not (the default server): see the first test; and here directly.
  const def = await connect(ev, ev.secretsKey);
  assert.ok(!(await def.client.listTools()).tools.some((t) => t.name === 'read_secret_value'));
});

test('the SDK over stdio: `edgevault mcp` relays to /mcp with the token it is given', async () => {
  const transport = new StdioClientTransport({
    command: path.join(BIN_DIR, 'edgevault'),
    args: ['mcp'],
    env: { EDGEVAULT_API_URL: ev.url('api'), EDGEVAULT_TOKEN: ev.readKey, HOME: ev.tmp },
    stderr: 'pipe',
  });
  const client = new Client({ name: 'stdio-agent', version: '0.0.1' });
  await client.connect(transport);
  clients.push(client);
  assert.equal(client.getServerVersion().name, 'edgevault-api');
  const names = (await client.listTools()).tools.map((t) => t.name);
  assert.ok(names.includes('get_item'));
  for (const w of WRITE_TOOLS) assert.ok(!names.includes(w), w);  // the read-only key's rights, as over HTTP
  const r = await client.callTool({ name: 'get_item', arguments: { workspace: 'shop', kind: 'config', key: 'db.pool' } });
  assert.equal(r.structuredContent.key, 'db.pool', textOf(r));
  const read = await client.readResource({ uri: 'edgevault://shop/environments/prod/resolved' });
  assert.equal(JSON.parse(read.contents[0].text).environment, 'prod');
  await assert.rejects(client.callTool({ name: 'no_such_tool', arguments: {} }), /unknown tool/);
});

// NDJSON lines of the audit warehouse.
function auditLines(dataDir) {
  const out = [];
  const walk = (dir) => {
    let entries;
    try { entries = readdirSync(dir); } catch { return; }
    for (const name of entries) {
      const p = path.join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.ndjson')) out.push(...readFileSync(p, 'utf8').split('\n').filter(Boolean));
    }
  };
  walk(path.join(dataDir, 'audit', 'warehouse'));
  return out.map((l) => JSON.parse(l));
}

test('the audit log names the agent, its version, the tool and the key behind it', async () => {
  const { client } = await connect(ev, ev.secretsKey, 'audit-probe-agent');
  const r = await client.callTool({
    name: 'apply_change',
    arguments: { workspace: 'shop', kind: 'config', key: 'audited', body: { type: 'string', values: { dev: 'x' } }, reason: 'audit me' },
  });
  assert.equal(r.structuredContent.outcome, 'applied', textOf(r));
  const deadline = Date.now() + 30000;
  let call, write;
  for (;;) {
    const lines = auditLines(ev.dataDir);
    call = lines.find((e) => e.action === 'api.mcp.tool_call' && e.details?.agent?.client === 'audit-probe-agent' && e.details.agent.tool === 'apply_change');
    write = lines.find((e) => e.action === 'workspace.config.create' && e.target === 'config:audited');
    if (call && write) break;
    if (Date.now() > deadline) throw new Error(`audit lines missing: ${JSON.stringify({ call, write })}`);
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.match(call.actor.id, /^key:/);
  assert.equal(call.actor.user_agent, 'mcp:audit-probe-agent/1.2.3');
  assert.equal(call.details.agent.client_version, '1.2.3');
  assert.equal(call.outcome, 'success');
  assert.equal(write.actor.id, call.actor.id);
  assert.equal(write.details.agent.client, 'audit-probe-agent');
  assert.equal(write.details.agent.tool, 'apply_change');
});
