'use strict';
// sqlite-entitlements for Node: the compiled SQLite extension and a loader
// for better-sqlite3 and libsql (any database object with loadExtension()).
const path = require('node:path');

/** The library inside this package, without its suffix (SQLite adds it). */
function getLoadablePath() {
  return path.join(__dirname, 'lib', 'entitlements');
}

/** Loads the extension into db (better-sqlite3 or libsql Database). */
function load(db) {
  db.loadExtension(getLoadablePath());
}

exports.getLoadablePath = getLoadablePath;
exports.load = load;
exports.version = '@VERSION@';
exports.sqliteMinimum = '@SQLITE_MINIMUM@';
