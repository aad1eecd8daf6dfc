/*
** fuzz_db.h — what both fuzz harnesses share: a fresh in-memory database per
** input, copied from one built on first use.
*/
#ifndef ENT_FUZZ_DB_H
#define ENT_FUZZ_DB_H
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

int sqlite3_entitlements_init(sqlite3 *, char **, const sqlite3_api_routines *);

/* The starting database is built once and copied in for every input: a
** fresh schema per input would cost more than the input itself. */
static unsigned char *image;
static sqlite3_int64 image_size;

/* setup runs once, on the first call; later calls get a copy of its result. */
static sqlite3 *fresh_db(const char *setup) {
  sqlite3 *db;
  if (!image) {
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) abort();
    sqlite3_entitlements_init(db, 0, 0);
    if (sqlite3_exec(db, setup, 0, 0, 0) != SQLITE_OK) abort();
    image = sqlite3_serialize(db, "main", &image_size, 0);
    if (!image) abort();
    sqlite3_close(db);
  }
  if (sqlite3_open(":memory:", &db) != SQLITE_OK) abort();
  {
    unsigned char *copy = sqlite3_malloc64((sqlite3_uint64)image_size);
    if (!copy) abort();
    memcpy(copy, image, (size_t)image_size);
    if (sqlite3_deserialize(db, "main", copy, image_size, image_size,
                            SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE) !=
        SQLITE_OK) {
      abort();
    }
  }
  sqlite3_entitlements_init(db, 0, 0);
  return db;
}
#endif
