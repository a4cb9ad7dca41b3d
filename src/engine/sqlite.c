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
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dbgit/engine.h"
#include "sqlite_internal.h"
#include "sqlite_value.h"

#define SQL_PREFIX "1-table/"
#define BINARY_FILE "binary/db.sqlite"
#define BINARY_DIR "binary/"

struct table {
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

struct dumper {
	sqlite3 *db;
	const char *path;
	sqlite3_stmt *real_check; /* SELECT CAST(?1 AS REAL) */
	struct buf line;
	struct buf framed; /* one row's checksum input */
	int enc;           /* SQLITE_UTF8, SQLITE_UTF16LE or SQLITE_UTF16BE */
	int wal;           /* the source is in WAL mode */
};

static int sqlite_fail(sqlite3 *db, int rc, const char *path, const char *what)
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

/* Table names become directory names: keep [A-Za-z0-9_.-], %XX the rest. */
static char *sanitize(const char *name)
{
	struct buf b = BUF_INIT;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (isalnum(*p) || *p == '_' || (*p == '.' && p != (const unsigned char *)name) || *p == '-')
			buf_add(&b, p, 1);
		else
			buf_printf(&b, "%%%02X", *p);
	}
	return b.data ? b.data : xstrdup("%");
}

static void table_free(struct table *t)
{
	free(t->name), free(t->sql), free(t->dir), free(t->rowid_name);
	free(t->select), free(t->insert_head);
}

static int excluded(const struct job_cfg *job, const char *name)
{
	for (size_t i = 0; i < job->n_exclude; i++)
		if (!sqlite3_stricmp(job->exclude_tables[i], name))
			return 1;
	return 0;
}

/* exclude_table_data: the table is dumped without its rows. */
static int data_excluded(const struct job_cfg *job, const char *name)
{
	for (size_t i = 0; i < job->n_exclude_data; i++)
		if (!sqlite3_stricmp(job->exclude_table_data[i], name))
			return 1;
	return 0;
}

/* Works out how to read and write one table's rows. */
static int table_prepare(sqlite3 *db, const char *path, struct table *t)
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
	return strcmp(((const struct table *)a)->dir, ((const struct table *)b)->dir);
}

/* Lists the tables to dump, in path order. */
static int list_tables(sqlite3 *db, const char *path, const struct job_cfg *job,
		       struct table **out, size_t *n)
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
	struct table *list = calloc(cap, sizeof(*list));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *sql = (const char *)sqlite3_column_text(st, 1);
		if (excluded(job, name))
			continue;
		if (len == cap) {
			cap *= 2;
			list = realloc(list, cap * sizeof(*list));
		}
		struct table *t = &list[len++];
		memset(t, 0, sizeof(*t));
		t->name = xstrdup(name);
		t->sql = xstrdup(sql ? sql : "");
		t->dir = sanitize(name);
		t->is_virtual = !sqlite3_strnicmp(t->sql, "CREATE VIRTUAL TABLE", 20);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		for (size_t i = 0; i < len; i++)
			table_free(&list[i]);
		free(list);
		return sqlite_fail(db, rc, path, "reading the schema");
	}
	/* Path order (by directory name), which is also the order the files
	 * are written in. */
	qsort(list, len, sizeof(*list), cmp_dir);
	for (size_t i = 0; i < len; i++)
		if (!list[i].is_virtual && table_prepare(db, path, &list[i]) < 0) {
			for (size_t j = 0; j < len; j++)
				table_free(&list[j]);
			free(list);
			return ERR_GENERIC;
		}
	*out = list;
	*n = len;
	return 0;
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

static int check_collations(sqlite3 *db, const char *path, const struct table *tables, size_t n)
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
		const struct table *t = &tables[i];
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

static void free_tables(struct table *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		table_free(&list[i]);
	free(list);
}

/* Checksum framing of one value, appended to out: a type tag, then for
 * numbers 8 big-endian bytes, for text and blobs an 8-byte length and the
 * bytes. A row's framing is hashed in one call. */
