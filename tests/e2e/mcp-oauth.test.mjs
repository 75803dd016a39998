// The MCP authorization flow end to end (issue 16; docs/design/oauth.md) with the official
// TypeScript SDK's own OAuth client (StreamableHTTPClientTransport + an OAuthClientProvider):
// the SDK discovers the authorization server from the api's 401 (RFC 9728 metadata → auth's
// RFC 8414 metadata), registers itself (RFC 7591), sends the user's browser to the console's
// consent page with PKCE S256 and the resource indicator; a developer signs in and allows it
// in Chromium (Playwright), the browser lands on the test's loopback redirect listener, the
// SDK exchanges the code; the token works on /mcp, is refused by the REST api (it is bound
// to the MCP resource), an expired access token is refreshed by the SDK with a rotated
// refresh token, a request for another resource is refused, and a viewer's grant is read-only;
// the user revokes an app on the console's Account page and the SDK's access ends.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { consoleArgs, launchChromium, watchPage } from './lib/browser.mjs';
import { EdgeVault } from './lib/edgevault.mjs';

const DEV = 'oauth.dev@e2e.test';
const VIEWER = 'oauth.viewer@e2e.test';
const ADMIN = 'oauth.admin@e2e.test';
const PASSWORD = 'oauth e2e password 1';

let ev, browser, callback, callbackUrl;
const pageErrors = [];
let codes = [];  // what the redirect listener received, oldest first
const clients = [];

