// The console's second end-to-end script (jobs, approvals, guard rules), in
// Debian's Chromium driven by playwright-core, against the `jobgraph server`
// that cmd/jobgraph/e2e_console_test.go starts (subtest "jobs"), with:
//
//   JOBGRAPH_URL      the server's URL
//   ADMIN_PASSWORD    the first admin's password (user "admin")
//   PROJECT           a project with one host, app-0001, labelled role=app
//   OPERATOR_USER, OPERATOR_PASSWORD   a user holding the operator role there
//   ARTIFACTS         where screenshots go
//   CHROMIUM          the browser (default /usr/bin/chromium)
//
// It builds a two-step job in the editor (the second step needing the
// first), sees the DAG, launches it with a parameter and watches it
// succeed; has the operator approve an approval step the admin launched,
// from the inbox; and sees the built-in guard rule rm-rf-root refuse an
// ad-hoc command. The command is `echo rm -rf /`, which the rule matches
// (it matches a quoted statement on purpose) and which would be harmless if
// the guard let it through. Nothing sleeps: every wait is for a selector or
// a condition, with a deadline.
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
const log = (...a) => console.log(`[jobs e2e] ${step}:`, ...a);

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

/** Fills step i's executor, action and command. */
async function fillStep(i, name, command) {
  await page.fill(`input[name=step-name-${i}]`, name);
  await page.selectOption(`select[name=step-executor-${i}]`, 'local');
  await page.selectOption(`select[name=step-action-${i}]`, 'command');
  await page.fill(`[data-testid=step-params-${i}] [data-param=command] input, [data-testid=step-params-${i}] [data-param=command] textarea`, command);
}

