// The console's third end-to-end script (the gaps the first two slices left),
// in Debian's Chromium driven by playwright-core, against the `jobgraph
// server` that cmd/jobgraph/e2e_console_test.go starts (subtest "gaps"), with:
//
//   JOBGRAPH_URL      the server's URL
//   ADMIN_PASSWORD    the first admin's password (user "admin")
//   PROJECT           a project with 300 hosts fleet-0001…fleet-0300 and 120
//                     selector groups grp-0001…grp-0120; a job "versioned"
//                     at version 2 (v1 echoes one, v2 echoes two); a job
//                     "guarded" whose command a guard rule "prod-gate"
//                     (APPROVE, role operator) holds; a webhook trigger
//                     "on-push" and a webhook channel "signed-hook" with a
//                     signing secret
//   OPERATOR_USER, OPERATOR_PASSWORD   a user holding the operator role there
//   VIEWER_USER       a user whose password the admin resets
//   ARTIFACTS         where screenshots go
//   CHROMIUM          the browser (default /usr/bin/chromium)
//
// It pages host pickers and the groups list through the API, edits the
// trigger and the channel (the channel's secret kept), reads the system
// audit log, diffs and restores a job version, resets a password in its
// form, and has the operator approve, from the run page, a run the guard
// rule held. Nothing sleeps: every wait is for a selector or a condition,
// with a deadline.
import { chromium } from 'playwright-core';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const url = env('JOBGRAPH_URL');
const artifacts = env('ARTIFACTS');
const timeout = 30_000;
mkdirSync(artifacts, { recursive: true });

const userDataDir = mkdtempSync(join(tmpdir(), 'jobgraph-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run', '--disable-component-update', '--disable-sync', '--disable-quic'],
  viewport: { width: 1280, height: 900 },
});
context.setDefaultTimeout(timeout);
const page = context.pages()[0] ?? (await context.newPage());
const consoleErrors = [];
page.on('pageerror', (e) => consoleErrors.push(String(e)));
page.on('dialog', (d) => d.accept());

let step = 'start';
const shot = async (name) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
const expect = (cond, what) => {
  if (!cond) throw new Error(`expected ${what}`);
};
const log = (...a) => console.log(`[gaps e2e] ${step}:`, ...a);
const count = (sel) => page.$$eval(sel, (els) => els.length);

async function login(username, password) {
  await page.goto(url + '/');
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=who]');
}

async function signOut() {
  await page.click('header >> text=Sign out');
  await page.waitForSelector('input[name=username]');
}

async function openProject(name) {
  const value = await page.$eval('[data-testid=project-switcher]', (s, n) => [...s.options].find((o) => o.text === n)?.value, name);
  expect(value, `project ${name} in the switcher`);
  await page.selectOption('[data-testid=project-switcher]', value);
  await page.waitForFunction((v) => location.pathname.startsWith(`/p/${v}/`), value);
}

async function waitRunStatus(...statuses) {
  await page.waitForFunction((want) => want.includes(document.querySelector('[data-testid=run-status]')?.getAttribute('data-status')), statuses, { timeout });
  return page.getAttribute('[data-testid=run-status]', 'data-status');
}