static void frame_value(struct buf *out, struct sha256 *h, sqlite3_stmt *st, int i)
{
	unsigned char tag = (unsigned char)sqlite3_column_type(st, i), be[8];
	buf_add(out, &tag, 1);
	uint64_t u = 0;
	const void *p = NULL;
	switch (tag) {
	case SQLITE_INTEGER:
		u = (uint64_t)sqlite3_column_int64(st, i);
		break;
	case SQLITE_FLOAT: {
		double d = sqlite3_column_double(st, i);
		memcpy(&u, &d, 8);
		break;
	}
	case SQLITE_NULL:
		return;
	default:
		p = tag == SQLITE_BLOB ? sqlite3_column_blob(st, i) : (const void *)sqlite3_column_text(st, i);
		u = (uint64_t)sqlite3_column_bytes(st, i);
	}
	for (int k = 0; k < 8; k++)
		be[k] = (unsigned char)(u >> (56 - 8 * k));
	buf_add(out, be, 8);
	if (p && u > SQLITE_BIG_VALUE) {
		/* Hashed where it lies, not copied: the same bytes in the same
		 * order reach the hash either way. */
		sha256_update(h, out->data, out->len);
		buf_clear(out);
		sha256_update(h, p, (size_t)u);
	} else if (p) {
		buf_add(out, p, (size_t)u);
	}
}

/* Reads a table's rows in order; writes INSERTs to sink if given; returns
 * the row count and checksum. */
static int walk_rows(struct dumper *d, const struct table *t, struct dump_sink *sink,
		     int64_t *rows, char sum[65])
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(d->db, t->select, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqlite_fail(d->db, rc, d->path, t->name);
	struct sha256 *h = sha256_new();
	*rows = 0;
	/* Large values stream to the sink. */
	struct sqlite_fmt fmt = {.real_check = d->real_check, .enc = d->enc, .sink = sink};
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		(*rows)++;
		/* The line first: the formatter must see TEXT in the database's
		 * encoding, before the checksum's UTF-8 read converts it in
		 * place (not exactly, for every UTF-16 text). */
		if (sink) {
			buf_clear(&d->line);
			buf_puts(&d->line, t->insert_head);
			for (int i = 0; i < t->ncols; i++) {
				if (i)
					buf_puts(&d->line, ",");
				sqlite_fmt_value(&fmt, &d->line, sqlite3_column_value(st, i));
			}
			buf_puts(&d->line, ");\n");
		}
		buf_clear(&d->framed);
		for (int i = 0; i < t->ncols; i++)
			frame_value(&d->framed, h, st, i);
		sha256_update(h, d->framed.data, d->framed.len);
		if (!sink)
			continue;
		if (fmt.sink_rc < 0 || sink->write(sink, d->line.data, d->line.len) < 0) {
			rc = ERR_GENERIC;
			break;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		sha256_free(h);
		return rc == ERR_GENERIC ? rc : sqlite_fail(d->db, rc, d->path, t->name);
	}
	sha256_final_hex(h, sum);
	return 0;
}

static void add_summary(cJSON *tables, const char *name, int64_t rows, const char *sum)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", name);
	cJSON_AddNumberToObject(o, "rows", (double)rows);
	cJSON_AddStringToObject(o, "checksum", sum);
	cJSON_AddItemToArray(tables, o);
}

static int has_sequence(sqlite3 *db)
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
static struct table sequence_table(const struct job_cfg *job)
{
	struct table t;
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
static int keeps_autoincrement(const struct table *tables, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!tables[i].is_virtual && sqlite3_strlike("%AUTOINCREMENT%", tables[i].sql, 0) == 0)
			return 1;
	return 0;
}

static int pragma_int(sqlite3 *db, const char *pragma, int64_t *out)
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

static int fk_violations(sqlite3 *db, int64_t *out)
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
static int schema_digest(sqlite3 *db, const char *path, const struct job_cfg *job, cJSON *info)
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
		if (tbl && excluded(job, tbl))
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

static int write_text(struct dump_sink *sink, const char *path, const char *text)
{
	if (sink->open(sink, path, CHUNK_LINES) < 0 || sink->write(sink, text, strlen(text)) < 0 ||
	    sink->close(sink) < 0)
		return ERR_GENERIC;
	return 0;
}

/* One schema statement and its terminator. SQLite keeps a trailing
 * comment in the stored text of a view or index ("... -- note"), which
 * would swallow a ';' written after it: then the ';' goes on a line of its
 * own. */
