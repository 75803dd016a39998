// The console's account and org pages in a real browser against a real `edgevault up`:
// a session opened elsewhere listed and signed out from the Account page; TOTP enrolment
// and a password change there (the QR code is an <img>, the code comes from oathtool),
// signing in again with password + TOTP; a passkey registered through Chrome's virtual
// authenticator (CDP) and used on the login page; inviting a member and changing their
// role; creating and revoking an API key (auth accepts it, then refuses it); the Audit page
// showing the logins and filtering by action; signing out all other sessions and removing
// the passkey; turning TOTP off (the next sign-in needs no code); an admin who is not an
// owner refused (and shown why) when making someone owner or removing the owner; removing a
// member, whose open console goes to the sign-in page at its next load; axe-core finding no
// serious or critical violation on these pages. The browser uses http://localhost:PORT, the
// WebAuthn RP ID.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { addVirtualAuthenticator, assertAccessible as axe, launchChromium, screenshot, watchPage } from './lib/browser.mjs';
import { EdgeVault } from './lib/edgevault.mjs';

const PASSWORD = 'console org e2e password 1';
const NEW_PASSWORD = 'console org e2e password 2';
const MEMBER = 'new.member@e2e.test';
const MEMBER_PASSWORD = 'member e2e password 1';
const ADMIN = 'an.admin@e2e.test';
const ADMIN_PASSWORD = 'admin e2e password 1';

let ev, browser, page, origin, secret;
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
// The page as it is now is also docs/console/<name>.png (`make screenshots`).
async function shotAndCheck(name) {
  await screenshot(page, name);
  await axe(page, name);
}

const heading = (name) => page.getByRole('heading', { level: 1, name });
const nav = (name) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });

// RFC 6238 with oathtool, for a 30 s step after every step used so far: auth accepts ±1
// step and refuses a step not after the last one it accepted, so a code in the same step as
// the previous one uses the next step (waiting until that is within the ±1 window).
let lastStep = 0;
async function totp(secret) {
  let now = Math.floor(Date.now() / 30000);
  const step = Math.max(now, lastStep + 1);
  while (step > now + 1) {
    await new Promise((r) => setTimeout(r, 1000));
    now = Math.floor(Date.now() / 30000);
  }
  lastStep = step;
  const at = new Date(step * 30000 + 15000).toISOString().replace(/\.\d+Z$/, 'Z');
  return execFileSync('oathtool', ['--totp', '-b', secret, '--now', at], { encoding: 'utf8' }).trim();
}

async function signOut() {
  await page.getByRole('link', { name: 'Sign out' }).click();
  await page.getByText('You are signed out.').waitFor();
  await assertAccessible('sign out');
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
  await assertAccessible('login');
  await passwordStep(ev.ownerOneTimePassword);
  await heading('Choose your password').waitFor();
  await assertAccessible('password change');
  await page.getByLabel('New password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Confirm new password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Change password' }).click();
  await heading('Workspaces').waitFor();
  await assertAccessible('workspaces');

  // Account. A session opened elsewhere (the API) is listed and signed out from here.
  const elsewhere = await ev.auth('POST', '/v1/login', { body: { email: ev.ownerEmail, password: PASSWORD } });
  assert.equal(elsewhere.status, 200, elsewhere.text);
  await page.getByRole('link', { name: 'Account', exact: true }).click();
  await heading('Account').waitFor();
  const sessions = page.getByRole('table', { name: 'Your sessions' });
  await sessions.locator('tbody tr').nth(1).waitFor();
  assert.equal(await sessions.locator('tbody tr').count(), 2);
  await sessions.getByText('(this session)').waitFor();
  await shotAndCheck('account');
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
  secret = (await page.getByTestId('totp-secret').innerText()).trim();
  await page.getByLabel('Code from the app').fill(await totp(secret));
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
  await assertAccessible('two-factor authentication');
  await page.getByLabel('Authentication code').fill(await totp(secret));
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
  await page.getByLabel('Initial password (optional)').fill(MEMBER_PASSWORD);
  await page.getByRole('button', { name: 'Invite', exact: true }).click();
  await page.getByText(`Invited ${MEMBER} as developer.`).waitFor();
  await page.getByRole('list', { name: 'Pending invitations' }).getByText(MEMBER).waitFor();
  await page.getByLabel('Email').fill(MEMBER);
  await page.getByRole('button', { name: 'Invite', exact: true }).click();
  await page.getByRole('alert').waitFor();
  const login = await ev.auth('POST', '/v1/login', { body: { email: MEMBER, password: MEMBER_PASSWORD } });
  assert.equal(login.status, 200, login.text);
  await page.reload();
  await heading('Members').waitFor();
  const role = page.getByLabel(`Role of ${MEMBER}`);
  assert.equal(await role.inputValue(), 'developer');
  await role.selectOption('viewer');
  await page.getByText(`${MEMBER} is now viewer.`).waitFor();
  await shotAndCheck('members');
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
  await shotAndCheck('API keys');
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
  await shotAndCheck('audit');

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

