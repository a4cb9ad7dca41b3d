/* Private to the SQLite engine (sqlite.c, sqlite_compare.c). */
#ifndef DBGIT_SQLITE_INTERNAL_H
#define DBGIT_SQLITE_INTERNAL_H

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "dbgit/config.h"
#include "dbgit/util.h"

/* "name" with embedded quotes doubled: an SQL identifier. Caller frees. */
char *sqlite_quote_ident(const char *s);

/* sqlite_compare.c: the engine's compare operation. */
int sqlite_compare(const struct job_cfg *job, const char *old_db, const char *new_db, cJSON *out);
/* ... and diff --stat from the SQL text of the changed chunks. */
struct engine_text_stat;
extern const struct engine_text_stat sqlite_text_stat;

/* sqlite_exec.c: snapshot SQL and snapshot databases as hostile input. */

/* Opens a database file that came from a snapshot (a restored scratch
 * database, a binary copy) for reading it: defensive, no extensions, no
 * views or triggers run, no URI, at most attach other
 * databases attached. flags as sqlite3_open_v2's. Returns an SQLite code;
 * *out is set either way (close it). */
int sqlite_open_untrusted(const char *path, int flags, int attach, sqlite3 **out);

/* Runs a snapshot's SQL into a new database, statement by statement, as
 * hostile text (see sqlite_exec.c). */
struct sqlite_exec {
	sqlite3 *db;
	const char *job;
	char *file;       /* the snapshot file being fed */
	long line;        /* its current line */
	char *stmt_file;  /* where the pending statement started */
	long stmt_line;
	struct buf stmt;  /* the pending statement */
	int started;      /* stmt holds more than blanks and comments */
	int dot;          /* ... and is a dot-command of the sqlite3 shell */
	int in_comment;   /* ... so far, and ends inside a comment (1 block, 2 line) */
	size_t scan;      /* how far stmt was looked through for its start */
	int semicolon;    /* a ';' came since sqlite3_complete last said no */
	int vtab_next;    /* "PRAGMA writable_schema=ON;" was just read */
	char denied[160]; /* why the authorizer refused, if it did */
	char *const *only; /* some tables only (restore --table): indexes and */
	size_t n_only;     /* triggers of other tables, and views, are skipped */
};
int sqlite_exec_open(struct sqlite_exec *x, const char *job, const char *target);
/* Feeds the next bytes of snapshot file `file` (its lines are counted from
 * 1 each time the file changes). */
int sqlite_exec_feed(struct sqlite_exec *x, const char *file, const char *data, size_t len);
/* After the last file: nothing may be left pending. */
int sqlite_exec_finish(struct sqlite_exec *x);
int sqlite_exec_close(struct sqlite_exec *x);

#endif
