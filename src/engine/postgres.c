/*
 * postgres engine: a PostgreSQL database through its client tools (psql,
 * pg_dump) run as child processes (child.c), never linked in.
 *
 * One snapshot: a psql session opens a REPEATABLE READ, READ ONLY
 * transaction and exports its snapshot; pg_dump --snapshot writes the
 * schema from it, and the session itself lists the tables and streams each
 * table's rows with COPY (SELECT ... ORDER BY primary key) TO STDOUT, so
 * schema, rows and the per-table checksums all see the same state.
 *
 * Stable: rows in primary-key order (text keys compared in "C" order, so
 * the source's collation does not matter; a table without a key in the
 * order of its rows' text), session settings fixed (UTF8, UTC, ISO dates,
 * shortest exact floats, hex bytea, empty search_path so that every name
 * is qualified), pg_dump's random \restrict key lines dropped.
 *
 * The layout (byte-wise path order is script order, one script psql runs):
 *   0-begin.sql               session settings
 *   1-schema.sql              pg_dump --section=pre-data (types, functions,
 *                             tables, sequences, views)
 *   2-large-objects.sql       lo_create + lo_put (64 KiB a line) of each large
 *                             object, in oid order; only where there are some
 *   2-table/<name>/rows.sql   COPY "s"."t" (cols) FROM stdin; one row a line
 *   3-sequences.sql           setval of each sequence
 *   4-post-data.sql           pg_dump --section=post-data (indexes,
 *                             constraints, triggers)
 *
 * The checksum of a table is SHA-256 over its COPY text in that order; the
 * schema digest is one entry per table (columns, types, defaults,
 * constraints), index, view, trigger and function, from the catalog.
 *
 * A snapshot's SQL is untrusted: restore runs it through psql after a
 * "\restrict" with a random key, so that no psql meta-command (\!, \o,
 * \copy) in it can run.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "child.h"
#include "dbgit/engine.h"
#include "server.h"

#define END_MARK "\\.dbgit-end\n"
#define TABLE_PREFIX "2-table/"

static const char *const drop_env[] = {"PGPASSWORD=", "PGPASSFILE=", "PGSERVICE=", "PGSERVICEFILE=",
				       "PGOPTIONS=", NULL};

/* The session settings under which rows are read and written. */
static const char session_settings[] =
	"SET client_encoding TO 'UTF8';\n"
	"SET standard_conforming_strings TO on;\n"
	"SET TimeZone TO 'UTC';\n"
	"SET DateStyle TO 'ISO, YMD';\n"
	"SET IntervalStyle TO 'postgres';\n"
	"SET extra_float_digits TO 1;\n"
	"SET bytea_output TO 'hex';\n"
	"SET check_function_bodies TO false;\n"
	"SET client_min_messages TO warning;\n";

/* .pgpass fields escape ':' and '\'. */
static void pgpass_escape(struct buf *b, const char *pw)
{
	for (; *pw; pw++) {
		if (*pw == ':' || *pw == '\\')
			buf_puts(b, "\\");
		buf_add(b, pw, 1);
	}
}

/* The tools' environment: where the server is, who connects, and the
 * password through a 0600 PGPASSFILE - never argv. */
static int pg_env(const struct job_cfg *job, struct child_env *ce)
{
	if (child_env_new(ce, job->name, drop_env) < 0)
		return ERR_GENERIC;
	if (job->socket)
		child_env_set(ce, "PGHOST", job->socket);
	else if (job->host)
		child_env_set(ce, "PGHOST", job->host);
	if (job->port > 0) {
		char port[16];
		snprintf(port, sizeof(port), "%d", job->port);
		child_env_set(ce, "PGPORT", port);
	}
	if (job->user)
		child_env_set(ce, "PGUSER", job->user);
	child_env_set(ce, "PGAPPNAME", "dbgit");
	child_env_set(ce, "PGCONNECT_TIMEOUT", "10");
	child_env_set(ce, "PGCLIENTENCODING", "UTF8");
	char *pass = NULL;
	if (job->password_file) {
		if (child_password_file(ce, job->password_file, "*:*:*:*:", pgpass_escape, &pass) < 0) {
			child_env_free(ce);
			return ERR_GENERIC;
		}
		child_env_set(ce, "PGPASSFILE", pass);
		free(pass);
	} else {
		child_env_set(ce, "PGPASSFILE", "/dev/null");
	}
	return 0;
}

/* A psql session: commands in on its stdin, results read back line by
 * line up to the end mark each batch is followed by. */
struct session {
	struct child c;
	struct line_reader r;
	int open;
};

static int sess_start(struct session *s, struct child_env *ce, const char *db)
{
	memset(s, 0, sizeof(*s));
	char *argv[] = {"psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", (char *)db, NULL};
	if (child_start(&s->c, ce, argv, 1, 1) < 0)
		return ERR_GENERIC;
	line_reader_init(&s->r, s->c.out);
	s->open = 1;
	return 0;
}

static int sess_send(struct session *s, const char *sql)
{
	struct buf b = BUF_INIT;
	/* psql prints the mark after the batch: a line COPY text never
	 * starts with (a data backslash is written "\\"). */
	buf_printf(&b, "%s\n\\echo '\\\\.dbgit-end'\n", sql);
	int rc = child_write(&s->c, b.data, b.len);
	buf_free(&b);
	if (rc < 0)
		return child_finish(&s->c, 0) < 0 ? ERR_GENERIC
						  : err_set(ERR_GENERIC, "job '%s': psql stopped early", s->c.ce->job);
	return 0;
}