// A new browser context signed in as `email` (an invitee's first sign-in accepts).
async function signedInPage(email, password) {
  const other = watchPage(await (await browser.newContext()).newPage(), pageErrors);
  await other.goto(origin + '/');
  await other.getByRole('heading', { level: 1, name: 'Sign in to EdgeVault' }).waitFor();
  await other.getByLabel('Email').fill(email);
  await other.getByLabel('Password', { exact: true }).fill(password);
  await other.getByRole('button', { name: 'Sign in', exact: true }).click();
  await other.getByRole('heading', { level: 1, name: 'Workspaces' }).waitFor();
  return other;
}

async function roleOf(email) {
  const r = await ev.auth('GET', '/v1/members', { bearer: ev.adminKey });
  assert.equal(r.status, 200, r.text);
  return r.json.members.find((m) => m.email === email)?.role;
}

test('turning TOTP off on the Account page: the next sign-in needs no code', async () => {
  assert.ok(secret, 'the first test enrolled TOTP');
  await page.getByRole('link', { name: 'Account', exact: true }).click();
  await heading('Account').waitFor();
  await page.getByText('On. To turn it off').waitFor();
  await page.getByRole('textbox', { name: 'Password', exact: true }).fill(NEW_PASSWORD);
  await page.getByLabel('Current code').fill(await totp(secret));
  await page.getByRole('button', { name: 'Turn off two-factor authentication' }).click();
  await page.getByText('Two-factor authentication is off.').waitFor();
  await page.getByRole('button', { name: 'Set up an authenticator app' }).waitFor();
  await assertAccessible('account (TOTP off)');
  await signOut();
  await passwordStep(NEW_PASSWORD);
  await heading('Workspaces').waitFor();
  assert.deepEqual(pageErrors, []);
});

test('an admin who is not an owner cannot make someone owner or remove the owner', async () => {
  await nav('Members').click();
  await heading('Members').waitFor();
  await page.getByLabel('Email').fill(ADMIN);
  await page.getByLabel('Role', { exact: true }).selectOption('admin');
  await page.getByLabel('Initial password (optional)').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Invite', exact: true }).click();
  await page.getByText(`Invited ${ADMIN} as admin.`).waitFor();
  const admin = await signedInPage(ADMIN, ADMIN_PASSWORD);
  await admin.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Members', exact: true }).click();
  await admin.getByRole('heading', { level: 1, name: 'Members' }).waitFor();

  // Making the viewer an owner: auth's refusal is shown and the menu keeps the role.
  const role = admin.getByLabel(`Role of ${MEMBER}`);
  assert.equal(await role.inputValue(), 'viewer');
  await role.selectOption('owner');
  await admin.getByRole('alert').getByText('cannot grant the owner role').waitFor();
  assert.equal(await role.inputValue(), 'viewer');
  assert.equal(await roleOf(MEMBER), 'viewer');
  await axe(admin, 'members (admin, refused)');

  // Removing the owner: refused, the owner is still listed and still the owner.
  await admin.getByRole('button', { name: `Remove ${ev.ownerEmail}` }).click();
  await admin.getByRole('alert').getByText('only an owner can remove an admin or owner').waitFor();
  await admin.locator(`tr[data-member="${ev.ownerEmail}"]`).waitFor();
  assert.equal(await roleOf(ev.ownerEmail), 'owner');
  await admin.context().close();
  assert.deepEqual(pageErrors, []);
});

test('removing a member: their open console goes to the sign-in page at its next load', async () => {
  const member = await signedInPage(MEMBER, MEMBER_PASSWORD);
  await nav('Members').click();
  await heading('Members').waitFor();
  await page.getByRole('button', { name: `Remove ${MEMBER}` }).click();
  await page.getByText(`${MEMBER} was removed from the org.`).waitFor();
  await page.locator(`tr[data-member="${MEMBER}"]`).waitFor({ state: 'detached' });
  await assertAccessible('members (after removal)');
  assert.equal(await roleOf(MEMBER), undefined);

  await member.reload();
  await member.getByRole('heading', { level: 1, name: 'Sign in to EdgeVault' }).waitFor();
  await axe(member, 'login (removed member)');
  await member.context().close();
  assert.deepEqual(pageErrors, []);
});
