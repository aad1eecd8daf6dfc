// webapp.test.mjs — examples/webapp in Debian's headless Chromium, driven by
// playwright-core: click "Generate image" until the free plan's 3 images are
// used, see the 429 with the denial and the upgrade, the bar at 100%, then
// upgrade and see the bar drop. Saves dist/test-artifacts/webapp-*.png.
//
//   node tests/e2e/webapp.test.mjs        (from the repo root, after make)
//
// Prints "webapp: N passed, N failed". Every assertion is exact; the clock is
// pinned with ENT_CLOCK, so dates and Retry-After are known in advance.
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';

const CLOCK = '2026-11-22 10:00:00';
const DB = 'dist/test-tmp/webapp.db';
const ART = 'dist/test-artifacts';
let passed = 0, failed = 0;
function check(ok, what, got) {
  if (ok) passed++;
  else { failed++; console.log(`FAIL ${what}: got ${JSON.stringify(got)}`); }
}

mkdirSync(ART, { recursive: true });
mkdirSync('dist/test-tmp', { recursive: true });
for (const s of ['', '-wal', '-shm']) rmSync(DB + s, { force: true });

// Port 0: the app picks a free port and prints it.
const app = spawn('/usr/bin/python3', ['examples/webapp/app.py', '--db', DB, '--port', '0'], {
  env: { ...process.env, ENT_CLOCK: CLOCK }, stdio: ['ignore', 'pipe', 'inherit'],
});
const base = await new Promise((resolve, reject) => {
  createInterface({ input: app.stdout }).once('line', (l) => resolve(l.replace('listening on ', '').replace(/\/$/, '')));
  app.once('exit', (code) => reject(new Error(`app exited ${code}`)));
});

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 650 } });
  const bar = (f) => page.locator(`.feature[data-feature="${f}"]`);
  await page.goto(`${base}/?user=alice`);
  check(await page.textContent('#plan') === 'free', 'starts on the free plan', await page.textContent('#plan'));
  check(await bar('images').locator('.label').textContent() === '0 of 3', 'images bar label at start',
    await bar('images').locator('.label').textContent());
  check(await bar('storage_mb').count() === 1, 'one bar per metered feature (storage_mb)', await bar('storage_mb').count());
  check(await page.locator('.feature').count() === 2, 'two metered features, two bars', await page.locator('.feature').count());

  const statuses = [];
  for (let i = 1; i <= 4; i++) {
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.url().includes('/api/images')),
      page.click('#generate'),
    ]);
    statuses.push(res.status());
    if (i === 4) {
      check(res.headers()['retry-after'] === '741600', 'Retry-After: seconds to 2026-12-01', res.headers()['retry-after']);
      const body = await res.json();
      check(body.upgrade === 'pro' && body.resets_at === '2026-12-01 00:00:00', '429 body names the upgrade and reset', body);
    }
    await page.waitForFunction((n) => document.querySelector('.feature[data-feature="images"] .label')
      ?.textContent === `${Math.min(n, 3)} of 3`, i);
  }
  check(JSON.stringify(statuses) === '[200,200,200,429]', 'three 200s, then 429', statuses);
  const denial = "429: entitlements: quota exceeded: 'images' for subject 'alice' on plan 'free': " +
    "3 of 3 used this month, 1 requested; resets 2026-12-01 00:00:00; upgrade to 'pro' Upgrade to pro";
  check(await page.textContent('#result') === denial, 'the page shows the denial and the upgrade', await page.textContent('#result'));
  check(await bar('images').locator('.fill').getAttribute('style') === 'width: 100.0%', 'images bar at 100%',
    await bar('images').locator('.fill').getAttribute('style'));
  check(await bar('images').getAttribute('data-status') === 'exhausted', 'images status exhausted',
    await bar('images').getAttribute('data-status'));
  const fill = await bar('images').locator('.fill').evaluate((e) => getComputedStyle(e).backgroundColor);
  check(fill === 'rgb(220, 38, 38)', 'an exhausted bar is drawn red', fill);
  await page.screenshot({ path: `${ART}/webapp-429.png`, fullPage: true });

  // Nothing was recorded by the denied click: the app's own table agrees.
  const usage = await (await fetch(`${base}/api/usage?user=alice`)).json();
  check(usage[0].used === 3 && usage[0].remaining === 0, 'the ledger holds 3, not 4', usage[0]);

  await page.click('#upgrade');
  await page.waitForFunction(() => document.querySelector('.feature[data-feature="images"] .label')?.textContent === '3 of 100');
  check(await page.textContent('#plan') === 'pro', 'upgraded to pro', await page.textContent('#plan'));
  check(await bar('images').locator('.fill').getAttribute('style') === 'width: 3.0%', 'images bar at 3% on pro',
    await bar('images').locator('.fill').getAttribute('style'));
  const [again] = await Promise.all([page.waitForResponse((r) => r.url().includes('/api/images')), page.click('#generate')]);
  check(again.status() === 200, 'generating works again after the upgrade', again.status());
  await page.waitForFunction(() => document.querySelector('.feature[data-feature="images"] .label')?.textContent === '4 of 100');
  await page.screenshot({ path: `${ART}/webapp-upgraded.png`, fullPage: true });

  // Another user is independent; the API answers 429 to plain HTTP too.
  const direct = [];
  for (let i = 0; i < 4; i++) direct.push((await fetch(`${base}/api/images?user=bob`, { method: 'POST', body: 'x' })).status);
  check(JSON.stringify(direct) === '[200,200,200,429]', 'bob has his own quota', direct);
} catch (e) {
  failed++;
  console.log(`FAIL webapp: ${e.stack}`);
} finally {
  await browser.close();
  app.kill();
}
console.log(`webapp: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
