// sqlite-entitlements from Node with better-sqlite3 (its own SQLite, 3.53.2).
//
//   make && cd examples/node && npm install && node better-sqlite3.mjs [DB]
//
// The gated work is in gated-exports.mjs, shared with libsql.mjs.
import Database from 'better-sqlite3';
import { run } from './gated-exports.mjs';

run(Database, 'better-sqlite3');
