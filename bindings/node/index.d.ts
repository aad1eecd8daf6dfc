/** The library inside this package, without its suffix (SQLite adds it). */
export function getLoadablePath(): string;
/** Loads the extension into a better-sqlite3 or libsql Database. */
export function load(db: { loadExtension(path: string): unknown }): void;
export const version: string;
/** The oldest SQLite the extension loads into. */
export const sqliteMinimum: string;
