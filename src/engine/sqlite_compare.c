/*
 * sqlite_compare: what changed between two restored SQLite databases, per
 * table (rows added, removed, changed) and per schema object. Rows are
 * matched by key: the rowid, or the primary key of a WITHOUT ROWID table. A
 * changed row is one whose key stayed and whose stored values did not.
 * Works the same for SQL and binary snapshots, since both are restored
 * first.
 */
#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "dbgit/engine.h"
#include "sqlite_internal.h"

static int64_t count(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t n = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	if (n < 0)
		err_set(ERR_GENERIC, "comparing snapshots: %s (%s)", sqlite3_errmsg(db), sql);
	return n;
}

/* The key and the stored columns of table t, present in both schemas. */
static int key_and_columns(sqlite3 *db, const char *t, struct buf *key, struct buf *cols)
{
	sqlite3_stmt *st;
	int wr = 0;
	if (sqlite3_prepare_v2(db, "SELECT wr FROM pragma_table_list WHERE schema='main' AND name=?1", -1,
			       &st, NULL) != SQLITE_OK)
		return ERR_GENERIC;
	sqlite3_bind_text(st, 1, t, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		wr = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	const char *sql = "SELECT a.name, a.pk FROM pragma_table_xinfo(?1, 'main') a "
			  "JOIN pragma_table_xinfo(?1, 'b') b ON a.name = b.name "
			  "WHERE a.hidden = 0 AND b.hidden = 0 ORDER BY a.cid";
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return ERR_GENERIC;
	sqlite3_bind_text(st, 1, t, -1, SQLITE_STATIC);
	char *pk[64] = {0};
	int shadow = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		int p = sqlite3_column_int(st, 1);
		char *q = sqlite_quote_ident(name);
		if (!sqlite3_stricmp(name, "rowid"))
			shadow = 1;
		buf_printf(cols, "%s%s", cols->len ? "," : "", q);
		if (p > 0 && p <= 64)
			pk[p - 1] = xstrdup(q);
		free(q);
	}
	sqlite3_finalize(st);
	if (wr) {
		for (int i = 0; i < 64 && pk[i]; i++)
			buf_printf(key, "%s%s", key->len ? "," : "", pk[i]);
	} else {
		buf_puts(key, shadow ? "_rowid_" : "rowid");
	}
	for (int i = 0; i < 64; i++)
		free(pk[i]);
	return key->len ? 0 : ERR_GENERIC;
}

static int compare_rows(sqlite3 *db, const char *t, cJSON *tables)
{
	struct buf key = BUF_INIT, cols = BUF_INIT;
	char *q = sqlite_quote_ident(t);
	int rc = key_and_columns(db, t, &key, &cols);
	if (rc < 0) {
		free(q);
		buf_free(&key);
		buf_free(&cols);
		return err_set(ERR_GENERIC, "table %s: no key to match rows by", t);
	}
	const char *k = key.data, *c = cols.len ? cols.data : k;
	char *s_old = xasprintf("SELECT count(*) FROM main.%s", q);
	char *s_new = xasprintf("SELECT count(*) FROM b.%s", q);
	char *s_common = xasprintf("SELECT count(*) FROM (SELECT %s FROM main.%s INTERSECT SELECT %s FROM b.%s)", k, q, k, q);
	char *s_same = xasprintf("SELECT count(*) FROM (SELECT %s,%s FROM main.%s INTERSECT SELECT %s,%s FROM b.%s)",
				 k, c, q, k, c, q);
	int64_t n_old = count(db, s_old), n_new = count(db, s_new), common = count(db, s_common),
		same = count(db, s_same);
	if (n_old < 0 || n_new < 0 || common < 0 || same < 0)
		rc = ERR_GENERIC;
	else if (n_old != same || n_new != same) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", t);
		cJSON_AddNumberToObject(o, "added", (double)(n_new - common));
		cJSON_AddNumberToObject(o, "removed", (double)(n_old - common));
		cJSON_AddNumberToObject(o, "changed", (double)(common - same));
		cJSON_AddItemToArray(tables, o);
	}
	free(s_old), free(s_new), free(s_common), free(s_same), free(q);
	buf_free(&key);
	buf_free(&cols);
	return rc;
}

static void add_whole(sqlite3 *db, const char *schema, const char *t, int added, cJSON *tables)
{
	char *q = sqlite_quote_ident(t);
	char *sql = xasprintf("SELECT count(*) FROM %s.%s", schema, q);
	int64_t n = count(db, sql);
	err_clear();
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", t);
	cJSON_AddNumberToObject(o, "added", added && n > 0 ? (double)n : 0);
	cJSON_AddNumberToObject(o, "removed", !added && n > 0 ? (double)n : 0);
	cJSON_AddNumberToObject(o, "changed", 0);
	cJSON_AddItemToArray(tables, o);
	free(sql), free(q);
}

int sqlite_compare(const struct job_cfg *job, const char *old_db, const char *new_db, cJSON *out)
{
	(void)job;
	sqlite3 *db;
	int rc = 0;
	if (sqlite_open_untrusted(old_db, SQLITE_OPEN_READWRITE, 1, &db) != SQLITE_OK) {
		rc = err_set(ERR_GENERIC, "%s: %s", old_db, sqlite3_errmsg(db));
		sqlite3_close(db);
		return rc;
	}
	sqlite3_stmt *st;
	char *attach = sqlite3_mprintf("ATTACH %Q AS b", new_db);
	if (sqlite3_exec(db, attach, NULL, NULL, NULL) != SQLITE_OK) {
		rc = err_set(ERR_GENERIC, "%s: %s", new_db, sqlite3_errmsg(db));
		goto out;
	}
	cJSON *tables = cJSON_AddArrayToObject(out, "tables");
	cJSON *schema = cJSON_AddArrayToObject(out, "schema");
	/* Every schema object of either side, by name: its sql on each side. */
	const char *sql =
		"SELECT type, name, max(o) AS o, max(n) AS n FROM ("
		" SELECT type, name, sql AS o, NULL AS n FROM main.sqlite_schema"
		" UNION ALL SELECT type, name, NULL, sql FROM b.sqlite_schema)"
		" WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' GROUP BY type, name ORDER BY name";
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		rc = err_set(ERR_GENERIC, "comparing snapshots: %s", sqlite3_errmsg(db));
		goto out;
	}
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(st, 0);
		const char *name = (const char *)sqlite3_column_text(st, 1);
		const char *o = (const char *)sqlite3_column_text(st, 2);
		const char *n = (const char *)sqlite3_column_text(st, 3);
		int is_table = !strcmp(type, "table");
		int is_virtual = (o && !sqlite3_strnicmp(o, "CREATE VIRTUAL", 14)) ||
				 (n && !sqlite3_strnicmp(n, "CREATE VIRTUAL", 14));
		char *line = NULL;
		if (!o && n)
			line = xasprintf("+ %s %s", type, name);
		else if (o && !n)
			line = xasprintf("- %s %s", type, name);
		else if (o && n && strcmp(o, n))
			line = xasprintf("~ %s %s", type, name);
		if (line) {
			cJSON_AddItemToArray(schema, cJSON_CreateString(line));
			free(line);
		}
		if (!is_table || is_virtual)
			continue;
		if (o && n)
			rc = compare_rows(db, name, tables);
		else
			add_whole(db, o ? "main" : "b", name, o == NULL, tables);
	}
	sqlite3_finalize(st);
out:
	sqlite3_free(attach);
	sqlite3_close(db);
	return rc;
}
