/*
 * sqlite engine: SQLite databases, dumped as deterministic SQL text or
 * copied page-exact through the online backup API, or both, all inside one
 * read transaction so that the dump, the copy and the table checksums see
 * the same snapshot.
 *
 * The SQL layout (byte-wise path order is script order):
 *   0-begin.sql                  page size, auto_vacuum, BEGIN
 *   1-table/<name>/0-schema.sql  CREATE TABLE (or the virtual table's row)
 *   1-table/<name>/1-rows.sql    one INSERT per row, in rowid / key order
 *   2-sequence.sql               sqlite_sequence
 *   3-schema.sql                 indexes, views, triggers
 *   4-end.sql                    user_version, application_id, COMMIT
 * Binary: binary/db.sqlite, cut into fixed-size chunks.
 *
 * Values are exact and a row is one line: sqlite_value.c writes each
 * value's literal, and restore registers the ieee754() it may use.
 *
 * The checksum of a table is SHA-256 over, for each row in order, the
 * rowid (rowid tables) and each stored column: a type tag, then the
 * value's exact bytes (integers and reals as 8 big-endian bytes).
 *
 * Files: sqlite.c (this: the engine table, opening the source, check and
 * probe), sqlite_schema.c (tables and how to read them), sqlite_dump.c,
 * sqlite_restore.c (restore and inspect), sqlite_value.c (literals),
 * sqlite_exec.c (the sandbox a snapshot's SQL runs in), sqlite_compare.c.
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "dbgit/engine.h"
#include "sqlite_internal.h"

int sqlite_fail(sqlite3 *db, int rc, const char *path, const char *what)
{
	int code = ERR_GENERIC;
	const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
	switch (rc & 0xff) {
	case SQLITE_NOTADB:
		return err_set(code, "%s is not a SQLite database", path);
	case SQLITE_CORRUPT:
		return err_set(code, "%s is corrupt (%s: %s)", path, what, msg);
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return err_set(code, "%s is locked by another writer beyond busy_timeout (%s)", path, msg);
	case SQLITE_CANTOPEN:
		return err_set(code, "%s: cannot open the database (%s)", path, msg);
	default:
		return err_set(code, "%s: %s: %s", path, what, msg);
	}
}

char *sqlite_quote_ident(const char *s)
{
	struct buf b = BUF_INIT;
	buf_puts(&b, "\"");
	for (; *s; s++) {
		if (*s == '"')
			buf_puts(&b, "\"");
		buf_add(&b, s, 1);
	}
	buf_puts(&b, "\"");
	return b.data;
}

/* Every connection this process opens (source, scratch, target) stops
 * its statement with SQLITE_INTERRUPT once a stop signal has come, so a
 * long dump, restore or check unwinds at once. */
static int interrupted(void *arg)
{
	(void)arg;
	return sig_pending() != 0;
}

static int interruptible(sqlite3 *db, const char **errmsg, const struct sqlite3_api_routines *api)
{
	(void)errmsg, (void)api;
	sqlite3_progress_handler(db, 1000, interrupted, NULL);
	return SQLITE_OK;
}

__attribute__((constructor)) static void interruptible_connections(void)
{
	sqlite3_auto_extension((void (*)(void))interruptible);
}

/* SQLite's own busy handler sleeps 1, 2, 5, 10 ... 100 ms between tries.
 * Against a writer that commits in a tight loop it looks too rarely and
 * always finds the lock taken: the snapshot failed "locked beyond
 * busy_timeout" though the writer had let go thousands of times. Trying
 * every millisecond gets the read lock in one of those gaps. The limit is
 * the job's busy_timeout, measured on the clock, not counted in tries. */
static _Thread_local struct timespec busy_since;

static int busy_poll(void *arg, int count)
{
	long limit_ms = (long)(intptr_t)arg;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (count == 0)
		busy_since = now;
	long waited = (now.tv_sec - busy_since.tv_sec) * 1000 + (now.tv_nsec - busy_since.tv_nsec) / 1000000;
	if (waited >= limit_ms || sig_pending())
		return 0;
	struct timespec step = {0, 1000 * 1000};
	nanosleep(&step, NULL);
	return 1;
}

int sqlite_open_source(const struct job_cfg *job, sqlite3 **out)
{
	*out = NULL;
	if (!job->path)
		return err_set(ERR_USAGE, "job '%s': missing 'path' of the SQLite database", job->name);
	if (!fs_exists(job->path))
		return err_set(ERR_GENERIC, "database %s does not exist", job->path);
	/* SQLite takes an empty file for a good empty database, so a typo'd
	 * path that something touched would be backed up, night after night,
	 * as a verified snapshot of nothing. */
	struct stat sb;
	if (stat(job->path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 0)
		return err_set(ERR_GENERIC, "database %s is empty (0 bytes): not a SQLite database; wrong path?",
			       job->path);
	sqlite3 *db;
	int rc = sqlite3_open_v2(job->path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		sqlite_fail(db, rc, job->path, "open");
		sqlite3_close(db);
		return ERR_GENERIC;
	}
	sqlite3_busy_handler(db, busy_poll, (void *)(intptr_t)job->busy_timeout_ms);
	*out = db;
	return 0;
}

static int sqlite_check(const struct job_cfg *job)
{
	if (!job->path)
		return err_set(ERR_USAGE, "missing required key 'path' (the SQLite database file)");
	if (job->n_exclude_data && strcmp(job->format, "sql"))
		return err_set(ERR_USAGE,
			       "exclude_table_data works with format = \"sql\" only: a %s copy "
			       "holds every row",
			       job->format);
	for (size_t i = 0; i < job->n_exclude_data; i++)
		if (sqlite_excluded(job, job->exclude_table_data[i]))
			return err_set(ERR_USAGE,
				       "table '%s' is in both exclude_tables and exclude_table_data",
				       job->exclude_table_data[i]);
	if (job->n_exclude && strcmp(job->format, "sql"))
		return err_set(ERR_USAGE, "exclude_tables works with format = \"sql\" only: a %s copy "
					  "holds every table",
			       job->format);
	return 0;
}

/* Before SQLite initialises: no global memory statistics, whose mutex
 * every allocation would otherwise take (a few % of a dump or restore). */
__attribute__((constructor)) static void sqlite_engine_setup(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static const char *sqlite_early_format(const struct job_cfg *job)
{
	return strcmp(job->format, "binary") ? "sql" : NULL;
}

/* check: the source opens and its schema reads, in a read transaction. */
static int sqlite_probe(const struct job_cfg *job)
{
	sqlite3 *db;
	int rc = sqlite_open_source(job, &db);
	if (rc < 0)
		return rc;
	int src = sqlite3_exec(db, "BEGIN; SELECT count(*) FROM sqlite_schema; COMMIT;", NULL, NULL, NULL);
	if ((src & 0xff) == SQLITE_NOTADB)
		rc = err_set(ERR_GENERIC, "database %s is not a SQLite database (file is not a database): wrong path?",
			     job->path);
	else if (src != SQLITE_OK)
		rc = sqlite_fail(db, src, job->path, "reading the schema");
	sqlite3_close(db);
	return rc;
}

const struct engine engine_sqlite = {
	.probe = sqlite_probe,
	.name = "sqlite",
	.check = sqlite_check,
	.dump = sqlite_dump,
	.restore = sqlite_restore,
	.restore_wants = sqlite_restore_wants,
	.inspect = sqlite_inspect,
	.compare = sqlite_compare,
	.text_stat = &sqlite_text_stat,
	.early_format = sqlite_early_format,
};
