/*
 * sqlite engine, schema: which tables a dump holds and how each one's rows
 * are read (in a stable order) and written back, the collations dbgit can
 * order by, and the digest of the schema objects. See sqlite.c for the
 * layout of a snapshot.
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"
#include "sqlite_internal.h"
#include "sqlite_value.h"

void sqlite_table_free(struct sqlite_table *t)
{
	free(t->name), free(t->sql), free(t->dir), free(t->rowid_name);
	free(t->select), free(t->insert_head);
}

int sqlite_excluded(const struct job_cfg *job, const char *name)
{
	for (size_t i = 0; i < job->n_exclude; i++)
		if (!sqlite3_stricmp(job->exclude_tables[i], name))
			return 1;
	return 0;
}

/* exclude_table_data: the table is dumped without its rows. */
int sqlite_data_excluded(const struct job_cfg *job, const char *name)
{
	for (size_t i = 0; i < job->n_exclude_data; i++)
		if (!sqlite3_stricmp(job->exclude_table_data[i], name))
			return 1;
	return 0;
}

/* Works out how to read and write one table's rows. */
static int table_prepare(sqlite3 *db, const char *path, struct sqlite_table *t)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT wr FROM pragma_table_list WHERE schema='main' AND name=?1",
				    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqlite_fail(db, rc, path, "pragma_table_list");
	sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		t->without_rowid = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);

	rc = sqlite3_prepare_v2(db, "SELECT name, type, pk, hidden FROM pragma_table_xinfo(?1) ORDER BY cid",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqlite_fail(db, rc, path, "pragma_table_xinfo");
	sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
	struct buf cols = BUF_INIT, order = BUF_INIT;
	int npk = 0, has_generated = 0, alias = 0;
	char *pk_order[64] = {0};
	int shadow_rowid = 0, shadow_oid = 0, shadow__rowid_ = 0;
	t->ncols = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *cname = (const char *)sqlite3_column_text(st, 0);
		const char *ctype = (const char *)sqlite3_column_text(st, 1);
		int pk = sqlite3_column_int(st, 2), hidden = sqlite3_column_int(st, 3);
		if (!sqlite3_stricmp(cname, "rowid"))
			shadow_rowid = 1;
		if (!sqlite3_stricmp(cname, "oid"))
			shadow_oid = 1;
		if (!sqlite3_stricmp(cname, "_rowid_"))
			shadow__rowid_ = 1;
		if (hidden != 0) {
			has_generated = 1;
			continue;
		}
		char *q = sqlite_quote_ident(cname);
		if (cols.len)
			buf_puts(&cols, ",");
		buf_puts(&cols, q);
		t->ncols++;
		if (pk > 0) {
			npk++;
			if (pk <= 64) {
				free(pk_order[pk - 1]);
				pk_order[pk - 1] = xstrdup(q);
			}
			if (ctype && !sqlite3_stricmp(ctype, "INTEGER"))
				alias = 1;
		}
		free(q);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		buf_free(&cols);
		for (int i = 0; i < 64; i++)
			free(pk_order[i]);
		return sqlite_fail(db, rc, path, t->name);
	}
	for (int i = 0; i < npk && i < 64; i++) {
		if (order.len)
			buf_puts(&order, ",");
		buf_puts(&order, pk_order[i] ? pk_order[i] : "1");
	}
	for (int i = 0; i < 64; i++)
		free(pk_order[i]);
	/* An INTEGER PRIMARY KEY is the rowid itself - except in SQLite's
	 * quirk "INTEGER PRIMARY KEY DESC", which is an ordinary key with an
	 * index of its own (origin 'pk'): then the rowid is separate. */
	if (npk == 1 && alias && !t->without_rowid) {
		rc = sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_index_list(?1) WHERE origin='pk'", -1, &st,
					NULL);
		if (rc != SQLITE_OK) {
			buf_free(&cols);
			buf_free(&order);
			return sqlite_fail(db, rc, path, "pragma_index_list");
		}
		sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			alias = 0;
		sqlite3_finalize(st);
	}
	/* Otherwise the rowid is kept explicitly, under a name no column
	 * shadows. */
	if (!t->without_rowid && !(npk == 1 && alias)) {
		if (!shadow_rowid)
			t->rowid_name = xstrdup("rowid");
		else if (!shadow__rowid_)
			t->rowid_name = xstrdup("_rowid_");
		else if (!shadow_oid)
			t->rowid_name = xstrdup("oid");
	}
	char *qt = sqlite_quote_ident(t->name);
	struct buf sel = BUF_INIT, ins = BUF_INIT;
	buf_puts(&sel, "SELECT ");
	if (t->rowid_name)
		buf_printf(&sel, "%s%s", t->rowid_name, cols.len ? "," : "");
	buf_printf(&sel, "%s FROM main.%s", buf_cstr(&cols), qt);
	if (t->without_rowid)
		buf_printf(&sel, " ORDER BY %s", buf_cstr(&order));
	else
		buf_printf(&sel, " ORDER BY %s", t->rowid_name ? t->rowid_name : "rowid");
	buf_printf(&ins, "INSERT INTO %s", qt);
	if (t->rowid_name || has_generated)
		buf_printf(&ins, "(%s%s%s)", t->rowid_name ? t->rowid_name : "",
			   t->rowid_name && cols.len ? "," : "", buf_cstr(&cols));
	buf_puts(&ins, " VALUES(");
	if (t->rowid_name)
		t->ncols++;
	t->select = sel.data;
	t->insert_head = ins.data;
	free(qt);
	buf_free(&cols);
	buf_free(&order);
	return 0;
}