/* 1: a result line; 0: the batch is done; <0: psql failed (its error). */
static int sess_line(struct session *s, const char **line, size_t *len)
{
	int rc = line_reader_next(&s->r, line, len);
	if (rc == 1 && *len == sizeof(END_MARK) - 1 && !memcmp(*line, END_MARK, *len))
		return 0;
	if (rc == 1)
		return 1;
	if (rc < 0)
		return rc;
	/* Its output ended before the mark: psql stopped on an error. */
	s->open = 0;
	line_reader_free(&s->r);
	if (child_finish(&s->c, 0) < 0)
		return ERR_GENERIC;
	return err_set(ERR_GENERIC, "job '%s': psql ended early", s->c.ce->job);
}

/* Runs a batch whose result lines are JSON objects; appends them to arr. */
static int sess_json(struct session *s, const char *sql, cJSON *arr)
{
	int rc = sess_send(s, sql);
	const char *l;
	size_t n;
	while (rc == 0 && (rc = sess_line(s, &l, &n)) == 1) {
		cJSON *o = cJSON_ParseWithLength(l, n);
		if (!o) {
			rc = err_set(ERR_GENERIC, "job '%s': psql wrote an unexpected line: %.80s", s->c.ce->job, l);
			break;
		}
		cJSON_AddItemToArray(arr, o);
		rc = 0;
	}
	return rc < 0 ? rc : 0;
}

static int sess_end(struct session *s, int failed)
{
	if (!s->open)
		return failed ? ERR_GENERIC : 0;
	s->open = 0;
	if (!failed && child_write(&s->c, "\\q\n", 3) == 0) {
		/* Read to its end: psql must not die of SIGPIPE on a last mark. */
		const char *l;
		size_t n;
		while (line_reader_next(&s->r, &l, &n) == 1)
			;
	}
	line_reader_free(&s->r);
	return child_finish(&s->c, failed);
}

/* Runs one SQL command through psql -c (no result wanted). */
static int psql_command(struct child_env *ce, const char *db, const char *sql, int cleanup)
{
	char *argv[] = {"psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", (char *)db, "-c", (char *)sql, NULL};
	struct child c;
	if (child_start(&c, ce, argv, 0, 0) < 0)
		return ERR_GENERIC;
	c.cleanup = cleanup;
	return child_finish(&c, 0);
}

struct pg_table {
	const char *name, *q, *cols, *pk, *pkcols; /* in the JSON */
	char *dir;
};

static int cmp_dir(const void *a, const void *b)
{
	return strcmp(((const struct pg_table *)a)->dir, ((const struct pg_table *)b)->dir);
}

#define USER_NS                                                                                            \
	"n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' "          \
	"AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e') "

static const char tables_sql[] =
	"SELECT row_to_json(x) FROM (SELECT n.nspname || '.' || c.relname AS name,"
	" format('%I.%I', n.nspname, c.relname) AS q,"
	" (SELECT string_agg(quote_ident(a.attname), ',' ORDER BY a.attnum) FROM pg_attribute a"
	"  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '') AS cols,"
	" (SELECT string_agg(quote_ident(a.attname) || CASE WHEN a.attcollation <> 0 THEN ' COLLATE \"C\"'"
	"   ELSE '' END, ',' ORDER BY k.i) FROM pg_index i"
	"  CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, i)"
	"  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
	"  WHERE i.indrelid = c.oid AND i.indisprimary) AS pk,"
	" (SELECT string_agg(quote_ident(a.attname), ',' ORDER BY k.i) FROM pg_index i"
	"  CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, i)"
	"  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
	"  WHERE i.indrelid = c.oid AND i.indisprimary) AS pkcols"
	" FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
	" WHERE c.relkind = 'r' AND " USER_NS ") x;";

/* One definition per object, from the catalog, with search_path empty so
 * that every name in it is qualified. */
static const char schema_sql[] =
	"SELECT row_to_json(x) FROM ("
	"SELECT 'table' AS type, n.nspname || '.' || c.relname AS name, n.nspname || '.' || c.relname AS tbl_name,"
	" coalesce((SELECT string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod)"
	"   || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END"
	"   || coalesce(' DEFAULT ' || pg_get_expr(ad.adbin, ad.adrelid), '')"
	"   || CASE WHEN a.attidentity <> '' THEN ' IDENTITY ' || a.attidentity::text ELSE '' END, ', ' ORDER BY a.attnum)"
	"  FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum"
	"  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')"
	" || coalesce((SELECT string_agg('; ' || co.conname || ' ' || pg_get_constraintdef(co.oid), ''"
	"   ORDER BY co.conname) FROM pg_constraint co WHERE co.conrelid = c.oid), '') AS def"
	" FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND " USER_NS
	"UNION ALL SELECT 'index', n.nspname || '.' || c.relname, n.nspname || '.' || t.relname, pg_get_indexdef(c.oid)"
	" FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid"
	" JOIN pg_namespace n ON n.oid = c.relnamespace WHERE " USER_NS
	"UNION ALL SELECT 'view', n.nspname || '.' || c.relname, n.nspname || '.' || c.relname,"
	" pg_get_viewdef(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
	" WHERE c.relkind IN ('v', 'm') AND " USER_NS
	"UNION ALL SELECT 'trigger', n.nspname || '.' || c.relname || '.' || tg.tgname, n.nspname || '.' || c.relname,"
	" pg_get_triggerdef(tg.oid) FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid"
	" JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT tg.tgisinternal AND " USER_NS
	"UNION ALL SELECT 'function', n.nspname || '.' || c.proname || '(' || pg_get_function_identity_arguments(c.oid)"
	" || ')', NULL, pg_get_functiondef(c.oid) FROM pg_proc c JOIN pg_namespace n ON n.oid = c.pronamespace"
	" WHERE c.prokind IN ('f', 'p') AND " USER_NS
	") x ORDER BY x.type, x.name COLLATE \"C\";";

