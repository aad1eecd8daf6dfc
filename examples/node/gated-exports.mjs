// The example both Node bindings run: better-sqlite3.mjs and libsql.mjs pass
// in their Database class, and this code is the same for both (libsql's local
// API is better-sqlite3's). db.transaction() wraps the quota check and the
// work it gates in one SQLite transaction: a denial throws, and the
// transaction rolls back with nothing recorded.
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rmSync } from 'node:fs';

const ext = fileURLToPath(new URL('../../dist/entitlements', import.meta.url));

// load: how to load the extension; the npm package passes its own load().
export function run(Database, name, load = (db) => db.loadExtension(ext)) {
  const file = process.argv[2] ?? join(tmpdir(), `ent-${name}-${process.pid}.db`);
  const db = new Database(file);
  load(db); // by path: the .so suffix is added by SQLite
  db.pragma('journal_mode = wal');
  db.pragma('busy_timeout = 5000');
  console.log('SQLite', db.prepare('SELECT sqlite_version() AS v').get().v);
  if (process.env.ENT_CLOCK) db.prepare('SELECT entitlements_clock(?)').get(process.env.ENT_CLOCK);

  db.prepare('SELECT entitlements_load(?)').get(JSON.stringify({
    plans: {
      free: { default: true, features: { exports: { limit: 2, period: 'month' }, sso: false } },
      team: { rank: 1, inherits: 'free', features: { exports: { limit: 50, period: 'month' }, sso: true } },
    },
  }));
  db.exec(`CREATE TABLE IF NOT EXISTS exports(id INTEGER PRIMARY KEY, owner TEXT, name TEXT)`);

  const consume = db.prepare('SELECT consume_quota(?, ?, 1, ?) AS left');
  const save = db.prepare('INSERT INTO exports(owner, name) VALUES (?, ?)');
  const exportReport = db.transaction((owner, name) => {
    const { left } = consume.get(owner, 'exports', `export:${owner}:${name}`);
    save.run(owner, name);
    return left;
  });

  for (const name of ['q1.csv', 'q2.csv', 'q3.csv']) {
    try {
      console.log(`export ${name}: ok, ${exportReport('acme', name)} left`);
    } catch (e) {
      if (e.code !== 'SQLITE_CONSTRAINT_FUNCTION') throw e; // a denial, not a bug
      console.log(`export ${name}: denied (${e.code})\n  ${e.message}`);
    }
  }
  console.log('exports saved:', db.prepare('SELECT count(*) AS n FROM exports').get().n);
  console.log('sso allowed:', db.prepare("SELECT plan_allows('acme', 'sso') AS ok").get().ok);
  db.prepare("SELECT subject_set_plan('acme', 'team')").get();
  for (const r of db.prepare("SELECT feature, plan, used, remaining FROM usage_summary WHERE subject = 'acme'").all())
    console.log('usage:', JSON.stringify(r));
  db.close();
  if (!process.argv[2]) for (const s of ['', '-wal', '-shm']) rmSync(file + s, { force: true });
}