static int cmp_dir(const void *a, const void *b)
{
	return strcmp(((const struct sqlite_table *)a)->dir, ((const struct sqlite_table *)b)->dir);
}

/* Lists the tables to dump, in path order. */
int sqlite_list_tables(sqlite3 *db, const char *path, const struct job_cfg *job,
		       struct sqlite_table **out, size_t *n)
{
	sqlite3_stmt *st;
	*out = NULL;
	*n = 0;
	int rc = sqlite3_prepare_v2(db,
				    "SELECT name, sql FROM sqlite_schema WHERE type='table' AND "
				    "name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
				    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqlite_fail(db, rc, path, "reading the schema");
	size_t cap = 16, len = 0;
	struct sqlite_table *list = calloc(cap, sizeof(*list));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *sql = (const char *)sqlite3_column_text(st, 1);
		if (sqlite_excluded(job, name))
			continue;
		if (len == cap) {
			cap *= 2;
			list = realloc(list, cap * sizeof(*list));
		}
		struct sqlite_table *t = &list[len++];
		memset(t, 0, sizeof(*t));
		t->name = xstrdup(name);
		t->sql = xstrdup(sql ? sql : "");
		t->dir = server_sanitize(name);
		t->is_virtual = !sqlite3_strnicmp(t->sql, "CREATE VIRTUAL TABLE", 20);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		for (size_t i = 0; i < len; i++)
			sqlite_table_free(&list[i]);
		free(list);
		return sqlite_fail(db, rc, path, "reading the schema");
	}
	/* Path order (by directory name), which is also the order the files
	 * are written in. */
	qsort(list, len, sizeof(*list), cmp_dir);
	for (size_t i = 0; i < len; i++)
		if (!list[i].is_virtual && table_prepare(db, path, &list[i]) < 0) {
			for (size_t j = 0; j < len; j++)
				sqlite_table_free(&list[j]);
			free(list);
			return ERR_GENERIC;
		}
	*out = list;
	*n = len;
	return 0;
}

int sqlite_table_for_dir(sqlite3 *db, const char *path, const char *dir, struct sqlite_table *out)
{
	sqlite3_stmt *st;
	memset(out, 0, sizeof(*out));
	int rc = sqlite3_prepare_v2(db,
				    "SELECT name, sql FROM sqlite_schema WHERE type='table' AND "
				    "name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
				    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqlite_fail(db, rc, path, "reading the schema");
	int found = 0;
	while (!found && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *sql = (const char *)sqlite3_column_text(st, 1);
		char *d = name ? server_sanitize(name) : NULL;
		if (d && !strcmp(d, dir)) {
			out->name = xstrdup(name);
			out->sql = xstrdup(sql ? sql : "");
			out->dir = d;
			out->is_virtual = !sqlite3_strnicmp(out->sql, "CREATE VIRTUAL TABLE", 20);
			found = 1;
		} else {
			free(d);
		}
	}
	sqlite3_finalize(st);
	if (!found)
		return rc == SQLITE_DONE ? 0 : sqlite_fail(db, rc, path, "reading the schema");
	int is_virtual = out->is_virtual;
	if (is_virtual || table_prepare(db, path, out) < 0) {
		sqlite_table_free(out);
		memset(out, 0, sizeof(*out));
		return is_virtual ? 0 : ERR_GENERIC;
	}
	return 1;
}

/* SQLite's own collations; any other is the application's, registered at
 * run time by its code. dbgit cannot order, index or even re-create such a
 * table (CREATE TABLE fails without the collation), and a stand-in
 * collation would build indexes in an order the application's queries
 * would not find their rows by. So it is refused, by name, before the dump. */
static int builtin_collation(const char *c)
{
	return !c || !sqlite3_stricmp(c, "BINARY") || !sqlite3_stricmp(c, "NOCASE") || !sqlite3_stricmp(c, "RTRIM");
}

int sqlite_check_collations(sqlite3 *db, const char *path, const struct sqlite_table *tables, size_t n)
{
	sqlite3_stmt *cols = NULL, *idx = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_xinfo(?1)", -1, &cols, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db,
					"SELECT il.name, ix.coll FROM pragma_index_list(?1) il, "
					"pragma_index_xinfo(il.name) ix WHERE ix.key AND ix.coll IS NOT NULL",
					-1, &idx, NULL);
	if (rc != SQLITE_OK) {
		rc = sqlite_fail(db, rc, path, "reading the schema");
		goto out;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct sqlite_table *t = &tables[i];
		if (t->is_virtual)
			continue;
		sqlite3_reset(cols);
		sqlite3_bind_text(cols, 1, t->name, -1, SQLITE_STATIC);
		while (rc == 0 && sqlite3_step(cols) == SQLITE_ROW) {
			const char *coll = NULL;
			const char *col = (const char *)sqlite3_column_text(cols, 0);
			if (col && sqlite3_table_column_metadata(db, "main", t->name, col, NULL, &coll, NULL, NULL,
								 NULL) == SQLITE_OK &&
			    !builtin_collation(coll))
				rc = err_set(ERR_GENERIC,
					     "database %s: table %s uses collation %s, which only the application "
					     "defines: dbgit cannot read it in order",
					     path, t->name, coll);
		}
		sqlite3_reset(idx);
		sqlite3_bind_text(idx, 1, t->name, -1, SQLITE_STATIC);
		while (rc == 0 && sqlite3_step(idx) == SQLITE_ROW) {
			const char *coll = (const char *)sqlite3_column_text(idx, 1);
			if (!builtin_collation(coll))
				rc = err_set(ERR_GENERIC,
					     "database %s: table %s uses collation %s (index %s), which only the "
					     "application defines: dbgit cannot read it in order",
					     path, t->name, coll, (const char *)sqlite3_column_text(idx, 0));
		}
	}
out:
	sqlite3_finalize(cols);
	sqlite3_finalize(idx);
	return rc;
}

