// The console's end-to-end test, in Debian's Chromium driven by
// playwright-core, against a real `jobgraph server` and a real sshd. The Go
// test cmd/jobgraph/e2e_console_test.go starts both, creates a project and a
// viewer, and runs this script with:
//
//   JOBGRAPH_URL      the server's URL
//   ADMIN_PASSWORD    the first admin's password (user "admin")
//   VIEWER_USER, VIEWER_PASSWORD   a user holding the viewer role in PROJECT
//   PROJECT           the project's name
//   SSHD_ADDR, SSHD_PORT, SSH_KEY_FILE   the sshd and a private key root may use
//   WORK_DIR          a directory the remote commands and this script share
//   ARTIFACTS         where screenshots go
//   CHROMIUM          the browser (default /usr/bin/chromium)
//   SCALE_PROJECT     a project whose hosts labelled fleet=big (1,000 of
//                     them) the local executor runs on, to measure the run page
//   DAG_RUN_PATH      the console path of a finished run of a job whose
//                     steps prepare and lint come first, deploy needs
//                     prepare, and verify needs deploy and lint
//
// It exits non-zero on the first failed expectation. Nothing sleeps: every
// wait is Playwright waiting for a selector or a condition, with a deadline.
import { chromium } from 'playwright-core';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const url = env('JOBGRAPH_URL');
const artifacts = env('ARTIFACTS');
const work = env('WORK_DIR');
const timeout = 30_000;
mkdirSync(artifacts, { recursive: true });

const userDataDir = mkdtempSync(join(tmpdir(), 'jobgraph-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--no-first-run',
    '--disable-component-update',
    '--disable-sync',
    '--disable-quic',
  ],
  viewport: { width: 1280, height: 900 },
});
context.setDefaultTimeout(timeout);
const page = context.pages()[0] ?? (await context.newPage());
const consoleErrors = [];
page.on('pageerror', (e) => consoleErrors.push(String(e)));

let step = 'start';
const shot = async (name) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
const expect = (cond, what) => {
  if (!cond) throw new Error(`expected ${what}`);
};
const log = (...a) => console.log(`[console e2e] ${step}:`, ...a);

async function login(username, password) {
  await page.goto(url + '/');
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=who]');
}

/** Waits for the run page's status badge to show one of statuses. */
async function waitRunStatus(...statuses) {
  await page.waitForFunction(
    (want) => want.includes(document.querySelector('[data-testid=run-status]')?.getAttribute('data-status')),
    statuses,
    { timeout },
  );
  return page.getAttribute('[data-testid=run-status]', 'data-status');
}

/** Fills the ad-hoc form for ssh command on hosts and launches it; returns the run's URL. */
async function adHoc(command, hostNames) {
  await page.click('nav >> text=Ad-hoc command');
  await page.selectOption('select[name=executor]', 'ssh');
  await page.selectOption('select[name=action]', 'command');
  await page.fill('[data-param=command] input', command);
  await page.selectOption('[data-param=host_key_policy] select', 'accept-new');
  for (const h of hostNames) await page.check(`[data-testid=target-hosts] label:has-text("${h}") input`);
  await page.click('[data-testid=launch]');
  await page.waitForURL(/\/runs\/run_/);
  await page.waitForSelector('[data-testid=host-grid] .cell');
  return page.url();
}