static const char sequences_sql[] =
	"SELECT row_to_json(x) FROM (SELECT format('%I.%I', schemaname, sequencename) AS q,"
	" last_value::text AS v FROM pg_sequences s JOIN pg_namespace n ON n.nspname = s.schemaname"
	" JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.sequencename WHERE " USER_NS
	" ORDER BY format('%I.%I', schemaname, sequencename) COLLATE \"C\") x;";

/* The schema digest into info["schema"]. */
static int read_schema(struct session *s, const struct job_cfg *job, cJSON *info)
{
	cJSON *rows = cJSON_CreateArray();
	int rc = sess_json(s, schema_sql, rows);
	cJSON *schema = cJSON_AddArrayToObject(info, "schema");
	const cJSON *r;
	cJSON_ArrayForEach (r, rows) {
		const char *def = server_jstr(r, "def"), *tbl = server_jstr(r, "tbl_name");
		const char *type = server_jstr(r, "type"), *name = server_jstr(r, "name");
		/* An excluded table's indexes and triggers are not in the snapshot. */
		if (tbl && server_excluded(job, tbl, 1))
			continue;
		server_add_schema(schema, type ? type : "?", name ? name : "?", tbl, def, def ? strlen(def) : 0);
	}
	cJSON_Delete(rows);
	return rc;
}

/* The tables, in the byte-wise order of their folders. */
static int read_tables(struct session *s, const struct job_cfg *job, cJSON *rows, struct pg_table **out,
		       size_t *n)
{
	*out = NULL;
	*n = 0;
	int rc = sess_json(s, tables_sql, rows);
	if (rc < 0)
		return rc;
	struct pg_table *t = calloc((size_t)cJSON_GetArraySize(rows) + 1, sizeof(*t));
	const cJSON *r;
	cJSON_ArrayForEach (r, rows) {
		struct pg_table *x = &t[*n];
		x->name = server_jstr(r, "name");
		x->q = server_jstr(r, "q");
		x->cols = server_jstr(r, "cols");
		x->pk = server_jstr(r, "pk");
		x->pkcols = server_jstr(r, "pkcols");
		if (!x->name || !x->q || server_excluded(job, x->name, 1))
			continue;
		x->dir = server_sanitize(x->name);
		(*n)++;
	}
	qsort(t, *n, sizeof(*t), cmp_dir);
	*out = t;
	return 0;
}

static void free_tables(struct pg_table *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(t[i].dir);
	free(t);
}

/* One table's rows through COPY, in key order, hashed and (sink) written. */
/* One table's rows, hashed and (sink) written; none for a table in
 * exclude_table_data (keep_rows 0): no rows file, the summary of an empty
 * table, which is what its restore gives and its verification finds. */
static int copy_table(struct session *s, const struct pg_table *t, int keep_rows, struct dump_sink *sink,
		      cJSON *summaries)
{
	struct buf b = BUF_INIT;
	int rc = 0;
	if (t->cols && keep_rows) {
		buf_printf(&b, "COPY (SELECT %s FROM %s x ORDER BY %s) TO STDOUT;", t->cols, t->q,
			   t->pk ? t->pk : "ROW(x.*)::text COLLATE \"C\"");
		log_debug("job '%s': %s", s->c.ce->job, b.data);
		rc = sess_send(s, b.data);
	}
	if (rc == 0 && sink && t->cols && keep_rows) {
		char *path = xasprintf(TABLE_PREFIX "%s/rows.sql", t->dir);
		rc = sink->open(sink, path, CHUNK_LINES);
		free(path);
		buf_clear(&b);
		buf_printf(&b, "COPY %s (%s) FROM stdin;\n", t->q, t->cols);
		if (rc == 0)
			rc = sink->write(sink, b.data, b.len);
	}
	struct sha256 *h = sha256_new();
	int64_t rows = 0;
	const char *l;
	size_t n;
	while (rc == 0 && t->cols && keep_rows && (rc = sess_line(s, &l, &n)) == 1) {
		sha256_update(h, l, n);
		rows++;
		rc = sink ? sink->write(sink, l, n) : 0;
		if (rc == 0 && (rows & 0xfff) == 0)
			rc = sig_check();
	}
	if (rc == 0 && sink && t->cols && keep_rows && (rc = sink->write(sink, "\\.\n\n", 4)) == 0)
		rc = sink->close(sink);
	char hex[65];
	sha256_final_hex(h, hex);
	if (rc == 0)
		server_add_summary(summaries, t->name, rows, hex);
	buf_free(&b);
	return rc;
}

