// browser.test.mjs — examples/browser in Debian's headless Chromium: SQLite
// and the extension compiled to WebAssembly (make wasm) run the quickstart
// and a gated write in the page; the page's text is compared exactly, and a
// screenshot is kept in dist/test-artifacts/browser.png.
//
//   node tests/e2e/browser.test.mjs        (from the repo root, after make wasm)
//
// Prints "browser: N passed, N failed".
import { chromium } from 'playwright-core';
import { createServer } from 'node:http';
import { readFile, mkdir } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';

const CLOCK = '2026-11-22 10:00:00';
let passed = 0, failed = 0;
function check(ok, what, got) {
  if (ok) passed++;
  else { failed++; console.log(`FAIL ${what}: got ${JSON.stringify(got)}`); }
}

// a static server: /wasm/ is dist/wasm, the rest examples/browser
const types = { '.html': 'text/html', '.mjs': 'text/javascript', '.wasm': 'application/wasm' };
const server = createServer(async (req, res) => {
  const path = normalize(new URL(req.url, 'http://x').pathname);
  const file = path.startsWith('/wasm/') ? join('dist/wasm', path.slice(6))
    : join('examples/browser', path === '/' ? 'index.html' : path);
  try {
    const body = await readFile(file);
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
    res.end(body);
  } catch { res.writeHead(404); res.end(); }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 560 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}/?clock=${encodeURIComponent(CLOCK)}`);
  const done = await page.waitForSelector('#out[data-done]', { timeout: 30000 }).then(() => true, () => false);
  check(done, 'the page finished', await page.textContent('#out'));
  const text = await page.textContent('#out');
  const want = [
    'SQLite 3.53.2, entitlements 0.1.0',
    'git_export allowed: 0',
    'image cat: ok, 2 left',
    'image dog: ok, 1 left',
    'image fox: ok, 0 left',
    "image owl: denied (1043): entitlements: quota exceeded: 'images' for subject 'alice' on plan 'free': 3 of 3 used this month, 1 requested; resets 2026-12-01 00:00:00; upgrade to 'pro'",
    'images saved: 3',
    'usage after the upgrade: images 3 used, 97 left',
  ].join('\n');
  check(text === want, 'the page shows the quickstart and the gated write, exactly', text);
  check(errors.length === 0, 'no page errors', errors);
  await mkdir('dist/test-artifacts', { recursive: true });
  await page.screenshot({ path: 'dist/test-artifacts/browser.png' });
} finally {
  await browser.close();
  server.close();
}
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