try {
  step = 'login as admin';
  await page.goto(url + '/');
  await page.waitForSelector('input[name=username]');
  await shot('01-login');
  // A wrong password is said in plain words next to the form.
  await page.fill('input[name=username]', 'admin');
  await page.fill('input[name=password]', 'not-the-password');
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=problems] >> text=Wrong username or password');
  await login('admin', env('ADMIN_PASSWORD'));

  step = 'project switcher';
  const projectName = env('PROJECT');
  const value = await page.$eval('[data-testid=project-switcher]', (s, name) => [...s.options].find((o) => o.text === name)?.value, projectName);
  expect(value, `project ${projectName} in the switcher`);
  await page.selectOption('[data-testid=project-switcher]', value);
  await page.click('nav >> text=Credentials');

  step = 'create a credential';
  await page.fill('[data-testid=new-credential] input[name=name]', 'sshd-root');
  await page.selectOption('[data-testid=new-credential] select[name=kind]', 'SSH_KEY');
  await page.fill('[data-testid=new-credential] input[name=username]', 'root');
  // A bad key is refused with the reason next to the secret field.
  await page.fill('[data-testid=new-credential] textarea[name=secret]', 'not a key');
  await page.click('[data-testid=new-credential] button[type=submit]');
  await page.waitForSelector('[data-testid=new-credential] .row.bad textarea[name=secret]');
  expect((await page.inputValue('[data-testid=new-credential] textarea[name=secret]')) === '', 'the secret field emptied after a failed create');
  await page.fill('[data-testid=new-credential] input[name=name]', 'sshd-root');
  await page.fill('[data-testid=new-credential] textarea[name=secret]', readFileSync(env('SSH_KEY_FILE'), 'utf8'));
  await page.click('[data-testid=new-credential] button[type=submit]');
  await page.waitForSelector('[data-testid=credentials] >> text=sshd-root');
  expect((await page.inputValue('[data-testid=new-credential] textarea[name=secret]')) === '', 'the secret field emptied after create');
  const pageText = await page.textContent('body');
  expect(!pageText.includes('PRIVATE KEY'), 'no secret shown after create');
  await shot('02-credentials');

  step = 'create hosts';
  await page.click('nav >> text=Hosts');
  for (const [name, labels] of [['web-1', 'tier=web, n=1'], ['web-2', 'tier=web, n=2']]) {
    await page.fill('[data-testid=new-host] input[name=name]', name);
    await page.fill('[data-testid=new-host] input[name=address]', env('SSHD_ADDR'));
    await page.fill('[data-testid=new-host] input[name=port]', env('SSHD_PORT'));
    await page.fill('[data-testid=new-host] input[name=labels]', labels);
    await page.selectOption('[data-testid=new-host] select[name=credential]', { label: 'sshd-root (ssh key)' });
    await page.click('[data-testid=new-host] button[type=submit]');
    await page.waitForSelector(`[data-testid=hosts] >> text=${name}`);
  }
  // A duplicate name is a conflict shown next to the name.
  await page.fill('[data-testid=new-host] input[name=name]', 'web-1');
  await page.fill('[data-testid=new-host] input[name=address]', env('SSHD_ADDR'));
  await page.click('[data-testid=new-host] button[type=submit]');
  await page.waitForSelector('[data-testid=new-host] .field-error, [data-testid=new-host] [data-testid=problems]');
  log('duplicate host:', await page.textContent('[data-testid=new-host] .field-error, [data-testid=new-host] [data-testid=problems]'));
  // The selector previews what it selects.
  await page.fill('input[name=selector]', 'n=2');
  await page.waitForFunction(() => document.querySelector('[data-testid=host-count]')?.textContent === '1 hosts');
  // A selector that does not parse says why, next to the selector.
  await page.fill('input[name=selector]', 'tier in (web');
  await page.waitForSelector('.row.bad input[name=selector]');
  log('bad selector:', await page.textContent('.row.bad:has(input[name=selector]) .field-error'));
  await page.fill('input[name=selector]', '');
  await page.waitForFunction(() => document.querySelector('[data-testid=host-count]')?.textContent === '2 hosts');
  await shot('03-hosts');

  step = 'ad-hoc echo, watched live';
  const release = join(work, 'release');
  rmSync(release, { force: true });
  const cmd = `echo hello-from-console; while [ ! -e ${release} ]; do sleep 0.1; done; echo released`;
  await page.click('nav >> text=Ad-hoc command');
  await page.selectOption('select[name=executor]', 'ssh');
  await page.selectOption('select[name=action]', 'command');
  await shot('04-adhoc');
  await adHoc(cmd, ['web-1']);
  await page.click('[data-testid=host-grid] .cell[data-host="web-1"]');
  await page.waitForSelector('[data-testid=log] >> text=hello-from-console');
  // The line arrived while the command still runs: it cannot end before
  // this script creates release. The grid and the run's status say so too
  // (their updates come on another subscription, so wait for them).
  await page.waitForSelector('[data-testid=host-grid] .cell[data-host="web-1"][data-status=RUNNING]');
  expect((await waitRunStatus('RUNNING', 'SUCCEEDED', 'FAILED')) === 'RUNNING', 'the run RUNNING while its task waits');
  await shot('05-run-live');
  writeFileSync(release, '');
  await page.waitForSelector('[data-testid=log] >> text=released');
  expect((await waitRunStatus('SUCCEEDED', 'FAILED')) === 'SUCCEEDED', 'the run SUCCEEDED');
  // Search keeps the matching lines; the download link serves the log.
  await page.fill('input[name=log-search]', 'released');
  await page.waitForSelector('[data-testid=log-matches] >> text=1 of 2 lines');
  const href = await page.getAttribute('[data-testid=log-download]', 'href');
  const file = await page.request.get(url + href);
  expect(file.ok() && (await file.text()) === 'hello-from-console\nreleased\n', `the downloaded log (${file.status()})`);

  step = 'cancel a run';
  await adHoc(`while [ ! -e ${join(work, 'never')} ]; do sleep 0.1; done`, ['web-2']);
  await page.waitForSelector('[data-testid=host-grid] .cell[data-status=RUNNING]');
  await page.click('[data-testid=cancel]');
  expect((await waitRunStatus('CANCELED', 'FAILED', 'SUCCEEDED')) === 'CANCELED', 'the run CANCELED');
  await page.waitForSelector('[data-testid=host-grid] .cell[data-status=CANCELED]');
  expect((await page.$$('[data-testid=cancel], [data-testid=rerun-failed]')).length === 1, 'no cancel button once canceled, a re-run one instead');

  step = 'a failing command on two hosts, re-run failed hosts';
  const fixed = join(work, 'fixed');
  rmSync(fixed, { force: true });
  await adHoc(`test -e ${fixed} || { echo not fixed >&2; exit 3; }; echo fixed`, ['web-1', 'web-2']);
  expect((await waitRunStatus('SUCCEEDED', 'FAILED')) === 'FAILED', 'the run FAILED');
  await page.waitForSelector('[data-testid=rerun-failed] >> text=Re-run 2 failed hosts');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=host-grid] .cell[data-status=FAILED]').length === 2);
  const failedRun = page.url();
  await shot('06-run-failed');
  writeFileSync(fixed, '');
  await page.click('[data-testid=rerun-failed]');
  await page.waitForURL((u) => u.toString() !== failedRun && /\/runs\/run_/.test(u.toString()));
  expect((await waitRunStatus('SUCCEEDED', 'FAILED')) === 'SUCCEEDED', 'the re-run SUCCEEDED');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=host-grid] .cell[data-status=SUCCEEDED]').length === 2);
  expect((await page.textContent('body')).includes('re-run of'), 'the re-run links to the run it re-ran');
  await shot('07-rerun');

  step = 'runs list';
  await page.click('nav >> text=Runs');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=runs] tbody tr').length === 4);
  // The list follows the project's runs live (projectRuns).
  await page.request.post(url + '/graphql', {
    data: {
      query: 'mutation($in: AdHocRunInput!) { adHocRun(input: $in) { run { id } } }',
      variables: { in: { projectId: value, executor: 'ssh', action: 'command', params: { command: 'true', host_key_policy: 'accept-new' }, targets: { selector: 'n=1' } } },
    },
  });
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=runs] tbody tr').length === 5);
  await page.selectOption('select[name=status]', 'FAILED');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=runs] tbody tr').length === 1);
  await page.selectOption('select[name=status]', '');
  await shot('08-runs');

  step = 'a run on 1,000 hosts';
  const scale = env('SCALE_PROJECT');
  const scaleValue = await page.$eval('[data-testid=project-switcher]', (s, name) => [...s.options].find((o) => o.text === name)?.value, scale);
  await page.selectOption('[data-testid=project-switcher]', scaleValue);
  await page.click('nav >> text=Ad-hoc command');
  await page.selectOption('select[name=executor]', 'local');
  await page.selectOption('select[name=action]', 'command');
  await page.fill('[data-param=command] input', 'echo one line');
  await page.fill('input[name=target-selector]', 'fleet=big');
  // Measure the gaps between animation frames while the run's updates
  // stream in: a long gap is a page that does not respond.
  await page.evaluate(() => {
    const perf = (window.__perf = { gaps: [], last: performance.now(), on: true });
    const tick = (t) => {
      perf.gaps.push(t - perf.last);
      perf.last = t;
      if (perf.on) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  const started = Date.now();
  await page.click('[data-testid=launch]');
  await page.waitForURL(/\/runs\/run_/);
  await page.waitForFunction(() => document.querySelector('[data-testid=count-SUCCEEDED]')?.textContent?.trim().endsWith(' 1000'), null, { timeout: 180_000 });
  expect((await waitRunStatus('SUCCEEDED', 'FAILED')) === 'SUCCEEDED', 'the 1,000-host run SUCCEEDED');
  const perf = await page.evaluate(() => {
    window.__perf.on = false;
    const g = [...window.__perf.gaps].sort((a, b) => a - b);
    const cells = document.querySelectorAll('[data-testid=host-grid] .cell').length;
    return { frames: g.length, p50: g[Math.floor(g.length / 2)], p99: g[Math.floor(g.length * 0.99)], max: g[g.length - 1], cells };
  });
  log(`1,000 hosts: run ended in ${Date.now() - started} ms; ${perf.frames} frames, gap between frames p50 ${perf.p50.toFixed(1)} ms, p99 ${perf.p99.toFixed(1)} ms, max ${perf.max.toFixed(1)} ms; ${perf.cells} cells in the DOM`);
  expect(perf.cells < 1000, `a virtualized grid (${perf.cells} cells in the DOM)`);
  // Loose, for a loaded CI machine: the page never froze for a second.
  expect(perf.max < 1000, `no frame gap of a second or more (max ${perf.max.toFixed(1)} ms)`);
  await shot('10-run-1000-hosts');

  step = 'a job run drawn as its DAG';
  await page.goto(url + env('DAG_RUN_PATH'));
  await page.waitForFunction(() => document.querySelectorAll('.dag-step[data-status=SUCCEEDED]').length === 4);
  const left = async (name) => page.$eval(`.dag-step[data-step=${name}]`, (e) => e.offsetLeft);
  const [prepare, lint, deploy, verify] = [await left('prepare'), await left('lint'), await left('deploy'), await left('verify')];
  expect(prepare === lint && prepare < deploy && deploy < verify, `columns by needs (prepare ${prepare}, lint ${lint}, deploy ${deploy}, verify ${verify})`);
  expect((await page.$$('.dag-edges path')).length === 3, 'an edge per need');
  // A step picked in the DAG narrows the grid to its hosts.
  expect((await page.$$('[data-testid=host-grid] .cell')).length === 4, 'a cell per task');
  await page.click('.dag-step[data-step=verify]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=host-grid] .cell').length === 1);
  await shot('11-job-run-dag');

  step = 'a viewer cannot launch';
  await context.clearCookies();
  await login(env('VIEWER_USER'), env('VIEWER_PASSWORD'));
  await page.click('nav >> text=Ad-hoc command');
  await page.waitForSelector('[data-testid=no-launch]');
  expect((await page.$$('[data-testid=launch]')).length === 0, 'no launch button for a viewer');
  await shot('09-viewer-adhoc');
  await page.goto(failedRun);
  await waitRunStatus('FAILED');
  await page.waitForSelector('[data-testid=host-grid] .cell');
  expect((await page.$$('[data-testid=rerun-failed], [data-testid=cancel]')).length === 0, 'no re-run or cancel for a viewer');
  await page.click('nav >> text=Hosts');
  await page.waitForSelector('[data-testid=hosts] >> text=web-2');
  expect((await page.$$('[data-testid=new-host]')).length === 0, 'no host form for a viewer');

  expect(consoleErrors.length === 0, `no uncaught errors in the page: ${consoleErrors.join('; ')}`);
  step = 'done';
  log('all passed; screenshots in', artifacts);
} catch (e) {
  await shot(`failed-${step.replace(/\W+/g, '-')}`).catch(() => {});
  console.error(`[console e2e] FAILED at "${step}": ${e?.stack ?? e}`);
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