/* The sequences' positions: setval lines, and a summary to compare. */
static int read_sequences(struct session *s, struct buf *out, cJSON *summaries)
{
	cJSON *rows = cJSON_CreateArray();
	int rc = sess_json(s, sequences_sql, rows);
	const cJSON *r;
	int64_t n = 0;
	cJSON_ArrayForEach (r, rows) {
		const char *q = server_jstr(r, "q"), *v = server_jstr(r, "v");
		if (!q)
			continue;
		/* q is an identifier quoted by the server; as a literal, ' doubles. */
		buf_puts(out, "SELECT pg_catalog.setval('");
		for (const char *p = q; *p; p++)
			if (*p == '\'')
				buf_puts(out, "''");
			else
				buf_add(out, p, 1);
		if (v)
			buf_printf(out, "', %s, true);\n", v);
		else
			buf_puts(out, "', 1, false);\n");
		n++;
	}
	cJSON_Delete(rows);
	char hex[65];
	struct sha256 *h = sha256_new();
	sha256_update(h, out->data ? out->data : "", out->len);
	sha256_final_hex(h, hex);
	if (rc == 0)
		server_add_summary(summaries, "(sequences)", n, hex);
	return rc;
}

/* pg_dump's schema section into path, without its \restrict lines (a new
 * random key each run: the dump would never be the same twice). */
static int dump_section(struct child_env *ce, const struct job_cfg *job, const char *snapshot,
			const char *section, struct dump_sink *sink, const char *path)
{
	size_t argc = 0;
	char **argv = calloc(16 + 2 * job->n_exclude + job->n_options, sizeof(char *));
	char *snap = xasprintf("--snapshot=%s", snapshot), *sec = xasprintf("--section=%s", section);
	argv[argc++] = "pg_dump";
	argv[argc++] = "--schema-only";
	argv[argc++] = sec;
	argv[argc++] = snap;
	argv[argc++] = "--quote-all-identifiers";
	for (size_t i = 0; i < job->n_exclude; i++) {
		argv[argc++] = "--exclude-table";
		argv[argc++] = job->exclude_tables[i];
	}
	for (size_t i = 0; i < job->n_options; i++)
		argv[argc++] = job->options[i];
	argv[argc++] = "-d";
	argv[argc++] = job->database;
	struct child c;
	int rc = child_start(&c, ce, argv, 0, 1);
	if (rc == 0) {
		struct line_reader r;
		line_reader_init(&r, c.out);
		rc = sink->open(sink, path, CHUNK_LINES);
		const char *l;
		size_t n;
		while (rc == 0 && (rc = line_reader_next(&r, &l, &n)) == 1) {
			if ((n >= 10 && !memcmp(l, "\\restrict ", 10)) || (n >= 12 && !memcmp(l, "\\unrestrict ", 12)))
				rc = 0;
			else
				rc = sink->write(sink, l, n);
		}
		line_reader_free(&r);
		int frc = child_finish(&c, rc < 0);
		if (rc == 0)
			rc = frc;
		if (rc == 0)
			rc = sink->close(sink);
	}
	free(snap);
	free(sec);
	free(argv);
	return rc;
}

/*
 * Large objects (pg_largeobject): pg_dump --schema-only leaves them out, so
 * the session writes them itself, in its snapshot: each object's
 * lo_create(oid) and its content as lo_put lines of 64 KiB (hex through
 * decode(), so that COPY's text escaping leaves the lines alone), in oid
 * and offset order. Restore keeps the oids (a table that stores them still
 * points at its objects). The summary "(large objects)": how many, and
 * SHA-256 over the lines; none where the database has none, so snapshots
 * taken before dbgit knew large objects still verify. Owners, grants and
 * comments of large objects are not kept.
 */
#define LO_FILE "2-large-objects.sql"

static const char lo_sql[] =
	/* The sizes first, once each (lo_get of a whole object would hold it
	 * in memory; an inlined lo_open could run again per row). */
	"COPY (WITH s AS MATERIALIZED (SELECT m.oid,"
	"  pg_catalog.lo_lseek64(pg_catalog.lo_open(m.oid, 262144), 0, 2) AS size"
	"  FROM pg_catalog.pg_largeobject_metadata m)"
	" SELECT CASE WHEN g.off < 0 THEN format('SELECT pg_catalog.lo_create(%s);', s.oid)"
	" ELSE format('SELECT pg_catalog.lo_put(%s, %s, pg_catalog.decode(''%s'', ''hex''));', s.oid, g.off,"
	"  encode(pg_catalog.lo_get(s.oid, g.off, 65536), 'hex')) END"
	" FROM s CROSS JOIN LATERAL (SELECT -1::bigint AS off UNION ALL"
	"  SELECT generate_series(0::bigint, s.size - 1, 65536::bigint)) g"
	" ORDER BY s.oid, g.off) TO STDOUT;";