void sqlite_free_tables(struct sqlite_table *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sqlite_table_free(&list[i]);
	free(list);
}

int sqlite_has_sequence(sqlite3 *db)
{
	sqlite3_stmt *st;
	int found = 0;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_schema WHERE name='sqlite_sequence'", -1, &st,
			       NULL) == SQLITE_OK) {
		found = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
	}
	return found;
}

/* sqlite_sequence, less the rows of excluded tables. */
struct sqlite_table sqlite_sequence_table(const struct job_cfg *job)
{
	struct sqlite_table t;
	memset(&t, 0, sizeof(t));
	struct buf sel = BUF_INIT;
	buf_puts(&sel, "SELECT name, seq FROM main.sqlite_sequence");
	for (size_t i = 0; i < job->n_exclude; i++) {
		buf_puts(&sel, i ? ", upper(" : " WHERE upper(name) NOT IN (upper(");
		sqlite_fmt_quoted(&sel, job->exclude_tables[i]);
		buf_puts(&sel, ")");
	}
	if (job->n_exclude)
		buf_puts(&sel, ")");
	buf_puts(&sel, " ORDER BY name");
	t.name = xstrdup("sqlite_sequence");
	t.select = sel.data;
	t.insert_head = xstrdup("INSERT INTO sqlite_sequence(name,seq) VALUES(");
	t.ncols = 2;
	return t;
}

/* A restore has sqlite_sequence only if a kept table uses AUTOINCREMENT. */
int sqlite_keeps_autoincrement(const struct sqlite_table *tables, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!tables[i].is_virtual && sqlite3_strlike("%AUTOINCREMENT%", tables[i].sql, 0) == 0)
			return 1;
	return 0;
}

int sqlite_pragma_int(sqlite3 *db, const char *pragma, int64_t *out)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, pragma, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int sqlite_fk_violations(sqlite3 *db, int64_t *out)
{
	sqlite3_stmt *st;
	*out = 0;
	int rc = sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		(*out)++;
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The schema objects a dump holds, as "schema": [{"type", "name",
 * "tbl_name", "sha256" of the SQL text}] sorted by type and name (BINARY,
 * which is byte order). SQLite's own objects (sqlite_sequence,
 * sqlite_stat*, automatic indexes) are left out: they come and go with
 * what a restore does, not with what the user defined; so are the objects
 * of excluded tables, which the dump leaves out. Restoring writes each
 * object's stored text back as it was, so the digests of a good restore
 * equal the source's. */
int sqlite_schema_digest(sqlite3 *db, const char *path, const struct job_cfg *job, cJSON *info)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db,
				    "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE sql IS NOT NULL "
				    "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
				    "AND type IN ('table','index','view','trigger') ORDER BY type, name",
				    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqlite_fail(db, rc, path, "reading the schema");
	cJSON *schema = cJSON_AddArrayToObject(info, "schema");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *tbl = (const char *)sqlite3_column_text(st, 2);
		if (tbl && sqlite_excluded(job, tbl))
			continue;
		const char *sql = (const char *)sqlite3_column_text(st, 3);
		char hex[65];
		struct sha256 *h = sha256_new();
		sha256_update(h, sql, strlen(sql));
		sha256_final_hex(h, hex);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "type", (const char *)sqlite3_column_text(st, 0));
		cJSON_AddStringToObject(o, "name", (const char *)sqlite3_column_text(st, 1));
		cJSON_AddStringToObject(o, "tbl_name", tbl ? tbl : "");
		cJSON_AddStringToObject(o, "sha256", hex);
		cJSON_AddItemToArray(schema, o);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sqlite_fail(db, rc, path, "reading the schema");
}
