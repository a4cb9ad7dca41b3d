/*
 * test_checksum: the table checksum that verification compares catches
 * the faults that matter - a REAL changed in its last bit, a TEXT that
 * became a BLOB with the same bytes, a missing row, a changed rowid - and
 * is the same for the same content written in another order.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbgit/config.h"
#include "dbgit/engine.h"
#include "dbgit/util.h"

#include "check.h"

static char dir[256];

/* Makes a database from SQL, returns its path (static buffer per slot). */
static const char *make_db(int slot, const char *sql)
{
	static char paths[8][300];
	snprintf(paths[slot], sizeof(paths[slot]), "%s/db%d.sqlite", dir, slot);
	unlink(paths[slot]);
	sqlite3 *db;
	sqlite3_open(paths[slot], &db);
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		printf("setup failed: %s\n", err);
		exit(2);
	}
	sqlite3_close(db);
	return paths[slot];
}

/* The checksum of table t in the database at path. */
static char *sum_of(const char *path, const char *t, double *rows)
{
	const struct engine *e = engine_find("sqlite");
	struct job_cfg job;
	memset(&job, 0, sizeof(job));
	job.name = "t";
	job.path = (char *)path;
	cJSON *info = cJSON_CreateObject();
	struct buf problems = BUF_INIT;
	char *out = NULL;
	if (e->inspect(&job, path, info, &problems) == 0) {
		const cJSON *x;
		cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(info, "tables"))
		{
			if (!strcmp(cJSON_GetObjectItemCaseSensitive(x, "name")->valuestring, t)) {
				out = xstrdup(cJSON_GetObjectItemCaseSensitive(x, "checksum")->valuestring);
				*rows = cJSON_GetObjectItemCaseSensitive(x, "rows")->valuedouble;
			}
		}
	}
	cJSON_Delete(info);
	buf_free(&problems);
	return out;
}

static void differs(const char *what, const char *a_sql, const char *b_sql)
{
	double ra = 0, rb = 0;
	char *a = sum_of(make_db(0, a_sql), "t", &ra);
	char *b = sum_of(make_db(1, b_sql), "t", &rb);
	CHECK(a && b && strcmp(a, b) != 0, "%s: checksums should differ (%s, %s)", what, a ? a : "-",
	      b ? b : "-");
	free(a);
	free(b);
}

static void same(const char *what, const char *a_sql, const char *b_sql)
{
	double ra = 0, rb = 0;
	char *a = sum_of(make_db(0, a_sql), "t", &ra);
	char *b = sum_of(make_db(1, b_sql), "t", &rb);
	CHECK(a && b && !strcmp(a, b) && ra == rb, "%s: checksums should match (%s, %s)", what, a ? a : "-",
	      b ? b : "-");
	free(a);
	free(b);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/dbgit-test-checksum.XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	/* 0.1 and the next double up differ in the last bit only. */
	char next[256];
	snprintf(next, sizeof(next), "CREATE TABLE t(x REAL); INSERT INTO t VALUES (%.17g);",
		 nextafter(0.1, 1.0));
	differs("a REAL one ulp away", "CREATE TABLE t(x REAL); INSERT INTO t VALUES (0.1);", next);
	differs("TEXT that became a BLOB of the same bytes", "CREATE TABLE t(x); INSERT INTO t VALUES ('abc');",
		"CREATE TABLE t(x); INSERT INTO t VALUES (X'616263');");
	differs("INTEGER 1 and REAL 1.0", "CREATE TABLE t(x); INSERT INTO t VALUES (1);",
		"CREATE TABLE t(x); INSERT INTO t VALUES (1.0);");
	differs("a missing row", "CREATE TABLE t(x); INSERT INTO t VALUES (1), (2), (3);",
		"CREATE TABLE t(x); INSERT INTO t VALUES (1), (2);");
	differs("a changed implicit rowid", "CREATE TABLE t(x); INSERT INTO t(rowid, x) VALUES (1, 'a');",
		"CREATE TABLE t(x); INSERT INTO t(rowid, x) VALUES (2, 'a');");
	differs("NULL and empty text", "CREATE TABLE t(x); INSERT INTO t VALUES (NULL);",
		"CREATE TABLE t(x); INSERT INTO t VALUES ('');");
	differs("values moved between columns", "CREATE TABLE t(a, b); INSERT INTO t VALUES ('ab', 'c');",
		"CREATE TABLE t(a, b); INSERT INTO t VALUES ('a', 'bc');");
	same("the same rows inserted in another order",
	     "CREATE TABLE t(id INTEGER PRIMARY KEY, v); INSERT INTO t VALUES (1, 'x'), (2, 'y');",
	     "CREATE TABLE t(id INTEGER PRIMARY KEY, v); INSERT INTO t VALUES (2, 'y'), (1, 'x');");
	same("a WITHOUT ROWID table, in key order whatever the insert order",
	     "CREATE TABLE t(k TEXT PRIMARY KEY, v) WITHOUT ROWID; INSERT INTO t VALUES ('b', 2), ('a', 1);",
	     "CREATE TABLE t(k TEXT PRIMARY KEY, v) WITHOUT ROWID; INSERT INTO t VALUES ('a', 1), ('b', 2);");
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("could not remove %s\n", dir);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