static int copy_large_objects(struct session *s, struct dump_sink *sink, cJSON *summaries)
{
	int rc = sess_send(s, lo_sql);
	struct sha256 *h = sha256_new();
	int64_t objects = 0, lines = 0;
	int opened = 0;
	const char *l;
	size_t n;
	while (rc == 0 && (rc = sess_line(s, &l, &n)) == 1) {
		rc = 0;
		/* The file only where there is something to put in it. */
		if (sink && !opened && (rc = sink->open(sink, LO_FILE, CHUNK_LINES)) == 0)
			opened = 1;
		sha256_update(h, l, n);
		if (n > 25 && !memcmp(l, "SELECT pg_catalog.lo_crea", 25))
			objects++;
		if (rc == 0 && sink)
			rc = sink->write(sink, l, n);
		if (rc == 0 && (++lines & 0xff) == 0)
			rc = sig_check();
	}
	if (rc == 0 && opened)
		rc = sink->close(sink);
	char hex[65];
	sha256_final_hex(h, hex);
	if (rc == 0 && lines)
		server_add_summary(summaries, "(large objects)", objects, hex);
	return rc;
}

/* What dump and inspect share: tables, their rows, sequences, schema. */
static int walk_database(struct session *s, const struct job_cfg *job, struct dump_sink *sink,
			 struct child_env *ce, const char *snapshot, const char *db, cJSON *info)
{
	cJSON *rows = cJSON_CreateArray();
	struct pg_table *t = NULL;
	size_t n = 0;
	struct buf seq = BUF_INIT;
	cJSON *summaries = cJSON_AddArrayToObject(info, "tables");
	int rc = read_tables(s, job, rows, &t, &n);
	if (rc == 0)
		rc = read_schema(s, job, info);
	if (rc == 0 && sink) {
		rc = server_write_text(sink, "0-begin.sql", session_settings, strlen(session_settings));
		if (rc == 0)
			rc = dump_section(ce, job, snapshot, "pre-data", sink, "1-schema.sql");
	}
	(void)db;
	if (rc == 0)
		rc = copy_large_objects(s, sink, summaries);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = copy_table(s, &t[i], !server_data_excluded(job, t[i].name, 1), sink, summaries);
	if (rc == 0)
		rc = read_sequences(s, &seq, summaries);
	if (rc == 0 && sink)
		rc = server_write_text(sink, "3-sequences.sql", seq.data, seq.len);
	if (rc == 0 && sink)
		rc = dump_section(ce, job, snapshot, "post-data", sink, "4-post-data.sql");
	buf_free(&seq);
	free_tables(t, n);
	cJSON_Delete(rows);
	return rc;
}

static int begin_snapshot(struct session *s, int export, char *snapshot, size_t len)
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "%sSET search_path TO '';\nBEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\n%s",
		   session_settings, export ? "SELECT pg_export_snapshot();" : "SELECT 'x';");
	int rc = sess_send(s, b.data);
	buf_free(&b);
	const char *l;
	size_t n;
	snapshot[0] = '\0';
	while (rc == 0 && (rc = sess_line(s, &l, &n)) == 1) {
		snprintf(snapshot, len, "%.*s", (int)(n && l[n - 1] == '\n' ? n - 1 : n), l);
		rc = 0;
	}
	if (rc == 0 && !snapshot[0])
		rc = err_set(ERR_GENERIC, "psql did not start a transaction");
	return rc < 0 ? rc : 0;
}

static void sweep_scratch(struct child_env *ce, const struct job_cfg *job);

static int pg_dump_db(const struct job_cfg *job, struct dump_sink *sink, cJSON *info)
{
	struct child_env ce;
	if (pg_env(job, &ce) < 0)
		return ERR_GENERIC;
	sweep_scratch(&ce, job);
	struct session s;
	char snapshot[128];
	int rc = sess_start(&s, &ce, job->database);
	if (rc == 0)
		rc = begin_snapshot(&s, 1, snapshot, sizeof(snapshot));
	if (rc == 0)
		rc = walk_database(&s, job, sink, &ce, snapshot, job->database, info);
	if (rc == 0)
		rc = sess_send(&s, "COMMIT;");
	int erc = sess_end(&s, rc < 0);
	if (rc == 0)
		rc = erc;
	if (rc == 0) {
		cJSON *formats = cJSON_AddArrayToObject(info, "formats");
		cJSON_AddItemToArray(formats, cJSON_CreateString("sql"));
	}
	child_env_free(&ce);
	return rc;
}

static char *quote_ident(const char *s)
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

static int drop_database(struct child_env *ce, const struct job_cfg *job, const char *name)
{
	char *q = quote_ident(name);
	char *sql = xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", q);
	int rc = psql_command(ce, job->database, sql, 1);
	free(sql);
	free(q);
	return rc;
}

/* Runs the snapshot's .sql files, in path order, through one psql in one
 * transaction that stops at the first error. */
