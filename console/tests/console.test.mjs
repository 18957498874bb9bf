// The web console in a real browser: Debian's Chromium, driven by playwright-core, against a
// running local stack (started by tests/tests/console.rs, which passes its URLs). Each test is
// what a person does on a page; every page is checked with axe-core (no serious or critical
// violation) and photographed into target/console-screenshots/.
//
// Environment: SBX_CONSOLE_URL, SBX_API_URL (the stack), SBX_QUARANTINED_ACCOUNT (an account
// the harness quarantined), SBX_FAILED_SANDBOX (alice's sandbox whose stop failed),
// SBX_SCREENSHOTS (where to write), SBX_CHROMIUM (the browser).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';

const CONSOLE = process.env.SBX_CONSOLE_URL;
const API = process.env.SBX_API_URL;
const QUARANTINED = process.env.SBX_QUARANTINED_ACCOUNT;
const FAILED = process.env.SBX_FAILED_SANDBOX;
const SHOTS = process.env.SBX_SCREENSHOTS ?? join(process.cwd(), 'target', 'console-screenshots');
const CHROMIUM = process.env.SBX_CHROMIUM ?? '/usr/bin/chromium';
const USERS = {
  alice: 'Alice-sandbox-1',
  bob: 'Bob-sandbox-1',
  olivia: 'Olivia-operator-1',
};
// How long a workflow may take on the scaled-down stack before a test gives up.
const LIFECYCLE_MS = 60_000;

assert.ok(CONSOLE && API, 'SBX_CONSOLE_URL and SBX_API_URL must name a running stack');
// Only this run's photographs: a page that no longer renders leaves no old picture behind.
rmSync(SHOTS, { recursive: true, force: true });
mkdirSync(SHOTS, { recursive: true });

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});
after(async () => {
  await browser?.close();
});

/** A page of a new browser context, failing the test on any script error or dialog. */
async function open() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    // A refused request (401, 404, 409, 503) is logged by Chromium as an error; the page
    // handles it. Anything else is a defect.
    if (msg.type() === 'error' && !/Failed to load resource/.test(msg.text())) {
      problems.push(`console error: ${msg.text()}`);
    }
  });
  page.on('dialog', async (dialog) => {
    problems.push(`dialog: ${dialog.message()}`);
    await dialog.dismiss();
  });
  return { context, page, problems };
}

/** axe-core on the page as it is now: no serious or critical violation. */
async function accessible(page, what) {
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
    [],
    `${what}: axe violations`,
  );
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function signIn(page, user) {
  await page.goto(CONSOLE);
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(USERS[user]);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('user').waitFor();
}

