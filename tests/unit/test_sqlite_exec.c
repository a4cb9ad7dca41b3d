/* The hostile-SQL executor (src/engine/sqlite_exec.c) reads a snapshot in
 * pieces of any size: the statements it runs, and the file and line it
 * names when it refuses one, must not depend on where the reads cut the
 * text (inside a comment, a "--", a "/" "*", a statement). */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/engine/sqlite_internal.h"
#include "check.h"

static char dir[] = "/tmp/dbgit-unit-exec-XXXXXX";

/* Feeds text in pieces of size step into a new database; returns the
 * result code and leaves the message in err_last(). *rows gets the rows of
 * t as "a,b;" text (caller frees). */
static int feed(const char *text, size_t step, char **rows)
{
	char *db = xasprintf("%s/db-%zu.sqlite", dir, step);
	unlink(db);
	err_clear();
	struct sqlite_exec x;
	int rc = sqlite_exec_open(&x, "job", db);
	size_t len = strlen(text);
	for (size_t off = 0; rc == 0 && off < len; off += step)
		rc = sqlite_exec_feed(&x, off < len / 2 ? "a.sql" : "a.sql", text + off,
				      len - off < step ? len - off : step);
	if (rc == 0)
		rc = sqlite_exec_finish(&x);
	sqlite_exec_close(&x);
	*rows = NULL;
	if (rc == 0) {
		sqlite3 *h;
		sqlite3_stmt *st;
		struct buf b = BUF_INIT;
		sqlite3_open(db, &h);
		if (sqlite3_prepare_v2(h, "SELECT a, b FROM t ORDER BY rowid", -1, &st, NULL) == SQLITE_OK) {
			while (sqlite3_step(st) == SQLITE_ROW)
				buf_printf(&b, "%s,%s;", sqlite3_column_text(st, 0),
					   sqlite3_column_text(st, 1));
			sqlite3_finalize(st);
		}
		sqlite3_close(h);
		*rows = b.data ? b.data : xstrdup("");
	}
	unlink(db);
	free(db);
	return rc;
}

static const char good[] =
    "-- a snapshot\n"
    "PRAGMA page_size=4096;\n"
    "BEGIN TRANSACTION;\n"
    "/* a block comment\n"
    "   over lines; with a ; inside */\n"
    "CREATE TABLE t(a, b);\n"
    "INSERT INTO t VALUES(1,'x;--y');INSERT INTO t VALUES(2,'/*z*/');\n"
    "INSERT INTO t VALUES(3,\n"
    "'two\n"
    "lines');\n"
    "-- done\n"
    "PRAGMA writable_schema=ON;\n"
    "INSERT INTO sqlite_schema(type,name,tbl_name,rootpage,sql) VALUES('table','f','f',0,"
    "'CREATE VIRTUAL TABLE f USING fts5(x)');\n"
    "PRAGMA writable_schema=OFF;\n"
    "COMMIT;\n";

static const char attach[] = "CREATE TABLE t(a, b);\n"
			     "/* hidden\n"
			     "   below */ -- and here\n"
			     "\n"
			     "  ATTACH 'x.db' AS x;\n";

static const char dot[] = "-- a;\n"
			  "/* b */\n"
			  ".shell touch pwned\n";

static const char two_rows[] =
    "PRAGMA writable_schema=ON;\n"
    "INSERT INTO sqlite_schema(type,name,tbl_name,rootpage,sql) VALUES('table','f','f',0,"
    "'CREATE VIRTUAL TABLE f USING fts5(x)'),('table','g','g',2,'CREATE TABLE g(a)');\n";

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	char *whole = NULL;
	CHECK(feed(good, sizeof(good), &whole) == 0, "whole: %s", err_last());
	CHECK(whole && !strcmp(whole, "1,x;--y;2,/*z*/;3,two\nlines;"), "rows: %s", whole ? whole : "(none)");
	for (size_t step = 1; step <= 40; step++) {
		char *rows = NULL;
		int rc = feed(good, step, &rows);
		CHECK(rc == 0, "step %zu: %s", step, err_last());
		CHECK(rows && whole && !strcmp(rows, whole), "step %zu: rows %s", step,
		      rows ? rows : "(none)");
		free(rows);

		CHECK(feed(attach, step, &rows) < 0, "step %zu: ATTACH ran", step);
		CHECK(strstr(err_last(), "a.sql line 5: ATTACH is not allowed in a snapshot") != NULL,
		      "step %zu: %s", step, err_last());
		free(rows);

		CHECK(feed(dot, step, &rows) < 0, "step %zu: dot-command ran", step);
		CHECK(strstr(err_last(), "a.sql line 3: a sqlite3 shell dot-command") != NULL, "step %zu: %s",
		      step, err_last());
		free(rows);

		CHECK(feed(two_rows, step, &rows) < 0, "step %zu: two schema rows", step);
		CHECK(strstr(err_last(), "line 2: a schema row that is not a virtual table's") != NULL,
		      "step %zu: %s", step, err_last());
		free(rows);
	}
	free(whole);
	rmdir(dir);
	return CHECK_DONE();
}