static int run_script(struct child_env *ce, const struct job_cfg *job, struct dump_source *src, const char *db)
{
	char *argv[] = {"psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-d", (char *)db,
			"-f", "-", NULL};
	struct child c;
	if (child_start(&c, ce, argv, 1, 0) < 0)
		return ERR_GENERIC;
	/* No psql meta-command of the (untrusted) snapshot may run. */
	unsigned char key[16];
	if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key))
		memset(key, 0x5a, sizeof(key));
	struct buf b = BUF_INIT;
	buf_puts(&b, "\\restrict ");
	for (size_t i = 0; i < sizeof(key); i++)
		buf_printf(&b, "%02x", key[i]);
	buf_puts(&b, "\n");
	int rc = child_write(&c, b.data, b.len) < 0 ? ERR_GENERIC : 0;
	buf_free(&b);
	char *chunk = malloc(1 << 16);
	const char *path;
	int files = 0;
	while (rc == 0 && (rc = src->next(src, &path)) == 1) {
		size_t plen = strlen(path);
		rc = 0;
		if (plen < 4 || strcmp(path + plen - 4, ".sql"))
			continue;
		files++;
		ssize_t n;
		while ((n = src->read(src, chunk, 1 << 16)) > 0)
			if (child_write(&c, chunk, (size_t)n) < 0) {
				rc = ERR_GENERIC; /* psql stopped: its error says why */
				break;
			}
		if (n < 0)
			rc = ERR_VERIFY;
		if (rc == 0)
			rc = sig_check();
	}
	int src_failed = rc < 0 && rc != ERR_GENERIC;
	char keep[1024];
	snprintf(keep, sizeof(keep), "%s", rc < 0 ? err_last() : "");
	int frc = child_finish(&c, src_failed);
	if (src_failed)
		rc = err_set(rc, "%s", keep);
	else if (frc < 0)
		rc = frc;
	else if (rc < 0)
		rc = err_set(ERR_GENERIC, "job '%s': psql stopped reading the snapshot", job->name);
	else if (files == 0)
		rc = err_set(ERR_VERIFY, "the snapshot of '%s' has no SQL files", job->name);
	free(chunk);
	return rc;
}

static int pg_restore_db(const struct job_cfg *job, struct dump_source *src, const char *format,
			 const char *target)
{
	(void)format;
	struct child_env ce;
	if (pg_env(job, &ce) < 0)
		return ERR_GENERIC;
	char *db = server_scratch_name(job, target);
	char *q = quote_ident(db);
	/* template0: a copy of template1 could hold objects of its own. */
	char *sql = xasprintf("CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8'", q);
	int rc = drop_database(&ce, job, db);
	if (rc == 0)
		rc = psql_command(&ce, job->database, sql, 0);
	if (rc == 0)
		rc = run_script(&ce, job, src, db);
	if (rc < 0) {
		char keep[1024];
		snprintf(keep, sizeof(keep), "%s", err_last());
		drop_database(&ce, job, db);
		rc = err_set(rc, "%s", keep);
	}
	free(sql);
	free(q);
	free(db);
	child_env_free(&ce);
	return rc;
}

static int pg_inspect(const struct job_cfg *job, const char *target, cJSON *info, struct buf *problems)
{
	struct child_env ce;
	if (pg_env(job, &ce) < 0) {
		buf_printf(problems, "%s\n", err_last());
		err_clear();
		return ERR_VERIFY;
	}
	char *db = server_scratch_name(job, target);
	struct session s;
	char x[16];
	int rc = sess_start(&s, &ce, db);
	if (rc == 0)
		rc = begin_snapshot(&s, 0, x, sizeof(x));
	if (rc == 0)
		rc = walk_database(&s, job, NULL, &ce, NULL, db, info);
	if (rc == 0)
		rc = sess_send(&s, "COMMIT;");
	int erc = sess_end(&s, rc < 0);
	if (rc == 0)
		rc = erc;
	if (rc < 0) {
		buf_printf(problems, "%s\n", err_last());
		err_clear();
		rc = ERR_VERIFY;
	}
	free(db);
	child_env_free(&ce);
	return rc;
}

static void pg_discard(const struct job_cfg *job, const char *target)
{
	if (!strchr(target, '/'))
		return; /* a user's database, never a scratch one */
	struct child_env ce;
	if (pg_env(job, &ce) < 0) {
		err_clear();
		return;
	}
	char *db = server_scratch_name(job, target);
	if (drop_database(&ce, job, db) < 0) {
		log_warn("job '%s': scratch database %s not dropped: %s", job->name, db, err_last());
		err_clear();
	}
	free(db);
	child_env_free(&ce);
}

/*
 * Scratch databases of this job left by a run that was killed (-9, a
 * crash, a reboot): scratch_name puts the pid in the name
 * (child_scratch_abandoned says whose). Only processes on this host are
 * seen, so a job of the same name run by a dbgit on another host against
 * the same server would lose its scratch database mid-run: give jobs on
 * different hosts different names.
 */
static void sweep_scratch(struct child_env *ce, const struct job_cfg *job)
{
	char *mine = server_scratch_name(job, "/x");
	/* "dbgit_<job>_<pid>_x": the prefix up to the pid. */
	char *end = strrchr(mine, '_');
	*end = '\0';
	end = strrchr(mine, '_');
	end[1] = '\0';
	char *sql = xasprintf("SELECT row_to_json(x) FROM (SELECT datname AS n FROM pg_database"
			      " WHERE starts_with(datname, '%s') ORDER BY 1) x;",
			      mine);
	cJSON *rows = cJSON_CreateArray();
	struct session s;
	int rc = sess_start(&s, ce, job->database);
	if (rc == 0)
		rc = sess_json(&s, sql, rows);
	int erc = sess_end(&s, rc < 0);
	if (rc == 0)
		rc = erc;
	const cJSON *r;
	cJSON_ArrayForEach (r, rows) {
		const char *name = server_jstr(r, "n");
		if (rc < 0 || !name)
			break;
		if (!child_scratch_abandoned(name))
			continue;
		if (drop_database(ce, job, name) == 0)
			log_info("job '%s': dropped scratch database %s, left by a run that was killed", job->name, name);
		else
			err_clear();
	}
	if (rc < 0)
		err_clear(); /* the dump that follows says what is wrong */
	cJSON_Delete(rows);
	free(sql);
	free(mine);
}

