// entitlements.mjs — sqlite-entitlements in the browser: SQLite and the
// extension compiled to WebAssembly (make wasm), behind a small API.
//
//   import { open } from './entitlements.mjs';
//   const db = await open();                 // in memory: gone with the page
//   db.exec("SELECT entitlements_load(?)", [JSON.stringify(config)]);
//   db.exec("SELECT consume_quota(?, 'images')", ['alice']);   // [[left]]
//
// exec() returns the last statement's rows as arrays; an error throws an
// Error whose .code is SQLite's extended result code (a denial: 1043,
// SQLITE_CONSTRAINT_FUNCTION) and whose message is the extension's.
import createModule from './entitlements-core.mjs';

export async function open(filename = ':memory:') {
  const m = await createModule();
  const openDb = m.cwrap('ent_open', 'number', ['string']);
  const execRaw = m.cwrap('ent_exec', 'number', ['number', 'string', 'string']);
  const free = m.cwrap('ent_free', null, ['number']);
  const close = m.cwrap('ent_close', null, ['number']);
  const handle = openDb(filename);
  if (!handle) throw new Error('entitlements: could not open ' + filename);
  return {
    exec(sql, params) {
      const p = execRaw(handle, sql, params ? JSON.stringify(params) : null);
      const answer = JSON.parse(m.UTF8ToString(p));
      free(p);
      if (answer.error !== undefined) {
        const e = new Error(answer.error);
        e.code = answer.code;
        throw e;
      }
      return answer.rows;
    },
    close() { close(handle); },
  };
}