/** Tokens from the API directly, for the other clients of these tests. */
async function token(user) {
  const response = await fetch(`${API}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: user, password: USERS[user] }),
  });
  assert.equal(response.status, 200);
  return (await response.json()).access_token;
}

async function call(tokenValue, method, path, body) {
  const headers = { authorization: `Bearer ${tokenValue}` };
  if (body) headers['content-type'] = 'application/json';
  if (method === 'POST' && path === '/sandboxes') headers['idempotency-key'] = crypto.randomUUID();
  const response = await fetch(`${API}${path}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** Polls the API until the sandbox is in `state`. */
async function until(tokenValue, id, state) {
  const deadline = Date.now() + LIFECYCLE_MS;
  for (;;) {
    const { body } = await call(tokenValue, 'GET', `/sandboxes/${id}`);
    if (body?.state === state) return body;
    assert.ok(Date.now() < deadline, `${id} is ${body?.state}, not ${state}, after ${LIFECYCLE_MS} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const noReload = (page) => page.evaluate(() => (window.__sbxNoReload = true));
const stillNoReload = async (page) => assert.equal(await page.evaluate(() => window.__sbxNoReload), true, 'the page was reloaded');

test('signing in: a wrong password is refused on the page, the right one opens the sandboxes', async () => {
  const { context, page, problems } = await open();
  await page.goto(CONSOLE);
  await page.getByRole('heading', { name: 'Sign in to sbx' }).waitFor();
  await accessible(page, 'sign-in');
  await shot(page, '01-sign-in');
  await page.getByLabel('User name').fill('alice');
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').waitFor();
  await shot(page, '02-sign-in-refused');
  await page.getByLabel('Password').fill(USERS.alice);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Sandboxes' }).waitFor();
  // The access token is in session storage, never in the URL; the refresh token in no
  // storage at all.
  assert.ok(!page.url().includes('eyJ'), page.url());
  const stored = await page.evaluate(() => sessionStorage.getItem('sbx.session'));
  assert.match(stored, /access_token/);
  assert.doesNotMatch(stored, /refresh/);
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  assert.equal(await page.evaluate(() => document.cookie), '');
  assert.deepEqual(problems, []);
  await context.close();
});

test('a tenant creates a sandbox, watches it start live, is told why Start is refused, extends, stops and deletes it', async () => {
  const { context, page, problems } = await open();
  await signIn(page, 'alice');
  await page.getByRole('link', { name: 'New sandbox' }).first().click();
  await page.getByRole('heading', { name: 'New sandbox' }).waitFor();
  await accessible(page, 'create');

  // The API's own validation message, as it says it.
  await page.getByLabel('Name').fill('   ');
  await page.getByRole('button', { name: 'Create' }).click();
  await page.getByRole('alert').filter({ hasText: 'name: 1 to 100 printable characters' }).waitFor();
  await page.getByLabel('Name').fill('console demo');
  await page.getByLabel('Lifetime (hours)').fill('0');
  await page.getByRole('button', { name: 'Create' }).click();
  await page.getByRole('alert').filter({ hasText: 'ttl_hours: 1 to 720' }).waitFor();
  await shot(page, '03-create-refused');

  await page.getByLabel('Lifetime (hours)').fill('4');
  await page.getByLabel('AMQ (layer-4 ingress)').check();
  await page.getByLabel('Constellations').fill('payments, cards');
  await page.getByRole('button', { name: 'Create' }).click();
  await page.locator('section[data-sandbox]').waitFor();
  await noReload(page);
  const id = await page.locator('section[data-sandbox]').getAttribute('data-sandbox');

  // The running operation's step is shown while it runs, then the page reaches started by
  // itself.
  const step = page.getByTestId('current-step');
  await step.waitFor({ timeout: LIFECYCLE_MS });
  await shot(page, '04-sandbox-creating');
  const seen = new Set();
  const deadline = Date.now() + LIFECYCLE_MS;
  while ((await page.locator('section[data-sandbox]').getAttribute('data-state')) !== 'started') {
    assert.ok(Date.now() < deadline, 'the sandbox did not reach started on the page');
    if (await step.isVisible()) seen.add(await step.textContent().catch(() => ''));
    await page.waitForTimeout(100);
  }
  await stillNoReload(page);
  assert.ok([...seen].some((s) => /^[A-Z][A-Za-z]+$/.test(s)), `a workflow step was shown: ${[...seen]}`);
  // Endpoints are links; the audit trail has the create's two events.
  await page.getByRole('link', { name: /acme\.sandboxes\.sbx\.localhost\/$/ }).waitFor();
  await page.locator('tr[data-seq="2"]').waitFor();
  // Start is refused from started, and the page says why.
  const start = page.getByRole('button', { name: 'Start' });
  assert.equal(await start.isDisabled(), true);
  const why = await page.locator('#why-not-start').textContent();
  assert.match(why, /the sandbox is started; start is possible from stopped/);
  assert.equal(await start.getAttribute('aria-describedby'), 'why-not-start');
  await accessible(page, 'sandbox');
  await shot(page, '05-sandbox-started');

  // A schedule set through the API shows on the page by itself (the record is polled).
  assert.equal(await page.getByTestId('schedule').textContent(), 'none');
  const scheduled = await page.evaluate(async (sandbox) => {
    const { access_token: token } = JSON.parse(sessionStorage.getItem('sbx.session'));
    const answer = await fetch(`/sandboxes/${sandbox}/schedule`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        autostop: { at: '19:00', days: ['mon', 'fri'], time_zone: 'Europe/London' },
        idle_minutes: 120,
      }),
    });
    return answer.status;
  }, id);
  assert.equal(scheduled, 200);
  await page
    .getByTestId('schedule')
    .filter({ hasText: 'stops 19:00 mon, fri (Europe/London); idle stop after 120 min' })
    .waitFor();

  // Extend by 2 hours: the expiry moves by 2 hours.
  const before = Date.parse(await page.getByTestId('expires-at').getAttribute('data-at'));
  await page.getByLabel('Extend by (hours)').fill('2');
  await page.getByRole('button', { name: 'Extend' }).click();
  await page.waitForFunction(
    (was) => Date.parse(document.querySelector('[data-testid="expires-at"]').dataset.at) !== was,
    before,
  );
  const extended = Date.parse(await page.getByTestId('expires-at').getAttribute('data-at'));
  assert.equal(extended - before, 2 * 3600_000);

  // Stop, then delete, each followed live.
  await page.getByRole('button', { name: 'Stop' }).click();
  await page.locator('section[data-state="stopped"]').waitFor({ timeout: LIFECYCLE_MS });
  assert.equal(await page.getByRole('button', { name: 'Start' }).isDisabled(), false);
  assert.equal(await page.getByRole('button', { name: 'Stop' }).isDisabled(), true);
  await shot(page, '06-sandbox-stopped');
  await page.getByRole('button', { name: 'Delete' }).click();
  await shot(page, '07-sandbox-confirm-delete');
  await page.getByRole('button', { name: 'Delete for good' }).click();
  await page.locator('section[data-state="deleted"]').waitFor({ timeout: LIFECYCLE_MS });
  await stillNoReload(page);
  // The trail grew one event at a time, without re-reading: create 2, stop 2, delete 2, extend none.
  await page.locator('tr[data-seq="6"]').waitFor();
  assert.equal(await page.locator('tr[data-seq]').count(), 6);
  for (const name of ['Start', 'Stop', 'Delete', 'Extend']) {
    assert.equal(await page.getByRole('button', { name, exact: true }).isDisabled(), true, name);
  }
  await shot(page, '08-sandbox-deleted');
  assert.deepEqual(problems, []);
  // The sandbox as the API has it.
  const alice = await token('alice');
  assert.equal((await call(alice, 'GET', `/sandboxes/${id}`)).body.state, 'deleted');
  await context.close();
});

test('a failed sandbox shows its error and cause, and only what the table allows after a failed stop', async () => {
  assert.ok(FAILED, 'SBX_FAILED_SANDBOX names the sandbox the harness failed');
  const { context, page, problems } = await open();
  await signIn(page, 'alice');
  // The month against the budget, and what the sandbox has cost (two hours metered).
  await page.getByTestId('month-spend').filter({ hasText: 'of a $1000.00 budget' }).waitFor();
  const cost = Number(await page.locator(`tr[data-sandbox="${FAILED}"] td[data-cost]`).getAttribute('data-cost'));
  // Failed after its first seconds: two hours of its 150 GiB of volumes, about $0.033.
  assert.ok(cost > 0.03 && cost < 0.05, `${cost}`);
  await shot(page, '18-list-with-spend');
  await page.locator(`tr[data-sandbox="${FAILED}"] a`).first().click();
  await page.locator('section[data-state="failed"]').waitFor();
  await page.getByRole('heading', { name: 'The stop failed' }).waitFor();
  assert.equal(await page.getByTestId('failure-error').textContent(), 'Sbx.Transient');
  assert.match(await page.getByTestId('cost').textContent(), /^\$\d+\.\d\d \(\$\d+\.\d{3}\/h now\)$/);
  // The cause is text, markup and all.
  assert.equal(await page.getByTestId('failure-cause').textContent(), 'StopInstances: RequestLimitExceeded (<script>alert(1)</script>)');
  assert.equal(await page.locator('[data-testid="failure-cause"] script').count(), 0);
  // After a failed stop: start again or delete; not stop.
  assert.equal(await page.getByRole('button', { name: 'Start' }).isDisabled(), false);
  assert.equal(await page.getByRole('button', { name: 'Delete' }).isDisabled(), false);
  assert.equal(await page.getByRole('button', { name: 'Stop' }).isDisabled(), true);
  assert.match(await page.locator('#why-not-stop').textContent(), /the sandbox is failed; stop is possible from started/);
  await page.locator('tr[data-seq="4"]').waitFor();
  assert.match(await page.locator('tr[data-seq="4"]').textContent(), /stopping → failed.*Sbx\.Transient/);
  await accessible(page, 'failed sandbox');
  await shot(page, '17-sandbox-failed');
  assert.deepEqual(problems, []);
  await context.close();
});

test('the list follows other clients live, filters by state, pages, and shows names as text', async () => {
  const { context, page, problems } = await open();
  await signIn(page, 'bob');
  await noReload(page);
  const bob = await token('bob');
  // Another client creates sandboxes while the page is open; one is named like markup.
  const hostile = '<img src=x onerror=alert(1)> & "quotes"';
  const made = [];
  for (const name of [hostile, 'second', 'third']) {
    const created = await call(bob, 'POST', '/sandboxes', { name });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    made.push(created.body.id);
  }
  for (const id of made) await page.locator(`tr[data-sandbox="${id}"]`).waitFor();
  // Each reaches started in the list without a reload.
  await page.locator('tr[data-sandbox] [data-state="started"]').nth(2).waitFor({ timeout: LIFECYCLE_MS });
  const cell = page.locator(`tr[data-sandbox="${made[0]}"] td a`).first();
  assert.equal(await cell.textContent(), hostile);
  assert.equal(await page.locator('img[src="x"]').count(), 0);
  await accessible(page, 'list');
  await shot(page, '09-list');

  // Another client deletes one: it leaves "started" for "deleting", then "deleted".
  await call(bob, 'DELETE', `/sandboxes/${made[2]}`);
  await page.locator(`tr[data-sandbox="${made[2]}"] [data-state="deleted"]`).waitFor({ timeout: LIFECYCLE_MS });
  await stillNoReload(page);

  // Filter by state: only deleted ones.
  await page.getByLabel('State').selectOption('deleted');
  await page.locator(`tr[data-sandbox="${made[0]}"]`).waitFor({ state: 'detached' });
  await page.locator(`tr[data-sandbox="${made[2]}"]`).waitFor();
  const states = await page.locator('tr[data-sandbox] [data-state]').evaluateAll((cells) => cells.map((c) => c.dataset.state));
  assert.ok(states.length >= 1 && states.every((s) => s === 'deleted'), `${states}`);
  await shot(page, '10-list-filtered');

  // Pages of one: the API's next_token through the pager.
  await page.evaluate(() => (location.hash = '#/sandboxes?state=started'));
  await page.locator('tr[data-sandbox]').nth(1).waitFor();
  await page.route('**/sandboxes?*', (route) => {
    const url = new URL(route.request().url());
    url.searchParams.set('limit', '1');
    route.continue({ url: url.toString() });
  });
  await page.getByLabel('State').selectOption('');
  await page.getByLabel('State').selectOption('started');
  await page.waitForFunction(() => document.querySelectorAll('tr[data-sandbox]').length === 1);
  const first = await page.locator('tr[data-sandbox]').getAttribute('data-sandbox');
  await page.getByRole('button', { name: 'Next page' }).click();
  await page.waitForFunction((was) => document.querySelector('tr[data-sandbox]')?.dataset.sandbox !== was, first);
  const second = await page.locator('tr[data-sandbox]').getAttribute('data-sandbox');
  assert.notEqual(first, second);
  await page.getByRole('button', { name: 'Previous page' }).click();
  await page.waitForFunction((was) => document.querySelector('tr[data-sandbox]')?.dataset.sandbox === was, first);
  await page.unroute('**/sandboxes?*');
  assert.deepEqual(problems, []);
  for (const id of made.slice(0, 2)) await call(bob, 'DELETE', `/sandboxes/${id}`);
  await context.close();
});

test('a 503 shows a retry message and the page recovers; a refused token is refreshed; a dead session returns to sign-in', async () => {
  const { context, page } = await open();
  await signIn(page, 'alice');
  await page.getByRole('heading', { name: 'Sandboxes' }).waitFor();
  await noReload(page);

  await page.route('**/sandboxes?*', (route) =>
    route.fulfill({
      status: 503,
      headers: { 'content-type': 'application/problem+json', 'retry-after': '1' },
      body: JSON.stringify({ type: 'unavailable', title: 'Unavailable', status: 503, detail: 'the store is busy' }),
    }),
  );
  await page.getByText('The sbx API is unavailable right now (503)').waitFor();
  await accessible(page, 'list while the API is unavailable');
  await shot(page, '11-unavailable');
  await page.unroute('**/sandboxes?*');
  await page.getByText('The sbx API is unavailable right now').waitFor({ state: 'detached', timeout: 20_000 });
  await stillNoReload(page);

  // An access token the API refuses is replaced through the refresh token, on the same page.
  const before = await page.evaluate(() => JSON.parse(sessionStorage.getItem('sbx.session')));
  await page.evaluate(() => {
    const s = JSON.parse(sessionStorage.getItem('sbx.session'));
    s.access_token = 'eyJhbGciOiJub25lIn0.eyJ1c2VybmFtZSI6ImFsaWNlIn0.x';
    sessionStorage.setItem('sbx.session', JSON.stringify(s));
  });
  await page.waitForFunction((was) => {
    const s = JSON.parse(sessionStorage.getItem('sbx.session') ?? '{}');
    return s.access_token && s.access_token !== was && s.access_token.length > 100;
  }, before.access_token);
  await page.getByRole('heading', { name: 'Sandboxes' }).waitFor();
  await stillNoReload(page);

  // The refresh token that did it lives only in the page's memory.
  assert.doesNotMatch(await page.evaluate(() => sessionStorage.getItem('sbx.session')), /refresh/);

  // With both tokens refused, the session ends and the page asks to sign in again.
  // (The page's refresh token cannot be reached from outside: its request is rewritten to
  // carry one the API refuses.)
  await page.route('**/token', (route) =>
    route.continue({ postData: JSON.stringify({ refresh_token: 'refused' }) }),
  );
  await page.evaluate(() => {
    const s = JSON.parse(sessionStorage.getItem('sbx.session'));
    s.access_token = 'refused';
    sessionStorage.setItem('sbx.session', JSON.stringify(s));
  });
  await page.getByRole('heading', { name: 'Sign in to sbx' }).waitFor();
  await page.getByText('Your session has ended. Sign in again.').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('sbx.session')), null);
  await context.close();
});

test('an admin sees every tenant, the pool by state, a quarantined account and its reason, and sends it back to cleaning', async () => {
  assert.ok(QUARANTINED, 'SBX_QUARANTINED_ACCOUNT names the account the harness quarantined');
  const { context, page, problems } = await open();
  await signIn(page, 'olivia');
  assert.match(await page.getByTestId('user').textContent(), /olivia \(admin\)/);

  await page.getByRole('link', { name: 'Tenants', exact: true }).click();
  await page.getByRole('heading', { name: 'Tenants' }).waitFor();
  await page.locator('tr[data-tenant="acme"]').waitFor();
  await accessible(page, 'tenants');
  await shot(page, '12-tenants');
  await page.locator('tr[data-tenant="acme"] a').first().click();
  await page.getByRole('heading', { name: 'Sandboxes of acme' }).waitFor();
  await page.locator('tr[data-sandbox]').first().waitFor();
  await shot(page, '13-admin-tenant-sandboxes');

  await page.getByRole('link', { name: 'Accounts', exact: true }).click();
  await page.getByRole('heading', { name: 'Account pool' }).waitFor();
  await page.getByRole('link', { name: /^quarantined \(\d+\)$/ }).click();
  const row = page.locator(`tr[data-account="${QUARANTINED}"]`);
  await row.waitFor();
  assert.match(await row.locator('td.reason').textContent(), /left behind/);
  await accessible(page, 'accounts');
  await shot(page, '14-accounts-quarantined');

  await row.getByRole('link', { name: QUARANTINED }).click();
  await page.locator('section[data-account][data-state="quarantined"]').waitFor();
  assert.match(await page.getByTestId('reason').textContent(), /left behind/);
  await page.locator('tr[data-seq]').nth(4).waitFor();
  await accessible(page, 'account');
  await shot(page, '15-account-quarantined');
  await page.getByRole('button', { name: 'Clean again' }).click();
  await page.locator('section[data-account][data-state="cleaning"]').waitFor();
  assert.equal(await page.getByRole('button', { name: 'Clean again' }).isDisabled(), true);
  await page.locator('#why-not-clean').waitFor();
  await page.locator('tr[data-seq]').nth(5).waitFor();
  await shot(page, '16-account-cleaning');
  assert.deepEqual(problems, []);
  await context.close();
});

test('a member is not shown the admin pages, and signing out ends the session', async () => {
  const { context, page } = await open();
  await signIn(page, 'alice');
  assert.equal(await page.getByRole('link', { name: 'Accounts', exact: true }).count(), 0);
  await page.evaluate(() => (location.hash = '#/accounts'));
  await page.getByRole('heading', { name: 'Not found' }).waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to sbx' }).waitFor();
  await page.getByText('You signed out.').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('sbx.session')), null);
  await context.close();
});
