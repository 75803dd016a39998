// The console's account and org pages in a real browser against a real `edgevault up`:
// a session opened elsewhere listed and signed out from the Account page; TOTP enrolment
// and a password change there (the QR code is an <img>, the code comes from oathtool),
// signing in again with password + TOTP; a passkey registered through Chrome's virtual
// authenticator (CDP) and used on the login page; inviting a member and changing their
// role; creating and revoking an API key (auth accepts it, then refuses it); the Audit page
// showing the logins and filtering by action; signing out all other sessions and removing
// the passkey; axe-core finding no serious or critical violation on these pages. The
// browser uses http://localhost:PORT, the WebAuthn RP ID.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { addVirtualAuthenticator, assertAccessible as axe, launchChromium } from './lib/browser.mjs';
import { EdgeVault } from './lib/edgevault.mjs';

const PASSWORD = 'console org e2e password 1';
const NEW_PASSWORD = 'console org e2e password 2';
const MEMBER = 'new.member@e2e.test';

let ev, browser, page, origin;
const pageErrors = [];
const cspViolations = [];

before(async () => {
  const webDir = process.env.EDGEVAULT_WEB_DIR;
  ev = await EdgeVault.start({ extraArgs: webDir ? ['--set', `console.web_dir=${webDir}`] : [] });
  origin = `http://localhost:${ev.port('console')}`;
  // The console listens on 127.0.0.1; "localhost" must not try ::1 first.
  browser = await launchChromium(['--host-resolver-rules=MAP localhost 127.0.0.1']);
  page = await (await browser.newContext()).newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });
  page.on('dialog', (d) => { pageErrors.push(`dialog: ${d.message()}`); void d.dismiss(); });
  await page.goto(origin + '/');
  await addVirtualAuthenticator(page);
});

after(async () => {
  await browser?.close();
  await ev?.stop();
});

const assertAccessible = (name) => axe(page, name);

const heading = (name) => page.getByRole('heading', { level: 1, name });
const nav = (name) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });

// RFC 6238 with oathtool; `ahead` steps of 30 s in the future (auth accepts ±1 step and
// each step once, so a second login in the same step uses the next one).
function totp(secret, ahead = 0) {
  const args = ['--totp', '-b', secret];
  if (ahead) args.push('--now', new Date(Date.now() + ahead * 30000).toISOString().replace(/\.\d+Z$/, 'Z'));
  return execFileSync('oathtool', args, { encoding: 'utf8' }).trim();
}

async function signOut() {
  await page.getByRole('link', { name: 'Sign out' }).click();
  await page.getByText('You are signed out.').waitFor();
  await page.getByRole('button', { name: 'Sign in again' }).click();
  await heading('Sign in to EdgeVault').waitFor();
}