// The SDK's storage for one MCP client (what a desktop app keeps between runs).
class TestProvider {
  constructor(name) { this.name = name; this.authUrls = []; }
  get redirectUrl() { return callbackUrl; }
  get clientMetadata() {
    return {
      client_name: this.name,
      redirect_uris: [callbackUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  state() { return 'e2e-state'; }
  clientInformation() { return this.client; }
  saveClientInformation(c) { this.client = c; }
  tokens() { return this.savedTokens; }
  saveTokens(t) { this.savedTokens = t; }
  redirectToAuthorization(url) { this.authUrls.push(url); }
  saveCodeVerifier(v) { this.verifier = v; }
  codeVerifier() { return this.verifier; }
}

const mcpUrl = () => new URL(`${ev.url('api')}/mcp`);

async function connect(provider, name = 'e2e-oauth-agent') {
  const client = new Client({ name, version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(mcpUrl(), { authProvider: provider });
  await client.connect(transport);
  clients.push(client);
  return { client, transport };
}

// Signs in on the console page the SDK asked to open, allows the request, and answers the
// code the browser brought to the redirect listener.
async function consentInBrowser(authUrl, email, { untick = [] } = {}) {
  const page = watchPage(await (await browser.newContext()).newPage(), pageErrors);
  const before = codes.length;
  await page.goto(authUrl.href);
  await page.getByRole('heading', { level: 1, name: 'Sign in to EdgeVault' }).waitFor();
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Allow access to EdgeVault?' }).waitFor();
  await page.getByText('e2e oauth client').first().waitFor();
  for (const label of untick) await page.getByRole('checkbox', { name: label }).uncheck();
  await page.getByRole('button', { name: 'Allow' }).click();
  const deadline = Date.now() + 30000;
  while (codes.length === before) {
    if (Date.now() > deadline) throw new Error('the browser never reached the redirect URI');
    await new Promise((r) => setTimeout(r, 50));
  }
  await page.context().close();
  const got = codes[codes.length - 1];
  assert.equal(got.get('state'), 'e2e-state');
  assert.equal(got.get('iss'), ev.url('auth'));
  return got.get('code');
}

// auth's answer to a refresh with `token` (default: the provider's saved refresh token).
async function refreshAt(provider, token = provider.savedTokens.refresh_token) {
  return fetch(`${ev.url('auth')}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token, client_id: provider.client.client_id }),
  });
}

// An agent `name` that `email` allowed and that works (the positive control of a revocation).
async function workingAgent(name, email) {
  const provider = new TestProvider(name);
  await authorize(provider, email);
  const { client } = await connect(provider);
  assert.ok((await client.listTools()).tools.length > 0);
  return provider;
}

// A fresh browser page on the console's `path`, signed in as `email`.
async function signInAt(path, email) {
  const page = watchPage(await (await browser.newContext()).newPage(), pageErrors);
  await page.goto(`${ev.url('console')}${path}`);
  await page.getByRole('heading', { level: 1, name: 'Sign in to EdgeVault' }).waitFor();
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  return page;
}

// The whole flow for `provider`: the first connect needs the user, the second works.
async function authorize(provider, email, opts) {
  const first = new StreamableHTTPClientTransport(mcpUrl(), { authProvider: provider });
  await assert.rejects(new Client({ name: 'e2e-oauth-agent', version: '1.0.0' }).connect(first), UnauthorizedError);
  const authUrl = provider.authUrls.at(-1);
  assert.ok(authUrl, 'the SDK asked to open the authorization page');
  const code = await consentInBrowser(authUrl, email, opts);
  await first.finishAuth(code);
  return authUrl;
}

before(async () => {
  callback = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://127.0.0.1');
    if (u.pathname === '/callback') codes.push(u.searchParams);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('You can close this window.');
  });
  await new Promise((r) => callback.listen(0, '127.0.0.1', r));
  callbackUrl = `http://127.0.0.1:${callback.address().port}/callback`;
  ev = await EdgeVault.start({ extraArgs: consoleArgs() });
  const r = await ev.call('api', 'POST', '/v1/workspaces', { bearer: ev.adminKey, body: { key: 'shop', name: 'Shop' } });
  assert.equal(r.status, 201, r.text);
  for (const [email, role] of [[DEV, 'developer'], [VIEWER, 'viewer'], [ADMIN, 'admin']]) {
    const u = await ev.auth('POST', '/v1/users', { bearer: ev.adminKey, body: { email, role, password: PASSWORD } });
    assert.equal(u.status, 201, u.text);
  }
  browser = await launchChromium();
});

after(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await browser?.close();
  await ev?.stop();
  await new Promise((r) => (callback ? callback.close(r) : r()));
});

test('discovery, registration, consent in the console, PKCE, a resource-bound token', async () => {
  const provider = new TestProvider('e2e oauth client');
  const authUrl = await authorize(provider, DEV);
  // The SDK went where the metadata pointed: the console's page, with PKCE S256 and the
  // resource indicator of this api's /mcp.
  assert.equal(authUrl.origin, ev.url('console'));
  assert.equal(authUrl.pathname, '/oauth/authorize');
  assert.equal(authUrl.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(authUrl.searchParams.get('resource'), `${ev.url('api')}/mcp`);
  assert.match(provider.client.client_id, /^evoc_/);
  assert.match(provider.savedTokens.refresh_token, /^evor_/);
  assert.equal(provider.savedTokens.scope, 'read write secrets:read');

  const { client } = await connect(provider);
  const tools = (await client.listTools()).tools.map((t) => t.name);
  assert.ok(tools.includes('apply_change'), tools.join());
  const ws = await client.callTool({ name: 'list_workspaces', arguments: {} });
  assert.ok(!ws.isError, JSON.stringify(ws));
  assert.deepEqual(ws.structuredContent.workspaces.map((w) => w.key), ['shop']);

  // Bound to /mcp: the REST api refuses the very same token.
  const rest = await ev.call('api', 'GET', '/v1/workspaces', { bearer: provider.savedTokens.access_token });
  assert.equal(rest.status, 401);

  // An expired access token: the SDK refreshes (a new refresh token each time) and retries.
  const oldRefresh = provider.savedTokens.refresh_token;
  provider.savedTokens = { ...provider.savedTokens, access_token: 'expired' };
  const { client: again } = await connect(provider, 'e2e-oauth-agent-2');
  const ws2 = await again.callTool({ name: 'list_workspaces', arguments: {} });
  assert.ok(!ws2.isError);
  assert.notEqual(provider.savedTokens.refresh_token, oldRefresh);
  assert.notEqual(provider.savedTokens.access_token, 'expired');
  // The rotated-away refresh token is dead (and using it ends the grant).
  const reused = await refreshAt(provider, oldRefresh);
  assert.equal(reused.status, 400);
  assert.equal((await reused.json()).error, 'invalid_grant');
  assert.deepEqual(pageErrors, []);
});

test('a token for another resource is never issued', async () => {
  const provider = new TestProvider('e2e oauth client');
  provider.validateResourceURL = async () => new URL('http://127.0.0.1:1/mcp');
  const first = new StreamableHTTPClientTransport(mcpUrl(), { authProvider: provider });
  await assert.rejects(new Client({ name: 'x', version: '1' }).connect(first), UnauthorizedError);
  const authUrl = provider.authUrls.at(-1);
  assert.equal(authUrl.searchParams.get('resource'), 'http://127.0.0.1:1/mcp');
  // The consent API (what the page calls) refuses it and sends the client an error.
  const login = await ev.auth('POST', '/v1/login', { body: { email: DEV, password: PASSWORD } });
  const r = await ev.auth('GET', `/v1/oauth/authorize${authUrl.search}`, { bearer: login.json.session });
  assert.equal(r.status, 400);
  assert.equal(new URL(r.json.redirect_to).searchParams.get('error'), 'invalid_target');
});

test("a viewer's agent gets read only, and so does a developer who unticks write", async () => {
  const viewer = new TestProvider('e2e oauth client');
  await authorize(viewer, VIEWER);
  assert.equal(viewer.savedTokens.scope, 'read');
  const { client } = await connect(viewer);
  const tools = (await client.listTools()).tools.map((t) => t.name);
  assert.ok(tools.includes('list_workspaces'));
  for (const w of ['propose_change', 'apply_change', 'create_promotion']) assert.ok(!tools.includes(w), w);

  const careful = new TestProvider('e2e oauth client');
  await authorize(careful, DEV, { untick: [/Propose and make changes/, /Read secret values/] });
  assert.equal(careful.savedTokens.scope, 'read');
  const { client: c2 } = await connect(careful);
  assert.ok(!(await c2.listTools()).tools.some((t) => t.name === 'apply_change'));
  assert.deepEqual(pageErrors, []);
});

test("the user revokes an app on the console's Account page and the agent's access ends", async () => {
  const name = 'e2e oauth client to revoke';
  const provider = await workingAgent(name, VIEWER);

  const page = await signInAt('/account', VIEWER);
  await page.getByRole('heading', { level: 2, name: 'Authorized apps' }).waitFor();
  const table = page.getByRole('table', { name: 'Your authorized apps' });
  const row = table.getByRole('row').filter({ hasText: name });
  await row.waitFor();
  assert.match(await row.innerText(), /read/);
  await row.getByRole('button', { name: `Revoke access of ${name}` }).click();
  await page.getByRole('status').filter({ hasText: `Access of ${name} revoked.` }).waitFor();
  // The list is read again after the revocation: the app's row goes.
  await page.getByRole('row').filter({ hasText: name }).waitFor({ state: 'detached' });
  await page.context().close();

  // The refresh token is dead at once; the access token within the api's recheck interval.
  const refreshed = await refreshAt(provider);
  assert.equal((await refreshed.json()).error, 'invalid_grant');
  const deadline = Date.now() + 20000;
  for (;;) {
    const r = await fetch(`${ev.url('api')}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
        authorization: `Bearer ${provider.savedTokens.access_token}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
    });
    if (r.status === 401) break;
    assert.equal(r.status, 200);
    if (Date.now() > deadline) throw new Error('the revoked access token still works at the api');
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.deepEqual(pageErrors, []);
});

test("an admin sees a member's app on the console's Members page and ends its access", async () => {
  const name = 'e2e oauth client the admin revokes';
  const provider = await workingAgent(name, DEV);

  const page = await signInAt('/members', ADMIN);
  await page.getByRole('heading', { level: 2, name: 'Authorized apps in this org' }).waitFor();
  const table = page.getByRole('table', { name: 'Authorized apps in this org' });
  const row = table.getByRole('row').filter({ hasText: name });
  await row.waitFor();
  assert.match(await row.innerText(), new RegExp(DEV.replace(/\./g, '\\.')));
  await row.getByRole('button', { name: `Revoke access of ${name} for ${DEV}` }).click();
  await page.getByRole('status').filter({ hasText: `Access of ${name} (allowed by ${DEV}) revoked.` }).waitFor();
  await table.getByRole('row').filter({ hasText: name }).waitFor({ state: 'detached' });
  await page.context().close();

  const refreshed = await refreshAt(provider);
  assert.equal((await refreshed.json()).error, 'invalid_grant');
  // A developer's session is refused the org's list (auth decides, not the page).
  const login = await ev.auth('POST', '/v1/login', { body: { email: DEV, password: PASSWORD } });
  const denied = await ev.auth('GET', '/v1/org/oauth-grants', { bearer: login.json.session });
  assert.equal(denied.status, 403);
  assert.deepEqual(pageErrors, []);
});