static char *quote_literal(const char *s)
{
	struct buf b = BUF_INIT;
	buf_puts(&b, "'");
	for (; *s; s++)
		if (*s == '\'')
			buf_puts(&b, "''");
		else
			buf_add(&b, s, 1);
	buf_puts(&b, "'");
	return b.data;
}

/* One number from a query on db; -1 if the database does not exist. */
static int query_count(struct child_env *ce, const char *db, const char *sql, int64_t *out)
{
	struct session s;
	cJSON *rows = cJSON_CreateArray();
	int rc = sess_start(&s, ce, db);
	if (rc == 0)
		rc = sess_json(&s, sql, rows);
	int erc = sess_end(&s, rc < 0);
	if (rc == 0)
		rc = erc;
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(rows, 0), "n");
	if (rc == 0 && !cJSON_IsNumber(n))
		rc = err_set(ERR_GENERIC, "job '%s': psql gave no count", ce->job);
	if (rc == 0)
		*out = (int64_t)n->valuedouble;
	cJSON_Delete(rows);
	return rc;
}

static int db_exists(struct child_env *ce, const struct job_cfg *job, const char *name, int64_t *found)
{
	char *lit = quote_literal(name);
	char *sql = xasprintf("SELECT row_to_json(x) FROM (SELECT count(*) AS n FROM pg_database WHERE datname = %s) x;",
			      lit);
	int rc = query_count(ce, job->database, sql, found);
	free(sql);
	free(lit);
	return rc;
}

static int pg_db_target_check(const struct job_cfg *job, const char *name, int force)
{
	/* psql would take a name with '=' for connection parameters. */
	if (!*name || strlen(name) > 63 || strchr(name, '/') || strchr(name, '='))
		return err_set(ERR_USAGE, "'%s' is not a PostgreSQL database name (at most 63 bytes, no '/' or '=')",
			       name);
	struct child_env ce;
	if (pg_env(job, &ce) < 0)
		return ERR_GENERIC;
	int64_t found = 0, tables = 0;
	int rc = db_exists(&ce, job, name, &found);
	if (rc == 0 && found)
		rc = query_count(&ce, name,
				 "SELECT row_to_json(x) FROM (SELECT count(*) AS n FROM pg_class c JOIN pg_namespace n"
				 " ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'v', 'm') AND " USER_NS ") x;",
				 &tables);
	if (rc == 0 && tables > 0 && !force)
		rc = err_set(ERR_USAGE,
			     "database %s already holds %lld tables or views; --force replaces it (it is kept until "
			     "the restore is verified)",
			     name, (long long)tables);
	child_env_free(&ce);
	return rc;
}

static int pg_db_install(const struct job_cfg *job, const char *scratch, const char *name, int force)
{
	struct child_env ce;
	if (pg_env(job, &ce) < 0)
		return ERR_GENERIC;
	char *from = server_scratch_name(job, scratch);
	char *old = xasprintf("%.40s_dbgit_old_%ld", name, (long)getpid());
	char *qf = quote_ident(from), *qn = quote_ident(name), *qo = quote_ident(old);
	/* Not connected to either database renamed (the job's database may
	 * be the target). */
	const char *via = strcmp(name, job->database) ? job->database : "postgres";
	int64_t found = 0;
	int rc = db_exists(&ce, job, name, &found);
	if (rc == 0 && found && !force)
		rc = err_set(ERR_USAGE, "database %s appeared meanwhile; nothing replaced", name);
	char *sql = NULL;
	if (rc == 0 && found) {
		sql = xasprintf("ALTER DATABASE %s RENAME TO %s", qn, qo);
		rc = psql_command(&ce, via, sql, 0);
		free(sql);
	}
	if (rc == 0) {
		sql = xasprintf("ALTER DATABASE %s RENAME TO %s", qf, qn);
		rc = psql_command(&ce, via, sql, 0);
		free(sql);
		if (rc < 0 && found) {
			/* Put the old one back under its name. */
			char keep[1024];
			snprintf(keep, sizeof(keep), "%s", err_last());
			sql = xasprintf("ALTER DATABASE %s RENAME TO %s", qo, qn);
			psql_command(&ce, via, sql, 1);
			free(sql);
			rc = err_set(ERR_GENERIC, "%s", keep);
		}
	}
	if (rc == 0 && found)
		drop_database(&ce, job, old);
	free(qf), free(qn), free(qo), free(from), free(old);
	child_env_free(&ce);
	return rc;
}

/*
 * diff --stat: both snapshots restored into scratch databases; each table
 * read from both, as (key, row digest) in the byte order of the key's text
 * (hex, so that "C" order is byte order), and merged: a key on one side
 * only is a row added or removed, on both with another digest a changed
 * row. A table without a primary key is keyed by its whole row. Memory:
 * two lines at a time.
 */
