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

/*
 * diff --stat from the text alone. A SQL snapshot holds each row as one
 * line, `INSERT INTO "t" VALUES(...);` (with a column list when the rowid
 * or generated columns need one), rows in key order, values written the
 * same way every time. So the lines removed and added between two
 * snapshots - which the store finds by reading only the chunks that
 * changed - are the rows removed and added, and a row whose key is on both
 * sides changed. The key comes from the table's CREATE TABLE (the schema
 * file, the same on both sides): the rowid (written first in a column list,
 * or as the INTEGER PRIMARY KEY column) or a WITHOUT ROWID table's primary
 * key columns.
 *
 * Anything else - a schema file that changed, a table whose key cannot be
 * found, a line of another shape - answers ENGINE_STAT_FALLBACK, and the
 * cycle restores both snapshots and compares them (sqlite_compare).
 */

struct row_line {
	char *key;  /* the key's values as written, joined by ',' */
	char *text; /* the whole line */
};

struct stat_table {
	char *dir;  /* "1-table/<dir>/" of its files */
	char *name; /* from the lines */
	int key[64], n_key; /* value positions of the key */
	struct row_line *rows[2];
	size_t n[2], cap[2];
};

struct text_stat {
	int (*read)(void *rarg, const char *path, struct buf *out);
	void *rarg;
	struct stat_table *t;
	size_t n, cap;
	struct stat_table *cur;
};

static void *ts_begin(const struct job_cfg *job, int (*read)(void *, const char *, struct buf *), void *rarg)
{
	(void)job;
	struct text_stat *s = calloc(1, sizeof(*s));
	s->read = read;
	s->rarg = rarg;
	return s;
}

static void ts_free(void *arg)
{
	struct text_stat *s = arg;
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		for (int side = 0; side < 2; side++) {
			for (size_t k = 0; k < s->t[i].n[side]; k++) {
				free(s->t[i].rows[side][k].key);
				free(s->t[i].rows[side][k].text);
			}
			free(s->t[i].rows[side]);
		}
		free(s->t[i].dir);
		free(s->t[i].name);
	}
	free(s->t);
	free(s);
}

/* Splits "v1,v2,..." at the commas outside quotes and parentheses
 * (values such as 'a,b', X'..', CAST(X'..' AS TEXT), 'a' || char(10)).
 * starts/ends receive up to max values; returns how many, -1 if the text
 * does not close. */
static int split_values(const char *p, size_t n, size_t *starts, size_t *ends, int max)
{
	int count = 0, depth = 0, quote = 0;
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (quote) {
			if (c == '\'') {
				if (i + 1 < n && p[i + 1] == '\'')
					i++;
				else
					quote = 0;
			}
			continue;
		}
		if (c == '\'')
			quote = 1;
		else if (c == '(')
			depth++;
		else if (c == ')') {
			if (depth-- == 0)
				return -1;
		} else if (c == ',' && depth == 0) {
			if (count < max) {
				starts[count] = start;
				ends[count] = i;
			}
			count++;
			start = i + 1;
		}
	}
	if (quote || depth)
		return -1;
	if (count < max) {
		starts[count] = start;
		ends[count] = n;
	}
	return count + 1;
}

/* `INSERT INTO "name"[(cols)] VALUES(values);`: the table name, the
 * column list (or empty) and the values, as spans of text. */
struct row_parts {
	struct buf name;
	const char *cols, *vals;
	size_t cols_len, vals_len;
};

static int parse_row(const char *t, size_t n, struct row_parts *r)
{
	static const char head[] = "INSERT INTO \"";
	buf_clear(&r->name);
	if (n < sizeof(head) || memcmp(t, head, sizeof(head) - 1))
		return -1;
	size_t i = sizeof(head) - 1;
	for (;; i++) {
		if (i >= n)
			return -1;
		if (t[i] == '"') {
			if (i + 1 < n && t[i + 1] == '"') {
				buf_add(&r->name, "\"", 1);
				i++;
				continue;
			}
			break;
		}
		buf_add(&r->name, t + i, 1);
	}
	i++;
	r->cols = NULL;
	r->cols_len = 0;
	if (i < n && t[i] == '(') {
		const char *close = memchr(t + i, ')', n - i);
		if (!close)
			return -1;
		r->cols = t + i + 1;
		r->cols_len = (size_t)(close - r->cols);
		i = (size_t)(close - t) + 1;
	}
	static const char mid[] = " VALUES(";
	if (n - i < sizeof(mid) - 1 + 2 || memcmp(t + i, mid, sizeof(mid) - 1) || memcmp(t + n - 2, ");", 2))
		return -1;
	r->vals = t + i + sizeof(mid) - 1;
	r->vals_len = (size_t)(t + n - 2 - r->vals);
	return 0;
}

/* The key positions of the table whose files are under dir, from its
 * schema file and the shape of its first line. */