try {
  const project = env('PROJECT');
  step = 'a two-step job in the editor';
  await login('admin', env('ADMIN_PASSWORD'));
  await openProject(project);
  await page.click('nav >> text=Jobs');
  await page.click('[data-testid=new-job]');
  await page.waitForURL(/\/jobs\/new$/);
  await page.fill('input[name=job-name]', 'hello');
  await page.click('[data-testid=add-param]');
  await page.fill('input[name=param-name-0]', 'who');
  await page.fill('input[name=param-default-0]', 'world');
  await fillStep(0, 'build', 'echo build-for-${{ params.who }}');
  await page.fill('input[name=step-selector-0]', 'role=app');
  await page.click('[data-testid=add-step]');
  await fillStep(1, 'deploy', 'echo deploy-for-${{ params.who }}');
  await page.check('[data-testid=step-needs-1] input[value=build]');
  await page.check('[data-step-index="1"] .targets label:has-text("app-0001") input');
  // The DAG follows the edits: deploy to the right of build, one edge.
  await page.waitForSelector('.dag-step[data-step=deploy]');
  await page.waitForFunction(() => document.querySelectorAll('.dag-edges path').length === 1);
  const left = async (name) => page.$eval(`.dag-step[data-step=${name}]`, (e) => e.offsetLeft);
  expect((await left('build')) < (await left('deploy')), 'deploy drawn after build');
  await shot('21-job-editor');
  // A bad retries count is said next to its field, before anything is sent.
  await page.click('[data-step-index="1"] summary');
  await page.fill('input[name=step-retries-1]', 'two');
  await page.click('[data-testid=save-job]');
  await page.waitForSelector('.row.bad input[name=step-retries-1]');
  await page.fill('input[name=step-retries-1]', '1');

  step = 'the job as YAML';
  await page.click('[data-testid=tab-yaml]');
  const yaml = await page.inputValue('[data-testid=job-yaml]');
  expect(yaml.includes('name: deploy') && /needs:\s*\n\s*- build/.test(yaml) && yaml.includes('selector: role=app'), `the YAML has both steps:\n${yaml}`);
  await shot('22-job-yaml');
  await page.click('[data-testid=tab-form]');
  await page.waitForSelector('input[name=step-name-1]');

  step = 'save and launch with a parameter';
  // The API's problem with a field is shown next to it: here a selector that does not parse.
  await page.fill('input[name=step-selector-0]', 'role in (app');
  await page.click('[data-testid=save-job]');
  await page.waitForSelector('.row.bad input[name=step-selector-0]');
  log('bad selector:', await page.textContent('.row.bad:has(input[name=step-selector-0]) .field-error'));
  await page.fill('input[name=step-selector-0]', 'role=app');
  await page.click('[data-testid=save-job]');
  await page.waitForURL(/\/jobs\/job_/);
  await page.waitForSelector('[data-testid=job-editor] h1 >> text=v1');
  const jobUrl = page.url();
  await page.click('[data-testid=launch-job]');
  await page.waitForSelector('[data-testid=launch-dialog] input[name=launch-who]');
  expect((await page.getAttribute('input[name=launch-who]', 'placeholder')) === 'world', 'the default as placeholder');
  await page.fill('input[name=launch-who]', 'console');
  await shot('23-launch-dialog');
  await page.click('[data-testid=launch-run]');
  await page.waitForURL(/\/runs\/run_/);
  expect((await waitRunStatus('SUCCEEDED', 'FAILED')) === 'SUCCEEDED', 'the job run SUCCEEDED');
  await page.waitForFunction(() => document.querySelectorAll('.dag-step[data-status=SUCCEEDED]').length === 2);
  await page.click('.dag-step[data-step=build]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=host-grid] .cell').length === 1);
  await page.click('[data-testid=host-grid] .cell');
  await page.waitForSelector('[data-testid=log] >> text=build-for-console');
  await shot('24-job-run');

  step = 'a second version';
  await page.goto(jobUrl);
  await page.waitForSelector('input[name=job-description]');
  // A new default changes the definition: a new version (a description alone would not).
  await page.fill('input[name=job-description]', 'says hello');
  await page.fill('input[name=param-default-0]', 'everyone');
  await page.click('[data-testid=save-job]');
  await page.waitForSelector('[data-testid=job-editor] h1 >> text=v2');
  await page.click('[data-testid=tab-versions]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=job-versions] tbody tr').length === 2);
  await shot('25-job-versions');

  step = 'an approval step';
  await page.click('nav >> text=Jobs');
  await page.click('text=Import YAML');
  await page.fill(
    '[data-testid=import-yaml]',
    `apiVersion: jobgraph/v1
kind: Job
name: gated
steps:
  - name: approve
    approval: {role: operator, count: 1, message: "Ship it?"}
  - name: ship
    executor: local
    action: command
    needs: [approve]
    targets: {selector: role=app}
    params: {command: echo shipped}
`,
  );
  await page.click('button:has-text("Import")[type=submit]');
  await page.waitForSelector('.dag-step[data-step=approve][data-status=APPROVAL]');
  await page.click('[data-testid=launch-job]');
  await page.click('[data-testid=launch-run]');
  await page.waitForURL(/\/runs\/run_/);
  const gatedRun = page.url();
  // The run page shows the approval with its buttons (the system admin may
  // approve even a run of their own; the operator will).
  await page.waitForSelector('[data-testid=run-approvals] [data-testid=approval][data-status=PENDING] [data-testid=approve]');
  expect((await page.textContent('[data-testid=approval-role]')) === 'operator', 'the role needed shown');
  await shot('26-approval-on-run');

  step = 'the operator approves from the inbox';
  await signOut();
  await login(env('OPERATOR_USER'), env('OPERATOR_PASSWORD'));
  await openProject(env('PROJECT')); // the operator holds a role in more than one project
  await page.click('nav >> text=Approvals');
  await page.waitForSelector('[data-testid=approvals] [data-testid=approval] >> text=Ship it?');
  await page.fill('[data-testid=approval] input[name=approval-comment]', 'looks good');
  await shot('27-approvals-inbox');
  await page.click('[data-testid=approval] [data-testid=approve]');
  await page.waitForSelector('text=Nothing waits for an approval.');
  await page.goto(gatedRun);
  expect((await waitRunStatus('SUCCEEDED', 'FAILED')) === 'SUCCEEDED', 'the approved run SUCCEEDED');
  await page.waitForSelector('[data-testid=run-approvals] [data-testid=approval][data-status=APPROVED] [data-testid=votes] >> text=looks good');
  await shot('28-approved-run');

  step = 'an operator may run jobs but not edit them or the guard rules';
  await page.click('nav >> text=Jobs');
  await page.waitForSelector('[data-testid=jobs] tr[data-job=hello] [data-testid=launch-job]');
  expect((await page.$$('[data-testid=new-job]')).length === 0, 'no New job button for an operator');
  await page.click('[data-testid=jobs] >> text=hello');
  await page.waitForSelector('[data-testid=job-editor] input[name=job-name]');
  expect((await page.$$('[data-testid=save-job]')).length === 0, 'no Save button for an operator');
  expect(await page.$eval('input[name=job-name]', (e) => e.matches(':disabled')), 'the editor read-only for an operator');
  await page.click('nav >> text=Guard rules');
  await page.waitForSelector('[data-testid=guard-rules] tr[data-rule=rm-rf-root]');
  expect((await page.$$('[data-testid=new-rule]')).length === 0, 'no New rule button for an operator');
  expect((await page.$$('nav >> text=Users')).length === 0, 'no Users page for an operator');

  step = 'a guard rule blocks an ad-hoc command';
  await signOut();
  await login('admin', env('ADMIN_PASSWORD'));
  await openProject(project);
  await page.click('nav >> text=Ad-hoc command');
  await page.selectOption('select[name=executor]', 'local');
  await page.selectOption('select[name=action]', 'command');
  await page.fill('[data-param=command] input, [data-param=command] textarea', 'echo rm -rf /');
  await page.fill('input[name=target-selector]', 'role=app');
  await page.click('[data-testid=launch]');
  await page.waitForSelector('[data-testid=guard-blocked][data-rule=rm-rf-root] >> text=Blocked by the command guard rule');
  // With the rule's description from the project's rules.
  await page.waitForSelector('[data-testid=guard-blocked] >> text=The rule refuses');
  log(await page.textContent('[data-testid=guard-blocked]'));
  expect(/\/adhoc$/.test(page.url()), 'no run started');
  await shot('29-guard-blocked');

  step = 'guard rules: the tester and a new rule';
  await page.click('nav >> text=Guard rules');
  await page.fill('input[name=guard-text]', 'sudo rm -rf /');
  await page.click('[data-testid=guard-tester] button[type=submit]');
  await page.waitForSelector('[data-testid=guard-matches] [data-rule=rm-rf-root]');
  await page.click('[data-testid=new-rule]');
  await page.fill('input[name=rule-name]', 'no-curl-pipe');
  // A pattern that does not compile is refused next to the pattern.
  await page.fill('input[name=rule-pattern]', 'curl (');
  await page.click('[data-testid=rule-form] button[type=submit]');
  await page.waitForSelector('.row.bad input[name=rule-pattern]');
  await page.fill('input[name=rule-pattern]', 'curl [^|]*\\|\\s*(ba)?sh');
  await page.fill('input[name=rule-description]', 'piping a download into a shell');
  await page.click('[data-testid=rule-form] button[type=submit]');
  await page.waitForSelector('[data-testid=guard-rules] tr[data-rule=no-curl-pipe]');
  await page.fill('input[name=guard-text]', 'curl https://x.example/i.sh | bash');
  await page.click('[data-testid=guard-tester] button[type=submit]');
  await page.waitForSelector('[data-testid=guard-matches] [data-rule=no-curl-pipe]');
  await shot('30-guard-rules');

  step = 'a schedule with its next fire times';
  await page.click('nav >> text=Schedules');
  await page.click('[data-testid=new-schedule]');
  await page.fill('input[name=schedule-name]', 'nightly');
  await page.selectOption('select[name=schedule-job]', { label: 'hello' });
  await page.fill('input[name=schedule-expression]', 'not cron');
  await page.waitForSelector('.row.bad input[name=schedule-expression]');
  await page.fill('input[name=schedule-expression]', '30 2 * * *');
  await page.fill('input[name=schedule-tz]', 'Europe/Berlin');
  await page.waitForFunction(() => (document.querySelector('[data-testid=cron-preview]')?.textContent ?? '').split('·').length === 5);
  await page.fill('input[name=schedule-param-who]', 'cron');
  await shot('31-schedule-form');
  await page.click('[data-testid=schedule-form] button[type=submit]');
  await page.waitForSelector('[data-testid=schedules] tr[data-schedule=nightly] >> text=30 2 * * *');

  step = 'a host group by selector, previewed';
  await page.click('nav >> text=Host groups');
  await page.click('[data-testid=new-group]');
  await page.fill('input[name=group-name]', 'apps');
  await page.fill('input[name=group-selector]', 'role in (app');
  await page.waitForSelector('.row.bad input[name=group-selector]');
  await page.fill('input[name=group-selector]', 'role=app');
  await page.waitForSelector('[data-testid=group-preview-count] >> text=1 hosts');
  await shot('32-group-preview');
  await page.click('[data-testid=group-form] button[type=submit]');
  await page.waitForSelector('[data-testid=groups] tr[data-group=apps]');

  step = 'executors and a form per action';
  await page.click('nav >> text=Executors');
  await page.click('[data-executor=local] details[data-action=command] summary');
  await page.waitForSelector('[data-executor=local] details[data-action=command] [data-param=command]');
  await shot('33-executors');

  step = 'a webhook trigger shows its secret once';
  await page.click('nav >> text=Webhooks');
  await page.fill('input[name=trigger-name]', 'on-release');
  await page.selectOption('select[name=trigger-job]', { label: 'hello' });
  await page.fill('textarea[name=trigger-params]', 'who=$.sender.login');
  await page.click('[data-testid=new-trigger] button[type=submit]');
  await page.waitForSelector('[data-testid=trigger-secret] pre');
  expect(((await page.textContent('[data-testid=trigger-secret] pre')) ?? '').length >= 16, 'a secret shown');
  await page.waitForSelector('[data-testid=triggers] tr[data-trigger=on-release]');
  await shot('34-webhook-secret');
  await page.click('[data-testid=trigger-secret] button');
  expect((await page.$$('[data-testid=trigger-secret]')).length === 0, 'the secret gone once dismissed');

  step = 'the audit log, filtered';
  await page.click('nav >> text=Audit log');
  await page.waitForSelector('[data-testid=audit] tbody tr');
  await page.selectOption('select[name=audit-outcome]', 'ALLOWED');
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('[data-testid=audit] tbody tr')];
    return rows.length > 0 && rows.every((r) => r.getAttribute('data-outcome') === 'ALLOWED');
  });
  await shot('35-audit');

  step = 'an API token shown once';
  await page.click('nav >> text=API tokens');
  await page.fill('input[name=token-name]', 'ci');
  await page.click('[data-testid=new-token] button[type=submit]');
  await page.waitForSelector('[data-testid=token-secret] pre');
  await page.waitForSelector('[data-testid=tokens] tr[data-token=ci]');
  await shot('36-token');

  step = 'a notification channel and its test message';
  await page.click('nav >> text=Notifications');
  await page.click('[data-testid=new-channel]');
  await page.fill('input[name=channel-name]', 'ops-hook');
  await page.fill('input[name=channel-url]', url + '/healthz');
  await page.fill('input[name=channel-secret]', 'a-signing-secret-of-some-length');
  await page.click('[data-testid=channel-form] button[type=submit]');
  await page.waitForSelector('[data-testid=channels] tr[data-channel=ops-hook]');
  expect(!(await page.textContent('body')).includes('a-signing-secret-of-some-length'), 'the secret not shown');
  await page.click('[data-testid=channels] tr[data-channel=ops-hook] >> text=Send a test');
  await page.waitForSelector('[data-testid=channel-test]');
  log('test message:', await page.textContent('[data-testid=channel-test]'));
  await shot('40-notifications');

  step = 'users, roles and members';
  await page.click('nav >> text=Users');
  await page.waitForSelector('[data-testid=users] tr[data-user=otto]');
  await shot('37-users');
  await page.click('nav >> text=Roles');
  await page.waitForSelector('[data-testid=roles] >> text=operator');
  await shot('38-roles');
  await page.click('nav >> text=Members');
  await page.waitForSelector('[data-testid=members] >> text=Otto Operator');
  await shot('39-members');

  expect(consoleErrors.length === 0, `no uncaught errors in the page: ${consoleErrors.join('; ')}`);
  step = 'done';
  log('all passed; screenshots in', artifacts);
} catch (e) {
  await shot(`failed-${step.replace(/\W+/g, '-')}`).catch(() => {});
  console.error(`[jobs e2e] FAILED at "${step}": ${e?.stack ?? e}`);
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