struct cmp_side {
	struct session s;
	cJSON *rows, *schema;
	struct pg_table *t;
	size_t n;
	char *db;
};

static int side_open(struct cmp_side *c, struct child_env *ce, const struct job_cfg *job, const char *target)
{
	memset(c, 0, sizeof(*c));
	c->db = server_scratch_name(job, target);
	c->rows = cJSON_CreateArray();
	c->schema = cJSON_CreateObject();
	char x[16];
	int rc = sess_start(&c->s, ce, c->db);
	if (rc == 0)
		rc = begin_snapshot(&c->s, 0, x, sizeof(x));
	if (rc == 0)
		rc = read_tables(&c->s, job, c->rows, &c->t, &c->n);
	if (rc == 0)
		rc = read_schema(&c->s, job, c->schema);
	return rc;
}

static void side_close(struct cmp_side *c, int failed)
{
	sess_end(&c->s, failed);
	free_tables(c->t, c->n);
	cJSON_Delete(c->rows);
	cJSON_Delete(c->schema);
	free(c->db);
}

static const struct pg_table *side_table(const struct cmp_side *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->t[i].name, name))
			return &c->t[i];
	return NULL;
}

static int send_keyed(struct session *s, const struct pg_table *t)
{
	char *key = xasprintf("encode(convert_to(ROW(%s)::text, 'UTF8'), 'hex')", t->pkcols ? t->pkcols : "x.*");
	char *sql = xasprintf("COPY (SELECT %s, md5(ROW(x.*)::text) FROM %s x ORDER BY %s COLLATE \"C\") TO STDOUT;",
			      key, t->q, key);
	int rc = sess_send(s, sql);
	free(sql);
	free(key);
	return rc;
}

/* The next "key\tdigest" line of a side; *have 0 at its end. */
static int next_keyed(struct session *s, struct buf *line, int *have)
{
	const char *l;
	size_t n;
	int rc = sess_line(s, &l, &n);
	*have = rc == 1;
	buf_clear(line);
	if (rc == 1)
		buf_add(line, l, n);
	return rc < 0 ? rc : 0;
}

/* server_compare_keyed's reader of a side. */
static int next_side(void *side, struct buf *line, int *have)
{
	return next_keyed(&((struct cmp_side *)side)->s, line, have);
}

static int compare_table(struct cmp_side *a, struct cmp_side *b, const struct pg_table *ta,
			 const struct pg_table *tb, cJSON *tables)
{
	int rc = ta ? send_keyed(&a->s, ta) : 0;
	if (rc == 0 && tb)
		rc = send_keyed(&b->s, tb);
	if (rc == 0)
		rc = server_compare_keyed(next_side, ta ? a : NULL, tb ? b : NULL, ta ? ta->name : tb->name, tables);
	return rc;
}

static int pg_compare(const struct job_cfg *job, const char *old_db, const char *new_db, cJSON *out)
{
	struct child_env ce;
	if (pg_env(job, &ce) < 0)
		return ERR_GENERIC;
	struct cmp_side a, b;
	int rc = side_open(&a, &ce, job, old_db);
	int rb = side_open(&b, &ce, job, new_db);
	if (rc == 0)
		rc = rb;
	cJSON *tables = cJSON_AddArrayToObject(out, "tables");
	cJSON *schema = cJSON_AddArrayToObject(out, "schema");
	if (rc == 0)
		server_schema_diff(cJSON_GetObjectItemCaseSensitive(a.schema, "schema"),
				   cJSON_GetObjectItemCaseSensitive(b.schema, "schema"), schema);
	for (size_t i = 0; rc == 0 && i < a.n; i++)
		rc = compare_table(&a, &b, &a.t[i], side_table(&b, a.t[i].name), tables);
	for (size_t i = 0; rc == 0 && i < b.n; i++)
		if (!side_table(&a, b.t[i].name))
			rc = compare_table(&a, &b, NULL, &b.t[i], tables);
	side_close(&a, rc < 0);
	side_close(&b, rc < 0);
	child_env_free(&ce);
	return rc;
}

/* check: psql connects and reads, and pg_dump is there. */
static int pg_probe(const struct job_cfg *job)
{
	struct child_env ce;
	if (pg_env(job, &ce) < 0)
		return ERR_GENERIC;
	int64_t n = 0;
	int rc = query_count(&ce, job->database, "SELECT row_to_json(x) FROM (SELECT count(*) AS n FROM pg_class) x;", &n);
	if (rc == 0) {
		char *argv[] = {"pg_dump", "--version", NULL};
		struct child c;
		if ((rc = child_start(&c, &ce, argv, 0, 0)) == 0)
			rc = child_finish(&c, 0);
	}
	child_env_free(&ce);
	return rc;
}

static int pg_check(const struct job_cfg *job)
{
	return server_check_keys(job, "postgres", "PostgreSQL");
}

const struct engine engine_postgres = {
	.name = "postgres",
	.check = pg_check,
	.dump = pg_dump_db,
	.restore = pg_restore_db,
	.inspect = pg_inspect,
	.compare = pg_compare,
	.early_format = NULL,
	.discard = pg_discard,
	.db_target_check = pg_db_target_check,
	.db_install = pg_db_install,
	.probe = pg_probe,
};