static int table_key(struct text_stat *s, struct stat_table *tb, const struct row_parts *r)
{
	struct buf schema = BUF_INIT;
	char *path = xasprintf("%s0-schema.sql", tb->dir);
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = ENGINE_STAT_FALLBACK;
	if (s->read(s->rarg, path, &schema) < 0) {
		err_clear();
		goto out;
	}
	/* One CREATE TABLE and nothing else, run in a private in-memory
	 * database: no other statement of the (untrusted) file runs. */
	const char *tail = NULL;
	if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
		    SQLITE_OK ||
	    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL) != SQLITE_OK ||
	    sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0) < 0 ||
	    sqlite3_prepare_v2(db, buf_cstr(&schema), (int)schema.len, &st, &tail) != SQLITE_OK || !st ||
	    sqlite3_strnicmp(sqlite3_sql(st), "CREATE TABLE", 12))
		goto out;
	while (tail && (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == '\r'))
		tail++;
	if ((tail && *tail) || sqlite3_step(st) != SQLITE_DONE)
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	/* The table is the only one there: its name as the schema says. */
	int wr = 0;
	char *name = NULL;
	if (sqlite3_prepare_v2(db, "SELECT name, wr FROM pragma_table_list WHERE schema='main' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		goto out;
	name = xstrdup((const char *)sqlite3_column_text(st, 0));
	wr = sqlite3_column_int(st, 1);
	sqlite3_finalize(st);
	st = NULL;
	/* The columns the line lists, in order: its column list, or every
	 * stored, not generated, column. */
	char *cols[256];
	int n_cols = 0;
	if (r->cols) {
		size_t starts[256], ends[256];
		int k = split_values(r->cols, r->cols_len, starts, ends, 256);
		if (k < 0 || k > 256) {
			free(name);
			goto out;
		}
		for (int c = 0; c < k; c++) {
			const char *a = r->cols + starts[c];
			size_t l = ends[c] - starts[c];
			if (l >= 2 && a[0] == '"')
				cols[n_cols++] = xasprintf("%.*s", (int)(l - 2), a + 1); /* names with '"' fall back below */
			else
				cols[n_cols++] = xasprintf("%.*s", (int)l, a);
		}
	}
	if (sqlite3_prepare_v2(db, "SELECT name, pk, type, hidden FROM pragma_table_xinfo(?1) ORDER BY cid", -1, &st,
			       NULL) != SQLITE_OK) {
		free(name);
		goto free_cols;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	free(name);
	int pk_pos[64], n_pk = 0, ipk = -1, stored = 0;
	char *stored_names[256];
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *cn = (const char *)sqlite3_column_text(st, 0);
		int pk = sqlite3_column_int(st, 1), hidden = sqlite3_column_int(st, 3);
		const char *type = (const char *)sqlite3_column_text(st, 2);
		if (hidden || stored >= 256)
			continue;
		stored_names[stored] = xstrdup(cn);
		if (pk > 0 && pk <= 64) {
			pk_pos[pk - 1] = stored;
			if (pk > n_pk)
				n_pk = pk;
			if (type && !sqlite3_stricmp(type, "INTEGER"))
				ipk = stored;
		}
		stored++;
	}
	sqlite3_finalize(st);
	st = NULL;
	/* Where a stored column's value sits in the line. */
	int found = 1;
	tb->n_key = 0;
	if (!wr) {
		if (r->cols && n_cols > 0 && !sqlite3_stricmp(cols[0], "rowid")) {
			tb->key[tb->n_key++] = 0;
		} else if (n_pk == 1 && ipk >= 0) {
			int at = ipk;
			for (int c = 0; r->cols && c < n_cols; c++)
				at = !strcmp(cols[c], stored_names[ipk]) ? c : at;
			tb->key[tb->n_key++] = at;
		} else {
			found = 0;
		}
	} else {
		for (int k = 0; k < n_pk && found; k++) {
			int at = pk_pos[k];
			if (r->cols) {
				at = -1;
				for (int c = 0; c < n_cols; c++)
					if (!strcmp(cols[c], stored_names[pk_pos[k]]))
						at = c;
			}
			if (at < 0)
				found = 0;
			else
				tb->key[tb->n_key++] = at;
		}
	}
	for (int c = 0; c < stored; c++)
		free(stored_names[c]);
	if (found && tb->n_key > 0)
		rc = 0;
free_cols:
	for (int c = 0; c < n_cols; c++)
		free(cols[c]);
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(path);
	buf_free(&schema);
	return rc;
}

static int ts_file(void *arg, const char *path, int in_old, int in_new)
{
	struct text_stat *s = arg;
	(void)in_old, (void)in_new;
	s->cur = NULL;
	/* Sequence values are no schema object (compare skips sqlite_*). */
	if (!strcmp(path, "2-sequence.sql"))
		return 0;
	/* Only rows files: any other changed file is a schema change. */
	size_t l = strlen(path);
	static const char rows[] = "/1-rows.sql";
	if (strncmp(path, "1-table/", 8) || l <= 8 + sizeof(rows) - 1 ||
	    strcmp(path + l - (sizeof(rows) - 1), rows))
		return ENGINE_STAT_FALLBACK;
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->t = realloc(s->t, s->cap * sizeof(*s->t));
	}
	struct stat_table *tb = &s->t[s->n++];
	memset(tb, 0, sizeof(*tb));
	tb->dir = xasprintf("%.*s", (int)(l - (sizeof(rows) - 1) + 1), path);
	tb->n_key = -1; /* found with the first line */
	s->cur = tb;
	return 0;
}

