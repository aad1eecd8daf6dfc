// sqlite-entitlements from Node with libsql (libSQL, the SQLite fork behind
// Turso; a local database file).
//
//   make && cd examples/node && npm install && node libsql.mjs [DB]
//
// The gated work is in gated-exports.mjs, shared with better-sqlite3.mjs:
// the same code runs unchanged on both bindings.
import Database from 'libsql';
import { run } from './gated-exports.mjs';

run(Database, 'libsql');
