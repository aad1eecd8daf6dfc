// The quickstart and a gated write, in the page: SQLite and the extension
// compiled to WebAssembly (make wasm), served from /wasm/. ?clock=TIME pins
// the extension's clock (the test does, for exact dates).
import { open } from '/wasm/entitlements.mjs';

const out = [];
const say = (...parts) => out.push(parts.join(' '));
try {
  const db = await open();
  say('SQLite', db.exec('SELECT sqlite_version(), entitlements_version()')[0].join(', entitlements '));
  const clock = new URLSearchParams(location.search).get('clock');
  if (clock) db.exec('SELECT entitlements_clock(?)', [clock]);
  db.exec('SELECT entitlements_load(?)', [JSON.stringify({ plans: {
    free: { rank: 0, default: true, features: { images: { limit: 3, period: 'month' }, git_export: false } },
    pro: { rank: 1, inherits: 'free', features: { images: { limit: 100, period: 'month' }, git_export: true } },
  } })]);
  say('git_export allowed:', db.exec("SELECT plan_allows('alice', 'git_export')")[0][0]);
  db.exec('CREATE TABLE images(id INTEGER PRIMARY KEY, owner TEXT, prompt TEXT)');
  // The gated write: the quota check and the row in one transaction.
  const generate = (owner, prompt) => {
    db.exec('BEGIN IMMEDIATE');
    try {
      const [[left]] = db.exec("SELECT consume_quota(?, 'images', 1, ?)", [owner, 'img:' + prompt]);
      db.exec('INSERT INTO images(owner, prompt) VALUES (?, ?)', [owner, prompt]);
      db.exec('COMMIT');
      return `ok, ${left} left`;
    } catch (e) {
      db.exec('ROLLBACK');
      if (e.code !== 1043) throw e; // SQLITE_CONSTRAINT_FUNCTION: a denial, not a bug
      return `denied (${e.code}): ${e.message}`;
    }
  };
  for (const p of ['cat', 'dog', 'fox', 'owl']) say(`image ${p}:`, generate('alice', p));
  say('images saved:', db.exec('SELECT count(*) FROM images')[0][0]);
  db.exec("SELECT subject_set_plan('alice', 'pro')");
  for (const [f, used, remaining] of db.exec("SELECT feature, used, remaining FROM usage_summary WHERE subject = 'alice'"))
    say(`usage after the upgrade: ${f} ${used} used, ${remaining} left`);
  db.close();
} catch (e) {
  say('error:', e.message);
}
const pre = document.getElementById('out');
pre.textContent = out.join('\n');
pre.dataset.done = '1';