static int ts_line(void *arg, const char *path, char origin, const char *text, size_t len)
{
	struct text_stat *s = arg;
	struct stat_table *tb = s->cur;
	(void)path;
	if (!tb)
		return 0; /* 2-sequence.sql */
	struct row_parts r = {BUF_INIT, NULL, NULL, 0, 0};
	int rc = ENGINE_STAT_FALLBACK;
	if (parse_row(text, len, &r) < 0)
		goto out;
	if (!tb->name)
		tb->name = xstrdup(buf_cstr(&r.name));
	else if (strcmp(tb->name, buf_cstr(&r.name)))
		goto out;
	if (tb->n_key < 0 && table_key(s, tb, &r) != 0)
		goto out;
	size_t starts[256], ends[256];
	int k = split_values(r.vals, r.vals_len, starts, ends, 256);
	if (k < 0 || k > 256)
		goto out;
	struct buf key = BUF_INIT;
	for (int i = 0; i < tb->n_key; i++) {
		int at = tb->key[i];
		if (at >= k) {
			buf_free(&key);
			goto out;
		}
		if (i)
			buf_add(&key, ",", 1);
		buf_add(&key, r.vals + starts[at], ends[at] - starts[at]);
	}
	int side = origin == '+';
	if (tb->n[side] == tb->cap[side]) {
		tb->cap[side] = tb->cap[side] ? 2 * tb->cap[side] : 16;
		tb->rows[side] = realloc(tb->rows[side], tb->cap[side] * sizeof(*tb->rows[side]));
	}
	tb->rows[side][tb->n[side]].key = xstrdup(buf_cstr(&key));
	tb->rows[side][tb->n[side]].text = xasprintf("%.*s", (int)len, text);
	tb->n[side]++;
	buf_free(&key);
	rc = 0;
out:
	buf_free(&r.name);
	return rc;
}

static int cmp_row(const void *a, const void *b)
{
	const struct row_line *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : strcmp(x->text, y->text);
}

static int cmp_table(const void *a, const void *b)
{
	return strcmp(((const struct stat_table *)a)->name, ((const struct stat_table *)b)->name);
}

static int ts_end(void *arg, cJSON *out)
{
	struct text_stat *s = arg;
	size_t named = 0;
	for (size_t i = 0; i < s->n; i++)
		if (s->t[i].name)
			s->t[named++] = s->t[i]; /* tables whose files changed but no row line */
	for (size_t i = named; i < s->n; i++) {
		free(s->t[i].dir);
		free(s->t[i].rows[0]);
		free(s->t[i].rows[1]);
	}
	s->n = named;
	if (s->n)
		qsort(s->t, s->n, sizeof(*s->t), cmp_table);
	cJSON *tables = cJSON_AddArrayToObject(out, "tables");
	cJSON_AddArrayToObject(out, "schema");
	for (size_t i = 0; i < s->n; i++) {
		struct stat_table *tb = &s->t[i];
		for (int side = 0; side < 2; side++)
			if (tb->n[side])
				qsort(tb->rows[side], tb->n[side], sizeof(*tb->rows[side]), cmp_row);
		/* Merge by key: on both sides a change (unless the very same
		 * line: a row the diff showed as moved), else added or removed. */
		size_t a = 0, b = 0;
		double added = 0, removed = 0, changed = 0;
		while (a < tb->n[0] || b < tb->n[1]) {
			int c = a == tb->n[0] ? 1 : b == tb->n[1] ? -1 : strcmp(tb->rows[0][a].key, tb->rows[1][b].key);
			if (c < 0)
				removed++, a++;
			else if (c > 0)
				added++, b++;
			else {
				if (strcmp(tb->rows[0][a].text, tb->rows[1][b].text))
					changed++;
				a++, b++;
			}
		}
		if (!added && !removed && !changed)
			continue;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", tb->name);
		cJSON_AddNumberToObject(o, "added", added);
		cJSON_AddNumberToObject(o, "removed", removed);
		cJSON_AddNumberToObject(o, "changed", changed);
		cJSON_AddItemToArray(tables, o);
	}
	return 0;
}

const struct engine_text_stat sqlite_text_stat = {
	.suffix = ".sql",
	.begin = ts_begin,
	.file = ts_file,
	.line = ts_line,
	.end = ts_end,
	.free = ts_free,
};