async function passwordStep(password) {
  await page.getByLabel('Email').fill(ev.ownerEmail);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

test('account (TOTP, passkey), members, API keys and audit through the console', async () => {
  // First start: one-time password, then a real one.
  await heading('Sign in to EdgeVault').waitFor();
  await page.getByRole('button', { name: 'Use a passkey' }).waitFor();
  await passwordStep(ev.ownerOneTimePassword);
  await heading('Choose your password').waitFor();
  await page.getByLabel('New password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Confirm new password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Change password' }).click();
  await heading('Workspaces').waitFor();

  // Account. A session opened elsewhere (the API) is listed and signed out from here.
  const elsewhere = await ev.auth('POST', '/v1/login', { body: { email: ev.ownerEmail, password: PASSWORD } });
  assert.equal(elsewhere.status, 200, elsewhere.text);
  await page.getByRole('link', { name: 'Account', exact: true }).click();
  await heading('Account').waitFor();
  const sessions = page.getByRole('table', { name: 'Your sessions' });
  await sessions.locator('tbody tr').nth(1).waitFor();
  assert.equal(await sessions.locator('tbody tr').count(), 2);
  await sessions.getByText('(this session)').waitFor();
  await assertAccessible('account');
  await sessions.getByRole('button', { name: /^Sign out session [0-9a-f]{16}$/ }).click();
  await page.getByText(/^Session [0-9a-f]{16} signed out\.$/).waitFor();
  // The list reloads after the notice: wait for the row to go.
  await sessions.locator('tbody tr').nth(1).waitFor({ state: 'detached' });
  assert.equal((await ev.auth('GET', '/v1/session', { bearer: elsewhere.json.session })).status, 401);

  // TOTP. The QR code is an image from a data: URL, not markup.
  await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
  const qr = page.getByRole('img', { name: 'QR code of the authenticator key' });
  await qr.waitFor();
  assert.match(await qr.getAttribute('src'), /^data:image\/svg\+xml/);
  assert.equal(await page.locator('main svg').count(), 0, 'the QR SVG was inserted as markup');
  const secret = (await page.getByTestId('totp-secret').innerText()).trim();
  await page.getByLabel('Code from the app').fill(totp(secret));
  await page.getByRole('button', { name: 'Turn on' }).click();
  const codes = page.getByRole('list', { name: 'Recovery codes' });
  await codes.waitFor();
  assert.equal(await codes.getByRole('listitem').count(), 10);
  await assertAccessible('account (recovery codes)');
  await page.getByRole('button', { name: 'I have saved them' }).click();
  await page.getByText('On. To turn it off').waitFor();

  // A passkey, through the virtual authenticator.
  await page.getByLabel('Passkey name (optional)').fill('e2e authenticator');
  await page.getByRole('button', { name: 'Add a passkey' }).click();
  await page.getByText('Passkey added.').waitFor();
  await page.getByRole('cell', { name: 'e2e authenticator', exact: true }).waitFor();

  // A new password (the session is replaced; the page stays signed in).
  await page.getByLabel('Current password').fill(PASSWORD);
  await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
  await page.getByLabel('Confirm new password').fill(NEW_PASSWORD);
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.getByText('Password changed.').waitFor();
  await heading('Account').waitFor();

  // The new password + TOTP.
  await signOut();
  await passwordStep(NEW_PASSWORD);
  await heading('Two-factor authentication').waitFor();
  await page.getByLabel('Authentication code').fill(totp(secret, 1));
  await page.getByRole('button', { name: 'Verify' }).click();
  await heading('Workspaces').waitFor();

  // Passwordless with the passkey.
  await signOut();
  await page.getByRole('button', { name: 'Use a passkey' }).click();
  await heading('Workspaces').waitFor();

  // Members: invite (with a chosen password), the invitee's first login accepts, then a
  // role change; a second invitation of the same email is refused and the error shown.
  await nav('Members').click();
  await heading('Members').waitFor();
  await page.getByLabel('Email').fill(MEMBER);
  await page.getByLabel('Role', { exact: true }).selectOption('developer');
  await page.getByLabel('Initial password (optional)').fill('member e2e password 1');
  await page.getByRole('button', { name: 'Invite', exact: true }).click();
  await page.getByText(`Invited ${MEMBER} as developer.`).waitFor();
  await page.getByRole('list', { name: 'Pending invitations' }).getByText(MEMBER).waitFor();
  await page.getByLabel('Email').fill(MEMBER);
  await page.getByRole('button', { name: 'Invite', exact: true }).click();
  await page.getByRole('alert').waitFor();
  const login = await ev.auth('POST', '/v1/login', { body: { email: MEMBER, password: 'member e2e password 1' } });
  assert.equal(login.status, 200, login.text);
  await page.reload();
  await heading('Members').waitFor();
  const role = page.getByLabel(`Role of ${MEMBER}`);
  assert.equal(await role.inputValue(), 'developer');
  await role.selectOption('viewer');
  await page.getByText(`${MEMBER} is now viewer.`).waitFor();
  await assertAccessible('members');
  const members = await ev.auth('GET', '/v1/members', { bearer: ev.adminKey });
  assert.equal(members.json.members.find((m) => m.email === MEMBER)?.role, 'viewer');

  // API keys: created (shown once), it works; revoked, it stops.
  await nav('API keys').click();
  await heading('API keys').waitFor();
  await page.getByLabel('Name', { exact: true }).fill('ci key');
  await page.getByRole('button', { name: 'Create API key' }).click();
  const key = (await page.getByTestId('new-api-key').innerText()).trim();
  assert.match(key, /^evk_/);
  assert.equal((await ev.auth('GET', '/v1/session', { bearer: key })).status, 200);
  await assertAccessible('API keys');
  await page.getByRole('button', { name: 'Revoke API key ci key' }).click();
  await page.getByText('API key ci key revoked.').waitFor();
  await page.locator('tr[data-key="ci key"]').getByText(/^revoked/).waitFor();
  // auth refuses it at once (the api may use its 30 s exchange cache a little longer).
  assert.equal((await ev.auth('GET', '/v1/session', { bearer: key })).status, 401);

  // Audit: the logins reach the warehouse (asynchronously), then filter by action.
  await nav('Audit').click();
  await heading('Audit').waitFor();
  await page.getByLabel('Action').fill('auth.login');
  // The table keeps the previous rows while a new page loads, so poll until it shows at
  // least two rows, all of them logins (the unfiltered list also holds other actions: the
  // password change, the invitation, the API key).
  const rows = page.locator('table.audit tbody tr');
  let actions = [];
  for (let i = 0; ; i++) {
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.waitForTimeout(500);
    actions = await rows.evaluateAll((trs) => trs.map((r) => r.dataset.action));
    if (actions.length >= 2 && actions.every((a) => a === 'auth.login')) break;
    assert.ok(i < 60, `the Audit page never showed only auth.login events: ${actions}`);
  }
  await page.getByRole('button', { name: 'Clear' }).click();
  await page.locator('table.audit tbody tr:not([data-action="auth.login"])').first().waitFor();
  await assertAccessible('audit');

  // Back on the Account page: sign out the other sessions, remove the passkey.
  await page.getByRole('link', { name: 'Account', exact: true }).click();
  await heading('Account').waitFor();
  await page.getByRole('button', { name: 'Sign out all other sessions' }).click();
  await page.getByText(/^Signed out \d+ other sessions?\.$/).waitFor();
  await page.getByRole('button', { name: 'Remove passkey e2e authenticator' }).click();
  await page.getByText('Passkey e2e authenticator removed.').waitFor();
  await page.getByText('No passkeys yet.').waitFor();

  assert.deepEqual(pageErrors, []);
  assert.deepEqual(cspViolations, []);
});
