/* Private to the SQLite engine (src/engine/sqlite*.c). */
#ifndef DBGIT_SQLITE_INTERNAL_H
#define DBGIT_SQLITE_INTERNAL_H

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "dbgit/config.h"
#include "dbgit/util.h"

#include "dbgit/engine.h"

/* Where a snapshot's files go (see sqlite.c). */
#define SQL_PREFIX "1-table/"
#define BINARY_FILE "binary/db.sqlite"
#define BINARY_DIR "binary/"

/* "name" with embedded quotes doubled: an SQL identifier. Caller frees. */
char *sqlite_quote_ident(const char *s);

/* sqlite.c: the one error message for an SQLite code (names path); returns
 * ERR_GENERIC. */
int sqlite_fail(sqlite3 *db, int rc, const char *path, const char *what);
/* Opens the job's source database read-only, with its busy timeout. */
int sqlite_open_source(const struct job_cfg *job, sqlite3 **out);

/* sqlite_schema.c: one table to dump, and how to read and write its rows. */
struct sqlite_table {
	char *name;
	char *sql;
	char *dir; /* sanitized name, for paths */
	int is_virtual;
	int without_rowid;
	char *rowid_name;  /* NULL if no separate rowid is kept */
	char *select;      /* SELECT ... ORDER BY ... */
	char *insert_head; /* INSERT INTO "t"(...) VALUES( */
	int ncols;         /* columns in select */
};
/* Table names become directory names: keep [A-Za-z0-9_.-], %XX the rest. */
void sqlite_table_free(struct sqlite_table *t);
void sqlite_free_tables(struct sqlite_table *list, size_t n);
/* exclude_tables / exclude_table_data name the table (any case). */
int sqlite_excluded(const struct job_cfg *job, const char *name);
int sqlite_data_excluded(const struct job_cfg *job, const char *name);
/* The tables to dump, in path order. */
int sqlite_list_tables(sqlite3 *db, const char *path, const struct job_cfg *job, struct sqlite_table **out,
		       size_t *n);
/* Refuses a table that uses a collation only the application defines. */
int sqlite_check_collations(sqlite3 *db, const char *path, const struct sqlite_table *tables, size_t n);
int sqlite_has_sequence(sqlite3 *db);
/* sqlite_sequence, less the rows of excluded tables. */
struct sqlite_table sqlite_sequence_table(const struct job_cfg *job);
/* A restore has sqlite_sequence only if a kept table uses AUTOINCREMENT. */
int sqlite_keeps_autoincrement(const struct sqlite_table *tables, size_t n);
/* Both return an SQLite code. */
int sqlite_pragma_int(sqlite3 *db, const char *pragma, int64_t *out);
int sqlite_fk_violations(sqlite3 *db, int64_t *out);
/* Adds "schema": the digest of each schema object (see sqlite_schema.c). */
int sqlite_schema_digest(sqlite3 *db, const char *path, const struct job_cfg *job, cJSON *info);

/* Finds the table whose folder (server_sanitize) is dir and works out
 * its SELECT and INSERT head as a dump would: 1 if found, 0 if not,
 * negative on error. */
int sqlite_table_for_dir(sqlite3 *db, const char *path, const char *dir, struct sqlite_table *out);

/* sqlite_dump.c */
struct sqlite_dumper {
	sqlite3 *db;
	const char *path;
	sqlite3_stmt *real_check; /* SELECT CAST(?1 AS REAL) */
	struct buf line;
	struct buf framed; /* one row's checksum input */
	int enc;           /* SQLITE_UTF8, SQLITE_UTF16LE or SQLITE_UTF16BE */
	int wal;           /* the source is in WAL mode */
};
/* Reads a table's rows in order; writes INSERTs to sink if given; returns
 * the row count and checksum. */
int sqlite_walk_rows(struct sqlite_dumper *d, const struct sqlite_table *t, struct dump_sink *sink,
		     int64_t *rows, char sum[65]);
int sqlite_dump(const struct job_cfg *job, struct dump_sink *sink, cJSON *info);

/* sqlite_restore.c */
int sqlite_restore(const struct job_cfg *job, struct dump_source *src, const char *format,
		   const char *target);
int sqlite_restore_wants(const struct job_cfg *job, const char *path);
int sqlite_inspect(const struct job_cfg *job, const char *target, cJSON *info, struct buf *problems);

/* sqlite_compare.c: the engine's compare operation. */
int sqlite_compare(const struct job_cfg *job, const char *old_db, const char *new_db, cJSON *out);
/* ... and diff --stat from the SQL text of the changed chunks. */
struct engine_text_stat;
extern const struct engine_text_stat sqlite_text_stat;

struct sqlite_rows;

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
	struct sqlite_rows *rows; /* the fast path for this row file, or NULL */
	char *rows_dir;    /* the table folder of that row file */
	int line_start;    /* the next byte fed starts a line */
	int fast_line;     /* ... or the fast path has the line so far */
	int trusted;       /* dbgit's own statement: the authorizer lets it be */
};
int sqlite_exec_open(struct sqlite_exec *x, const char *job, const char *target);
/* Feeds the next bytes of snapshot file `file` (its lines are counted from
 * 1 each time the file changes). */
int sqlite_exec_feed(struct sqlite_exec *x, const char *file, const char *data, size_t len);
/* After the last file: nothing may be left pending. */
int sqlite_exec_finish(struct sqlite_exec *x);
int sqlite_exec_close(struct sqlite_exec *x);

/* sqlite_rows.c: the restore's fast path for a table's row file. NULL if
 * the table cannot take it (see sqlite_rows.c). */
struct sqlite_rows;
struct sqlite_rows *sqlite_rows_open(sqlite3 *db, const struct sqlite_table *t, int *trusted);
enum {
	ROWS_MORE,     /* the line goes on */
	ROWS_DONE,     /* the line was a row, and is inserted */
	ROWS_FALLBACK, /* not a row of dbgit's: sqlite_rows_raw holds the line so
			  far (empty if it came in one piece: the caller has it) */
	ROWS_REFUSED,  /* not a row of dbgit's, and too long to hand back */
	ROWS_FAILED,   /* the insert failed: sqlite3_errmsg says why */
	ROWS_TOO_LONG, /* longer than limit */
	ROWS_IO,       /* a temp file failed: sqlite_rows_errno says why */
};
/* Feeds the next bytes of a line (eol: they end it, with its newline). */
int sqlite_rows_feed(struct sqlite_rows *r, const char *p, size_t n, int eol, size_t limit);
const struct buf *sqlite_rows_raw(const struct sqlite_rows *r);
int sqlite_rows_errno(const struct sqlite_rows *r);
/* The line ends without its newline (its file ended): FALLBACK or REFUSED. */
int sqlite_rows_cut(struct sqlite_rows *r);
/* Forgets the line read so far. */
void sqlite_rows_abandon(struct sqlite_rows *r);
void sqlite_rows_free(struct sqlite_rows *r);

#endif
