// AI assistance in the console (web/src/pages/ai.tsx) in Chromium against a real
// `edgevault up` whose api calls a local server speaking OpenAI's chat-completions format
// (no model is reachable from the test machines). A developer asks for a draft: a model
// answer that is not a draft is refused with the api's message and nothing is created; the
// next one is shown as the api's dry run (diff, environments, approvals), its exact risk
// (how many of the sample contexts switch), and the model's explanation; creating it
// lands on the change request, whose page assesses the stored request's risk too. No
// secret value ever reaches the provider. axe-core checks every new state.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assertAccessible, screenshot } from './lib/browser.mjs';
import { consoleSession } from './lib/people.mjs';

const DEV = { email: 'dev@ai.example', password: 'ai e2e developer password 1', role: 'developer' };
const SECRET = 'sk_live_ai_e2e_never_sent_to_the_model';

// The fake provider: answers each chat completion with the next queued text, and records
// every request body.
const replies = [];
const requests = [];
const provider = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => { body += d; });
  req.on('end', () => {
    requests.push({ path: req.url, body });
    const text = replies.shift() ?? '{}';
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({
      id: 'chatcmpl-e2e', object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 120, completion_tokens: 30 },
    }));
  });
});

const rollout = (percent) => ({
  on: true, off_variation: 0,
  fallthrough: { rollout: [{ variation: 0, weight: 100000 - percent * 1000 }, { variation: 1, weight: percent * 1000 }] },
});

let session, origin, p, pageErrors, tmp;

before(async () => {
  await new Promise((resolve) => provider.listen(0, '127.0.0.1', resolve));
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ev-e2e-ai-'));
  writeFileSync(path.join(tmp, 'provider.key'), 'provider-key-e2e\n', { mode: 0o600 });
  session = await consoleSession(['--set', 'ai.provider=openai', '--set', 'ai.model=e2e-model',
    '--set', `ai.base_url=http://127.0.0.1:${provider.address().port}/v1`,
    '--set', `ai.api_key_file=${path.join(tmp, 'provider.key')}`]);
  ({ origin, p, pageErrors } = session);
});

after(async () => {
  await session?.stop();
  provider.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('a draft is refused or shown as a dry run with its risk and explanation, then created and assessed as a request', async () => {
  await p.api('POST', '/v1/workspaces', { key: 'shop', name: 'Shop' });
  await p.api('POST', '/v1/workspaces/shop/environments', { key: 'prod', name: 'Production', protected: true, reason: 'setup' });
  await p.api('POST', '/v1/workspaces/shop/environments', { key: 'staging', name: 'Staging', reason: 'setup' });
  await p.api('PUT', '/v1/workspaces/shop/flags/new-checkout', {
    variations: [{ value: false }, { value: true }], environments: { staging: rollout(10) }, reason: 'setup',
  });
  await p.api('PUT', '/v1/workspaces/shop/secrets/stripe.key', { values: { prod: SECRET }, reason: 'setup' });
  await p.invite(DEV);
  const dev = await p.login(DEV);

  await dev.goto(origin + '/workspaces/shop/change-requests');
  await dev.getByRole('link', { name: 'Draft with AI' }).click();
  await dev.getByRole('heading', { level: 1, name: 'Draft with AI' }).waitFor();
  await assertAccessible(dev, 'AI draft (empty)');

  // A model answer that is not a draft: the api's refusal is shown; nothing is created.
  replies.push('Sure! Here is what I would do: raise the rollout.');
  await dev.getByLabel('Your request').fill('roll out new-checkout to 30% in staging');
  await dev.getByRole('button', { name: 'Draft', exact: true }).click();
  const refused = dev.locator('form[aria-labelledby="ai-ask-h"] [role="alert"]');
  await refused.waitFor();
  assert.match(await refused.innerText(), /JSON|draft/i);
  assert.equal(await dev.locator('[data-draft]').count(), 0);

  // A draft: shown as the dry run.
  replies.push(JSON.stringify({
    workspace: 'shop', title: 'Roll out new-checkout to 30%', description: 'Staging first.',
    changes: [{ kind: 'flag', key: 'new-checkout', environment: 'staging', configuration: rollout(30) }],
  }));
  await dev.getByRole('button', { name: 'Draft', exact: true }).click();
  const draft = dev.locator('[data-draft]');
  await draft.waitFor();
  assert.equal(await dev.locator('#draft-title').inputValue(), 'Roll out new-checkout to 30%');
  assert.match(await dev.locator('[data-draft-summary]').innerText(), /^1 change; 0 approvals required \(touches staging\)\.$/);
  const [was, will] = await draft.locator('[data-diff-env="staging"] tr[data-item="flag:new-checkout"] td').allInnerTexts();
  assert.match(was, /"weight":10000/);
  assert.match(will, /"weight":30000/);
  await assertAccessible(dev, 'AI draft (dry run)');

  // Its exact risk: about 20% of the sample switch (10% → 30%); no model is asked.
  const asked = requests.length;
  await draft.getByRole('button', { name: 'Assess the risk' }).click();
  const share = draft.locator('[data-risk-flag="new-checkout/staging"] td');
  await share.first().waitFor();
  const [, switched] = await share.allInnerTexts();
  const percent = Number(/^([\d.]+)%/.exec(switched)[1]);
  assert.ok(percent > 15 && percent < 25, `about 20% switch, got ${switched}`);
  assert.equal(requests.length, asked, 'the exact risk asks no model');

  // The model's reading of those numbers.
  replies.push(JSON.stringify({ summary: 'About a fifth of staging users move to the new checkout.', concerns: ['Watch checkout errors in staging.'] }));
  await draft.getByRole('button', { name: 'Explain with AI' }).click();
  const explanation = draft.locator('[data-risk-explanation]');
  await explanation.waitFor();
  assert.match(await explanation.innerText(), /About a fifth of staging users/);
  assert.match(await explanation.innerText(), /Watch checkout errors in staging\./);
  await assertAccessible(dev, 'AI draft (risk explained)');
  await screenshot(dev, 'ai-draft', draft);
  assert.equal((await p.api('GET', '/v1/workspaces/shop/change-requests')).change_requests.length, 0, 'a draft stores nothing');

  // Created under a title of the developer's own: the request's page, with its own risk.
  await dev.locator('#draft-title').fill('New checkout for 30% of staging');
  await dev.getByRole('button', { name: 'Create change request' }).click();
  await dev.getByRole('heading', { level: 1, name: /^#\d+ New checkout for 30% of staging$/ }).waitFor();
  const state = dev.locator('[data-state]');
  await state.waitFor();
  // No approvals needed in staging: approved at once, waiting to be applied.
  assert.equal(await state.getAttribute('data-state'), 'approved');
  const risk = dev.locator('section[aria-labelledby="cr-risk-h"]');
  await risk.getByRole('button', { name: 'Assess the risk' }).click();
  await risk.locator('[data-risk-flag="new-checkout/staging"]').waitFor();
  await assertAccessible(dev, 'change request (risk)');
  const crs = (await p.api('GET', '/v1/workspaces/shop/change-requests')).change_requests;
  assert.equal(crs.length, 1);
  assert.equal(crs[0].title, 'New checkout for 30% of staging');

  // The provider saw the workspace, never the secret's value.
  assert.ok(requests.length >= 3);
  for (const r of requests) {
    assert.equal(r.path, '/v1/chat/completions');
    assert.ok(!r.body.includes(SECRET), 'a secret value reached the provider');
  }
  assert.deepEqual(pageErrors, []);
});
