/* Private to the SQLite engine (sqlite.c, sqlite_compare.c). */
#ifndef DBGIT_SQLITE_INTERNAL_H
#define DBGIT_SQLITE_INTERNAL_H

#include <cjson/cJSON.h>

#include "dbgit/config.h"

/* "name" with embedded quotes doubled: an SQL identifier. Caller frees. */
char *sqlite_quote_ident(const char *s);

/* sqlite_compare.c: the engine's compare operation. */
int sqlite_compare(const struct job_cfg *job, const char *old_db, const char *new_db, cJSON *out);

#endif