static void add_statement(struct buf *b, const char *sql)
{
	size_t start = b->len;
	buf_printf(b, "%s;", sql);
	if (!sqlite3_complete(b->data + start)) {
		b->len = start;
		buf_printf(b, "%s\n;", sql);
	}
	buf_puts(b, "\n");
}

/* Does sql name the table, as a whole word (any case)? A warning's
 * heuristic, not a parser. */
static int mentions(const char *sql, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = sql; n && *p; p++) {
		if (sqlite3_strnicmp(p, name, (int)n))
			continue;
		int before = p > sql && (isalnum((unsigned char)p[-1]) || p[-1] == '_');
		int after = isalnum((unsigned char)p[n]) || p[n] == '_';
		if (!before && !after)
			return 1;
	}
	return 0;
}

/* The SQL dump proper; the read transaction is already open. */
static int dump_sql(struct dumper *d, const struct job_cfg *job, struct table *tables, size_t n,
		    struct dump_sink *sink, cJSON *summaries)
{
	int rc = 0;
	int64_t page_size = 0, auto_vacuum = 0, user_version = 0, app_id = 0;
	pragma_int(d->db, "PRAGMA page_size", &page_size);
	pragma_int(d->db, "PRAGMA auto_vacuum", &auto_vacuum);
	pragma_int(d->db, "PRAGMA user_version", &user_version);
	pragma_int(d->db, "PRAGMA application_id", &app_id);
	struct buf b = BUF_INIT;
	/* Like page_size, the encoding can only be set on a new database,
	 * before the first table. */
	if (d->enc != SQLITE_UTF8)
		buf_printf(&b, "PRAGMA encoding='%s';\n", d->enc == SQLITE_UTF16LE ? "UTF-16le" : "UTF-16be");
	buf_printf(&b, "PRAGMA page_size=%lld;\nPRAGMA auto_vacuum=%lld;\nPRAGMA foreign_keys=OFF;\n"
		       "BEGIN TRANSACTION;\n",
		   (long long)page_size, (long long)auto_vacuum);
	if ((rc = write_text(sink, "0-begin.sql", b.data)) < 0)
		goto out;
	int any_virtual = 0;
	for (size_t i = 0; i < n; i++) {
		struct table *t = &tables[i];
		char *path = xasprintf(SQL_PREFIX "%s/0-schema.sql", t->dir);
		buf_clear(&b);
		if (t->is_virtual) {
			/* As .dump does: the virtual table's schema row goes in
			 * directly; its shadow tables are dumped as tables. */
			any_virtual = 1;
			buf_puts(&b, "PRAGMA writable_schema=ON;\nINSERT INTO sqlite_schema(type,name,tbl_name,rootpage,sql) VALUES('table',");
			sqlite_fmt_quoted(&b, t->name);
			buf_puts(&b, ",");
			sqlite_fmt_quoted(&b, t->name);
			buf_puts(&b, ",0,");
			sqlite_fmt_quoted(&b, t->sql);
			buf_puts(&b, ");\n");
		} else {
			add_statement(&b, t->sql);
		}
		rc = write_text(sink, path, b.data);
		free(path);
		if (rc < 0)
			goto out;
		if (t->is_virtual)
			continue;
		if (data_excluded(job, t->name)) {
			/* Restored empty: that is what the snapshot must show. */
			char empty[65];
			sha256_final_hex(sha256_new(), empty);
			add_summary(summaries, t->name, 0, empty);
			continue;
		}
		path = xasprintf(SQL_PREFIX "%s/1-rows.sql", t->dir);
		rc = sink->open(sink, path, CHUNK_LINES);
		free(path);
		int64_t rows;
		char sum[65];
		if (rc < 0 || (rc = walk_rows(d, t, sink, &rows, sum)) < 0 || (rc = sink->close(sink)) < 0)
			goto out;
		add_summary(summaries, t->name, rows, sum);
	}
	if (has_sequence(d->db) && keeps_autoincrement(tables, n)) {
		struct table seq = sequence_table(job);
		int64_t rows;
		char sum[65];
		rc = sink->open(sink, "2-sequence.sql", CHUNK_LINES);
		if (rc == 0)
			rc = sink->write(sink, "DELETE FROM sqlite_sequence;\n", 29);
		if (rc == 0)
			rc = walk_rows(d, &seq, sink, &rows, sum);
		if (rc == 0)
			rc = sink->close(sink);
		if (rc == 0)
			add_summary(summaries, "sqlite_sequence", rows, sum);
		table_free(&seq);
		if (rc < 0)
			goto out;
	}
	/* Indexes, views and triggers, in creation order, after every table. */
	sqlite3_stmt *st;
	int src = sqlite3_prepare_v2(d->db,
				     "SELECT name, tbl_name, sql FROM sqlite_schema WHERE type IN "
				     "('index','view','trigger') AND sql IS NOT NULL ORDER BY rowid",
				     -1, &st, NULL);
	if (src != SQLITE_OK) {
		rc = sqlite_fail(d->db, src, d->path, "reading the schema");
		goto out;
	}
	if ((rc = sink->open(sink, "3-schema.sql", CHUNK_LINES)) < 0) {
		sqlite3_finalize(st);
		goto out;
	}
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if (excluded(job, (const char *)sqlite3_column_text(st, 1)))
			continue;
		const char *obj_sql = (const char *)sqlite3_column_text(st, 2);
		for (size_t k = 0; k < job->n_exclude; k++)
			if (mentions(obj_sql, job->exclude_tables[k]))
				log_warn("job '%s': %s refers to excluded table '%s' and will not work after a restore",
					 job->name, (const char *)sqlite3_column_text(st, 0), job->exclude_tables[k]);
		buf_clear(&b);
		add_statement(&b, obj_sql);
		if ((rc = sink->write(sink, b.data, b.len)) < 0)
			break;
	}
	sqlite3_finalize(st);
	if (rc == 0 && src != SQLITE_DONE)
		rc = sqlite_fail(d->db, src, d->path, "reading the schema");
	if (rc < 0 || (rc = sink->close(sink)) < 0)
		goto out;
	buf_clear(&b);
	if (any_virtual)
		buf_puts(&b, "PRAGMA writable_schema=OFF;\n");
	buf_printf(&b, "PRAGMA user_version=%lld;\nPRAGMA application_id=%lld;\nCOMMIT;\n",
		   (long long)user_version, (long long)app_id);
	/* A WAL database comes back in WAL mode (the application may rely
	 * on readers not blocking the writer). It is recorded in the
	 * database file, and only outside a transaction can it be set. */
	if (d->wal)
		buf_puts(&b, "PRAGMA journal_mode=WAL;\n");
	rc = write_text(sink, "4-end.sql", b.data);