try {
  step = 'login';
  await login('admin', env('ADMIN_PASSWORD'));
  await openProject(env('PROJECT'));

  step = 'a host picker pages through 300 hosts and searches as you type';
  await page.click('nav >> text=Ad-hoc command');
  const picks = '[data-testid=target-hosts] label.pick';
  await page.waitForSelector('[data-testid=target-hosts-count] >> text=301 hosts in all');
  expect((await count(picks)) === 50, 'the first page of 50 hosts');
  await page.click('[data-testid=target-hosts-more]');
  await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 100, picks);
  await page.fill('[data-testid=target-hosts-search]', 'fleet-0299');
  await page.waitForSelector('[data-testid=target-hosts-count] >> text=1 hosts match');
  await page.check('[data-testid=target-hosts] label:has-text("fleet-0299") input');
  await page.fill('[data-testid=target-hosts-search]', 'fleet-02');
  await page.waitForSelector('[data-testid=target-hosts-count] >> text=100 hosts match');
  // The picked host stays in view, named, whatever the search.
  await page.fill('[data-testid=target-hosts-search]', 'fleet-0001');
  await page.waitForSelector('[data-testid=target-hosts-count] >> text=1 picked · 1 hosts match');
  await page.waitForSelector('[data-testid=target-hosts] label.picked:has-text("fleet-0299") input:checked');
  await shot('51-host-picker');

  step = 'the hosts list pages by 200';
  await page.click('nav >> text=Hosts');
  await page.waitForSelector('[data-testid=host-count] >> text=301 hosts');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=hosts] tbody tr').length === 200);
  await page.click('[data-testid=hosts-more]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=hosts] tbody tr').length === 301);

  step = 'the groups list pages by 100, and searches';
  await page.click('nav >> text=Host groups');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=groups] tr[data-group]').length === 100);
  await page.click('[data-testid=groups-more]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=groups] tr[data-group]').length === 120);
  await page.fill('[data-testid=group-search]', 'grp-0115');
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=groups] tr[data-group]')].map((r) => r.getAttribute('data-group')).join() === 'grp-0115');
  await page.fill('[data-testid=group-search]', '');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=groups] tr[data-group]').length === 100);

  step = 'a static group picks a host beyond the first page, and keeps it when edited';
  await page.click('[data-testid=new-group]');
  await page.fill('input[name=group-name]', 'pinned');
  await page.selectOption('select[name=group-kind]', 'STATIC');
  await page.fill('[data-testid=group-hosts-search]', 'fleet-0300');
  await page.check('[data-testid=group-hosts] label:has-text("fleet-0300") input');
  await page.click('[data-testid=group-form] button[type=submit]');
  await page.fill('[data-testid=group-search]', 'pinned');
  await page.waitForSelector('[data-testid=groups] tr[data-group=pinned] >> text=static list');
  await page.click('[data-testid=groups] tr[data-group=pinned] >> text=Edit');
  await page.waitForSelector('[data-testid=group-hosts] label.picked:has-text("fleet-0300") input:checked');
  await shot('52-static-group');
  await page.click('[data-testid=group-form] >> text=Cancel');

  step = 'a job step picks its hosts and groups by search';
  await page.click('nav >> text=Jobs');
  await page.click('[data-testid=jobs] >> text=versioned');
  await page.waitForSelector('[data-testid=step-hosts-0-search]');
  await page.fill('[data-testid=step-groups-0-search]', 'grp-0120');
  await page.waitForSelector('[data-testid=step-groups-0] label:has-text("grp-0120")');

  step = 'the job’s versions: a diff, then v1 restored as v3';
  await page.click('[data-testid=tab-versions]');
  await page.waitForSelector('[data-testid=version-diff] [data-op="-"] >> text=echo one');
  await page.waitForSelector('[data-testid=version-diff] [data-op="+"] >> text=echo two');
  await shot('53-version-diff');
  await page.click('[data-testid=restore-v1]');
  await page.click('[data-testid=tab-versions]');
  await page.waitForSelector('[data-testid=job-versions] tr[data-version="3"]');
  // v2 → v3 (the newest two) undoes the change.
  await page.waitForSelector('[data-testid=version-diff] [data-op="+"] >> text=echo one');
  await page.click('[data-testid=tab-yaml]');
  await page.waitForFunction(() => (document.querySelector('[data-testid=job-yaml]')?.value ?? '').includes('echo one'));
  await shot('54-version-restored');

  step = 'a webhook trigger edited';
  await page.click('nav >> text=Webhooks');
  await page.click('[data-testid=triggers] tr[data-trigger=on-push] [data-testid=edit-trigger]');
  await page.waitForSelector('[data-testid=edit-trigger-form]');
  expect((await page.inputValue('textarea[name=trigger-params]')) === 'who=$.pusher.name', 'the stored mapping in the form');
  await page.fill('textarea[name=trigger-params]', 'who=$.sender.login\nmode:="fast"');
  await page.fill('input[name=trigger-priority]', 'x');
  await page.click('[data-testid=edit-trigger-form] button[type=submit]');
  await page.waitForSelector('.row.bad input[name=trigger-priority]');
  await page.fill('input[name=trigger-priority]', '5');
  await page.uncheck('input[name=trigger-enabled]');
  await page.check('input[name=trigger-require-timestamp]');
  await page.fill('input[name=trigger-name]', 'on-push-2');
  await page.click('[data-testid=edit-trigger-form] button[type=submit]');
  // The API refuses a parameter the job lacks: said next to the mapping.
  await page.waitForSelector('.row.bad textarea[name=trigger-params]');
  log('the API says:', await page.textContent('.row.bad:has(textarea[name=trigger-params]) .field-error'));
  await page.fill('textarea[name=trigger-params]', 'who:="fast"');
  await page.click('[data-testid=edit-trigger-form] button[type=submit]');
  await page.waitForSelector('[data-testid=triggers] tr[data-trigger=on-push-2] [data-testid=trigger-params] >> text=who ← "fast"');
  expect(!(await page.isChecked('[data-testid=triggers] tr[data-trigger=on-push-2] input[type=checkbox]')), 'the trigger disabled');
  await page.click('[data-testid=triggers] tr[data-trigger=on-push-2] [data-testid=edit-trigger]');
  expect((await page.inputValue('input[name=trigger-priority]')) === '5', 'the priority saved');
  expect(await page.isChecked('input[name=trigger-require-timestamp]'), 'timestamps required');
  await shot('55-trigger-edit');
  await page.click('[data-testid=edit-trigger-form] >> text=Cancel');

  step = 'a notification channel edited, its secret kept';
  await page.click('nav >> text=Notifications');
  const hook = '[data-testid=channels] tr[data-channel=signed-hook]';
  await page.waitForSelector(`${hook} >> text=signed`);
  await page.click(`${hook} [data-testid=edit-channel]`);
  expect((await page.inputValue('input[name=channel-secret]')) === '', 'the secret never comes back to the page');
  await page.check('[data-testid=channel-form] label:has-text("run succeeded") input');
  await page.fill('input[name=channel-url]', url + '/readyz');
  await shot('56-channel-edit');
  await page.click('[data-testid=channel-form] button[type=submit]');
  await page.waitForSelector(`${hook} >> text=run succeeded`);
  await page.waitForSelector(`${hook} >> text=readyz`);
  await page.waitForSelector(`${hook} >> text=signed`); // the empty field kept the stored secret

  step = 'the system audit log';
  await page.click('nav >> text=Audit log');
  await page.check('input[name=audit-scope][value=system]');
  await page.waitForSelector('[data-testid=audit-count] >> text=on the whole server');
  await page.fill('input[name=audit-action]', 'login');
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('[data-testid=audit] tbody tr')];
    return rows.length > 0 && rows.every((r) => r.getAttribute('data-action') === 'login');
  });
  await shot('57-system-audit');

  step = 'a password reset in a form';
  await page.click('nav >> text=Users');
  const viewer = env('VIEWER_USER');
  await page.click(`[data-testid=users] tr[data-user=${viewer}] [data-testid=set-password]`);
  await page.fill('input[name=set-password]', 'short');
  await page.fill('input[name=set-password-confirm]', 'shorter');
  await page.click('[data-testid=password-form] button[type=submit]');
  await page.waitForSelector('.row.bad input[name=set-password-confirm]');
  await page.fill('input[name=set-password-confirm]', 'short');
  await page.click('[data-testid=password-form] button[type=submit]');
  await page.waitForSelector('.row.bad input[name=set-password]'); // the API's "too short", next to the field
  log('the API says:', await page.textContent('.row.bad:has(input[name=set-password]) .field-error'));
  await shot('58-password-form');
  await page.fill('input[name=set-password]', 'a-new-viewer-password');
  await page.fill('input[name=set-password-confirm]', 'a-new-viewer-password');
  await page.click('[data-testid=password-form] button[type=submit]');
  await page.waitForSelector(`[data-testid=users] tr[data-user=${viewer}] [data-testid=password-set]`);

  step = 'a guard rule holds a run for approval';
  await openProject(env('PROJECT'));
  await page.click('nav >> text=Jobs');
  await page.click('[data-testid=jobs] tr[data-job=guarded] [data-testid=launch-job]');
  await page.click('[data-testid=launch-run]');
  await page.waitForFunction(() => location.pathname.includes('/runs/'));
  const runPath = new URL(page.url()).pathname;
  expect((await waitRunStatus('WAITING_APPROVAL', 'QUEUED', 'RUNNING', 'SUCCEEDED')) === 'WAITING_APPROVAL', 'the run WAITING_APPROVAL');
  await page.waitForSelector('[data-testid=run-approvals] [data-testid=approval][data-status=PENDING] >> text=prod-gate');
  await shot('59-guard-held');
  await signOut();

  step = 'the operator approves it from the run page';
  await login(env('OPERATOR_USER'), env('OPERATOR_PASSWORD'));
  await page.goto(url + runPath);
  await page.waitForSelector('[data-testid=run-approvals] [data-testid=approval][data-status=PENDING] [data-testid=approve]');
  await page.fill('[data-testid=run-approvals] input[name=approval-comment]', 'gate passed');
  await page.click('[data-testid=run-approvals] [data-testid=approve]');
  expect((await waitRunStatus('SUCCEEDED', 'FAILED', 'CANCELED')) === 'SUCCEEDED', 'the approved run SUCCEEDED');
  await page.waitForSelector('[data-testid=run-approvals] [data-testid=approval][data-status=APPROVED] [data-testid=votes] >> text=gate passed');
  await shot('60-guard-approved');

  expect(consoleErrors.length === 0, `no uncaught errors in the page: ${consoleErrors.join('; ')}`);
  step = 'done';
  log('all passed; screenshots in', artifacts);
} catch (e) {
  await shot(`failed-${step.replace(/\W+/g, '-')}`).catch(() => {});
  console.error(`[gaps e2e] FAILED at "${step}": ${e?.stack ?? e}`);
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