out:
	buf_free(&b);
	return rc;
}

/* Copies the database page by page into a temp file through the backup
 * API (inside the caller's read transaction), then streams it out. */
static int dump_binary(struct dumper *d, struct dump_sink *sink)
{
	char *dir = NULL;
	if (fs_mkdtemp(&dir, "copy") < 0)
		return ERR_GENERIC;
	char *tmp = xasprintf("%s/db.sqlite", dir);
	sqlite3 *out = NULL;
	int rc = sqlite3_open_v2(tmp, &out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_backup *bk = sqlite3_backup_init(out, "main", d->db, "main");
		if (!bk) {
			rc = sqlite3_errcode(out);
		} else {
			rc = sqlite3_backup_step(bk, -1);
			sqlite3_backup_finish(bk);
			rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
		}
	}
	if (rc != SQLITE_OK)
		rc = sqlite_fail(out, rc, d->path, "online backup");
	sqlite3_close(out);
	if (rc == 0) {
		int fd = open(tmp, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			rc = err_set(ERR_GENERIC, "%s: %s", tmp, strerror(errno));
		} else {
			rc = sink->open(sink, BINARY_FILE, CHUNK_FIXED);
			char *chunk = malloc(1 << 16);
			ssize_t n;
			while (rc == 0 && (n = read(fd, chunk, 1 << 16)) > 0)
				rc = sink->write(sink, chunk, (size_t)n);
			if (rc == 0)
				rc = sink->close(sink);
			free(chunk);
			close(fd);
		}
	}
	fs_rmtree(dir);
	free(tmp);
	free(dir);
	return rc;
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

static int open_source(const struct job_cfg *job, sqlite3 **out)
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

/* The first read of a WAL database failed with "attempt to write a readonly
 * database" or "unable to open database file". SQLite (3.22+) reads a WAL
 * database read-only when its -shm and -wal files exist and are readable
 * (as while the application has it open); otherwise it must create the
 * -shm in the database's folder, which a read-only backup user cannot.
 * Says which of these is missing; returns 0 if that is not the cause (the
 * caller reports SQLite's error). */
static int readonly_wal_error(const char *path, int src)
{
	unsigned char hdr[20];
	FILE *f = fopen(path, "rb");
	size_t got = f ? fread(hdr, 1, sizeof(hdr), f) : 0;
	if (f)
		fclose(f);
	/* Bytes 18 and 19 of the header, the read and write versions: 2 is WAL. */
	if (got < sizeof(hdr) || hdr[18] != 2)
		return 0;
	char *shm = xasprintf("%s-shm", path);
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		strcpy(dir, ".");
	else
		slash[slash == dir] = '\0';
	int rc = 0;
	if (fs_exists(shm) && access(shm, R_OK) != 0)
		rc = err_set(ERR_GENERIC,
			     "database %s is in WAL mode and this user cannot read %s: give it read access to %s and %s-wal",
			     path, shm, shm, path);
	else if ((src & 0xff) == SQLITE_READONLY)
		rc = err_set(ERR_GENERIC,
			     "database %s is in WAL mode and this user cannot create %s: give it write access to folder %s "
			     "(SQLite keeps the -shm and -wal files there), or back up while the application has the "
			     "database open",
			     path, shm, dir);
	free(shm);
	free(dir);
	return rc;
}

static int sqlite_dump(const struct job_cfg *job, struct dump_sink *sink, cJSON *info)
{
	struct dumper d = {0};
	d.path = job->path;
	struct table *tables = NULL;
	size_t n = 0;
	int rc = open_source(job, &d.db);
	if (rc < 0)
		return rc;
	int src = sqlite3_exec(d.db, "BEGIN; SELECT count(*) FROM sqlite_schema;", NULL, NULL, NULL);
	if ((src & 0xff) == SQLITE_NOTADB) {
		/* The first read of the source: the place to say it is the wrong file. */
		rc = err_set(ERR_GENERIC, "database %s is not a SQLite database (file is not a database): wrong path?",
			     d.path);
		goto out;
	}
	if (((src & 0xff) == SQLITE_READONLY || (src & 0xff) == SQLITE_CANTOPEN) &&
	    (rc = readonly_wal_error(d.path, src)) < 0)
		goto out;
	if (src != SQLITE_OK) {
		rc = sqlite_fail(d.db, src, d.path, "starting a read transaction");
		goto out;
	}
	d.enc = SQLITE_UTF8;
	sqlite3_stmt *es;
	if (sqlite3_prepare_v2(d.db, "PRAGMA encoding", -1, &es, NULL) == SQLITE_OK) {
		if (sqlite3_step(es) == SQLITE_ROW) {
			const char *e = (const char *)sqlite3_column_text(es, 0);
			if (e && !sqlite3_stricmp(e, "UTF-16le"))
				d.enc = SQLITE_UTF16LE;
			else if (e && !sqlite3_stricmp(e, "UTF-16be"))
				d.enc = SQLITE_UTF16BE;
		}
		sqlite3_finalize(es);
	}
	/* Recorded in the manifest, and kept by an SQL restore (4-end.sql):
	 * the binary copy keeps it in its header anyway. */
	if (sqlite3_prepare_v2(d.db, "PRAGMA journal_mode", -1, &es, NULL) == SQLITE_OK) {
		if (sqlite3_step(es) == SQLITE_ROW) {
			const char *m = (const char *)sqlite3_column_text(es, 0);
			d.wal = m && !sqlite3_stricmp(m, "wal");
			if (m)
				cJSON_AddStringToObject(info, "journal_mode", m);
		}
		sqlite3_finalize(es);
	}
	src = sqlite3_prepare_v2(d.db, "SELECT CAST(?1 AS REAL)", -1, &d.real_check, NULL);
	if (src != SQLITE_OK) {
		rc = sqlite_fail(d.db, src, d.path, "prepare");
		goto out;
	}
	for (size_t i = 0; i < job->n_exclude + job->n_exclude_data; i++) {
		sqlite3_stmt *st;
		int data = i >= job->n_exclude;
		const char *name =
		    data ? job->exclude_table_data[i - job->n_exclude] : job->exclude_tables[i];
		if (sqlite3_prepare_v2(d.db, "SELECT 1 FROM sqlite_schema WHERE type='table' AND name=?1 COLLATE NOCASE",
				       -1, &st, NULL) == SQLITE_OK) {
			sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
			if (sqlite3_step(st) != SQLITE_ROW)
				log_warn("job '%s': %s names '%s', which %s does not have", job->name,
					 data ? "exclude_table_data" : "exclude_tables", name, job->path);
			sqlite3_finalize(st);
		}
	}
	if ((rc = list_tables(d.db, d.path, job, &tables, &n)) < 0 ||
	    (rc = check_collations(d.db, d.path, tables, n)) < 0)
		goto out;
	cJSON *formats = cJSON_AddArrayToObject(info, "formats");
	cJSON *summaries = cJSON_AddArrayToObject(info, "tables");
	int want_sql = strcmp(job->format, "binary") != 0;
	int want_bin = strcmp(job->format, "sql") != 0;
	/* SQL first, then the binary copy: files are written in the order of
	 * their paths ("0-begin.sql" ... "4-end.sql" < "binary/"), which lets
	 * the cycle restore them for verification while they are written. */
	if (want_sql) {
		if ((rc = dump_sql(&d, job, tables, n, sink, summaries)) < 0)
			goto out;
		cJSON_AddItemToArray(formats, cJSON_CreateString("sql"));
	} else {
		/* Binary only: the summaries still come from this transaction. */
		for (size_t i = 0; i < n; i++) {
			int64_t rows;
			char sum[65];
			if (tables[i].is_virtual)
				continue;
			if ((rc = walk_rows(&d, &tables[i], NULL, &rows, sum)) < 0)
				goto out;
			add_summary(summaries, tables[i].name, rows, sum);
		}
		if (has_sequence(d.db)) {
			struct table seq = sequence_table(job);
			int64_t rows;
			char sum[65];
			rc = walk_rows(&d, &seq, NULL, &rows, sum);
			if (rc == 0)
				add_summary(summaries, "sqlite_sequence", rows, sum);
			table_free(&seq);
			if (rc < 0)
				goto out;
		}
	}
	if (want_bin) {
		if ((rc = dump_binary(&d, sink)) < 0)
			goto out;
		cJSON_AddItemToArray(formats, cJSON_CreateString("binary"));
	}
	int64_t fk = 0, uv = 0, aid = 0;
	src = fk_violations(d.db, &fk);
	if (src != SQLITE_OK) {
		rc = sqlite_fail(d.db, src, d.path, "PRAGMA foreign_key_check");
		goto out;
	}
	pragma_int(d.db, "PRAGMA user_version", &uv);
	pragma_int(d.db, "PRAGMA application_id", &aid);
	/* Excluded tables can leave references dangling in the snapshot that
	 * the source does not have: the count is then not comparable. */
	if (!job->n_exclude && !job->n_exclude_data)
		cJSON_AddNumberToObject(info, "foreign_key_violations", (double)fk);
	/* What the snapshot holds without rows, for whoever restores it. */
	if (job->n_exclude_data) {
		cJSON *names = cJSON_AddArrayToObject(info, "exclude_table_data");
		for (size_t i = 0; i < job->n_exclude_data; i++)
			cJSON_AddItemToArray(names, cJSON_CreateString(job->exclude_table_data[i]));
	}
	cJSON_AddNumberToObject(info, "user_version", (double)uv);
	cJSON_AddNumberToObject(info, "application_id", (double)aid);
	cJSON_AddStringToObject(info, "sqlite_version", sqlite3_libversion());
	rc = schema_digest(d.db, d.path, job, info);
out:
	free_tables(tables, n);
	buf_free(&d.line);
	buf_free(&d.framed);
	sqlite3_finalize(d.real_check);
	sqlite3_exec(d.db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(d.db);
	return rc;
}

static int only_wanted(const struct job_cfg *job, const char *name)
{
	for (size_t i = 0; i < job->n_only; i++)
		if (!sqlite3_stricmp(job->only_tables[i], name))
			return 1;
	return 0;
}

/* restore --table: the begin, end, sequence and schema files, and the
 * folders of the tables asked for; no other table's rows, no binary copy. */
static int sqlite_restore_wants(const struct job_cfg *job, const char *path)
{
	if (!job->n_only)
		return 1;
	if (!strncmp(path, BINARY_DIR, strlen(BINARY_DIR)))
		return 0;
	if (strncmp(path, SQL_PREFIX, strlen(SQL_PREFIX)))
		return 1;
	const char *dir = path + strlen(SQL_PREFIX);
	size_t len = strcspn(dir, "/");
	for (size_t i = 0; i < job->n_only; i++) {
		char *d = sanitize(job->only_tables[i]);
		int match = strlen(d) == len && !strncmp(d, dir, len);
		free(d);
		if (match)
			return 1;
	}
	return 0;
}

/* restore --table, once the SQL ran: what belongs to tables not restored
 * goes - views (they are not tables), indexes and triggers of other
 * tables that 3-schema could create anyway, sqlite_sequence rows. Names
 * come from the restored schema and are quoted. */
static int prune_to_only(sqlite3 *db, const struct job_cfg *job, const char *target)
{
	sqlite3_stmt *st;
	struct buf sql = BUF_INIT;
	int rc = sqlite3_prepare_v2(db,
				    "SELECT type, name, tbl_name FROM sqlite_schema WHERE type IN "
				    "('index','trigger','view') AND sql IS NOT NULL",
				    -1, &st, NULL);
	while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(st, 0);
		const char *tbl = (const char *)sqlite3_column_text(st, 2);
		if (strcmp(type, "view") && tbl && only_wanted(job, tbl))
			continue;
		char *q = sqlite_quote_ident((const char *)sqlite3_column_text(st, 1));
		buf_printf(&sql, "DROP %s IF EXISTS %s;\n",
			   !strcmp(type, "view")    ? "VIEW"
			   : !strcmp(type, "index") ? "INDEX"
						    : "TRIGGER",
			   q);
		free(q);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_finalize(st);
	if (rc == SQLITE_OK && has_sequence(db)) {
		buf_puts(&sql, "DELETE FROM sqlite_sequence WHERE name COLLATE NOCASE NOT IN (");
		for (size_t i = 0; i < job->n_only; i++) {
			char *lit = sqlite3_mprintf("%s%Q", i ? "," : "", job->only_tables[i]);
			buf_puts(&sql, lit);
			sqlite3_free(lit);
		}
		buf_puts(&sql, ");\n");
	}
	if (rc == SQLITE_OK && sql.len)
		rc = sqlite3_exec(db, buf_cstr(&sql), NULL, NULL, NULL);
	buf_free(&sql);
	return rc == SQLITE_OK ? 0 : sqlite_fail(db, rc, target, "leaving out the other tables");
}

/* The snapshot's SQL is hostile text: it runs through sqlite_exec.c. */
static int restore_sql(const struct job_cfg *job, struct dump_source *src, const char *target)
{
	struct sqlite_exec x;
	int rc = sqlite_exec_open(&x, job->name, target);
	if (rc < 0)
		return rc;
	x.only = job->n_only ? job->only_tables : NULL;
	x.n_only = job->n_only;
	char *chunk = malloc(1 << 16);
	const char *path;
	int files = 0;
	while ((rc = src->next(src, &path)) == 1) {
		size_t plen = strlen(path);
		if (plen < 4 || strcmp(path + plen - 4, ".sql") || !sqlite_restore_wants(job, path))
			continue;
		/* Some tables only: none of them may use AUTOINCREMENT. */
		if (x.only && !strncmp(path, "2-sequence", 10) && !has_sequence(x.db))
			continue;
		files++;
		ssize_t n;
		while ((n = src->read(src, chunk, 1 << 16)) > 0)
			if ((rc = sqlite_exec_feed(&x, path, chunk, (size_t)n)) < 0)
				goto out;
		if (n < 0) {
			rc = ERR_VERIFY;
			goto out;
		}
	}
	if (rc < 0)
		goto out;
	rc = 0;
	if (files == 0)
		rc = err_set(ERR_VERIFY, "the snapshot of '%s' has no SQL files", job->name);
	else
		rc = sqlite_exec_finish(&x);
	if (rc == 0 && x.only) {
		/* Trusted statements of dbgit's own, past the snapshot's. */
		sqlite3_set_authorizer(x.db, NULL, NULL);
		rc = prune_to_only(x.db, job, target);
	}
out:
	free(chunk);
	if (sqlite_exec_close(&x) < 0 && rc == 0)
		rc = ERR_VERIFY;
	return rc;
}

static int restore_binary(const struct job_cfg *job, struct dump_source *src, const char *target)
{
	if (job->n_only)
		return err_set(ERR_USAGE, "restoring some tables of '%s' needs the snapshot's SQL copy",
			       job->name);
	int files;
	int rc = engine_concat_files(src, BINARY_DIR, "", target, &files);
	if (rc == 0 && files == 0)
		rc = err_set(ERR_VERIFY, "the snapshot of '%s' has no binary copy", job->name);
	return rc;
}

static int sqlite_restore(const struct job_cfg *job, struct dump_source *src, const char *format,
			  const char *target)
{
	if (!strcmp(format, "binary"))
		return restore_binary(job, src, target);
	return restore_sql(job, src, target);
}

static int sqlite_inspect(const struct job_cfg *job, const char *target, cJSON *info,
			  struct buf *problems)
{
	struct dumper d = {0};
	d.path = target;
	struct table *tables = NULL;
	size_t n = 0;
	/* Read-write: a binary copy of a WAL database needs its -shm. */
	int rc = sqlite_open_untrusted(target, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, 0, &d.db);
	if (rc != SQLITE_OK) {
		sqlite_fail(d.db, rc, target, "open");
		sqlite3_close(d.db);
		return ERR_VERIFY;
	}
	sqlite3_stmt *st;
	int bad = 0;
	rc = sqlite3_prepare_v2(d.db, "PRAGMA integrity_check", -1, &st, NULL);
	while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		const char *line = (const char *)sqlite3_column_text(st, 0);
		if (line && strcmp(line, "ok")) {
			buf_printf(problems, "integrity_check: %s\n", line);
			bad++;
		}
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_finalize(st);
	if (rc != SQLITE_OK) {
		buf_printf(problems, "integrity_check: %s\n", sqlite3_errmsg(d.db));
		bad++;
		goto out;
	}
	int64_t fk = 0, uv = 0, aid = 0;
	if (fk_violations(d.db, &fk) != SQLITE_OK) {
		buf_printf(problems, "foreign_key_check: %s\n", sqlite3_errmsg(d.db));
		bad++;
	}
	pragma_int(d.db, "PRAGMA user_version", &uv);
	pragma_int(d.db, "PRAGMA application_id", &aid);
	cJSON_AddNumberToObject(info, "foreign_key_violations", (double)fk);
	cJSON_AddNumberToObject(info, "user_version", (double)uv);
	cJSON_AddNumberToObject(info, "application_id", (double)aid);
	/* The snapshot holds only the tables that were dumped: callers pass
	 * a job without exclusions (today's exclude_tables must not hide a
	 * table an older snapshot holds). */
	if (list_tables(d.db, target, job, &tables, &n) < 0) {
		buf_printf(problems, "%s\n", err_last());
		err_clear();
		bad++;
		goto out;
	}
	cJSON *summaries = cJSON_AddArrayToObject(info, "tables");
	for (size_t i = 0; i < n; i++) {
		int64_t rows;
		char sum[65];
		if (tables[i].is_virtual)
			continue;
		if (walk_rows(&d, &tables[i], NULL, &rows, sum) < 0) {
			buf_printf(problems, "table %s: %s\n", tables[i].name, err_last());
			err_clear();
			bad++;
			continue;
		}
		add_summary(summaries, tables[i].name, rows, sum);
	}
	if (has_sequence(d.db)) {
		struct table seq = sequence_table(job);
		int64_t rows;
		char sum[65];
		if (walk_rows(&d, &seq, NULL, &rows, sum) == 0)
			add_summary(summaries, "sqlite_sequence", rows, sum);
		table_free(&seq);
	}
	if (schema_digest(d.db, target, job, info) < 0) {
		buf_printf(problems, "%s\n", err_last());
		err_clear();
		bad++;
	}
out:
	free_tables(tables, n);
	buf_free(&d.framed);
	sqlite3_close(d.db);
	return bad ? ERR_VERIFY : 0;
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
		if (excluded(job, job->exclude_table_data[i]))
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
	int rc = open_source(job, &db);
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
