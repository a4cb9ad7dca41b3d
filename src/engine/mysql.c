/*
 * mysql engine: a MySQL or MariaDB database through its client tools
 * (mariadb-dump and mariadb where they exist, else mysqldump and mysql),
 * run as child processes (child.c), never linked in.
 *
 * One snapshot: a client session starts one REPEATABLE READ transaction
 * WITH CONSISTENT SNAPSHOT and reads every table once, which holds a
 * shared metadata lock on each until it ends (no ALTER or DROP of them
 * meanwhile). mariadb-dump --no-data then writes the tables' definitions
 * and triggers (the tables named in the byte-wise order of their folders,
 * so its output goes file by file), and the session streams each table's
 * rows as INSERT lines the server makes. Routines and events (not
 * transactional in the server either) come from a second mariadb-dump.
 *
 * Exact and stable: the rows are not mariadb-dump's, which writes a FLOAT
 * with 6 digits; each value is the text of an exact literal (FLOAT as the
 * double it is, BLOBs in hex, text with its newlines escaped, TIMESTAMP
 * in UTC), one row a line, in primary-key order (without a key, in the
 * byte order of the lines). No comments nor dates, and the AUTO_INCREMENT=
 * counter taken out of each CREATE TABLE into one small file of its own,
 * so that an insert does not change a table's definition file.
 *
 * The layout (byte-wise path order is script order, one script `mariadb`
 * runs):
 *   0-begin.sql                  the dump's session settings, autocommit off
 *   1-table/<name>/0-create.sql  DROP + CREATE TABLE (a view: its stand-in)
 *   1-table/<name>/1-rows.sql    INSERT INTO ... VALUES (...); a row a line
 *   1-table/<name>/2-end.sql     the table's triggers (after its rows)
 *   2-auto-increment.sql         ALTER TABLE t AUTO_INCREMENT=n; per table, COMMIT
 *   3-routines.sql               events, procedures, functions
 *   4-views.sql                  the views' definitions
 *
 * The checksum of a table is SHA-256 over its INSERT lines; the schema
 * digest is one entry per table, table's triggers, view and the routines,
 * each the SHA-256 of its text. Verification reads the restored scratch
 * database the same way and compares.
 *
 * A snapshot's SQL is untrusted: restore runs it through the client with
 * --binary-mode, under which no client command but DELIMITER (no system,
 * source, tee, pager) is obeyed.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "dbgit/engine.h"
#include "server.h"

#define TABLE_PREFIX "1-table/"
#define FOOTER "/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;\n"

/* Variables the clients would take a password or another server from. */
static const char *const drop_env[] = {"MYSQL_PWD=", "MYSQL_HOST=", "MYSQL_TCP_PORT=", "MYSQL_UNIX_PORT=",
				       "MYSQL_HOME=", "MARIADB_HOME=", "MYSQL_TEST_LOGIN_FILE=", NULL};

/* One run of the tools: where they connect, as whom, which ones. */
struct my_conn {
	struct child_env ce;
	char *extra; /* --defaults-extra-file=... or --no-defaults */
	char *conn[4];
	size_t n_conn;
	const char *client, *dump;
};

/* Option files take "..." with backslash escapes. */
static void cnf_escape(struct buf *b, const char *pw)
{
	for (; *pw; pw++) {
		if (*pw == '"' || *pw == '\\')
			buf_puts(b, "\\");
		buf_add(b, pw, 1);
	}
	buf_puts(b, "\"");
}

static void conn_free(struct my_conn *c)
{
	free(c->extra);
	for (size_t i = 0; i < c->n_conn; i++)
		free(c->conn[i]);
	child_env_free(&c->ce);
	memset(c, 0, sizeof(*c));
}

/* The password reaches the tools only through a 0600 option file given as
 * their first option; without password_file, no option file at all (not
 * even ~/.my.cnf), so that what connects is what the job says. */
static int conn_open(const struct job_cfg *job, struct my_conn *c)
{
	static const char *const clients[] = {"mariadb", "mysql", NULL};
	static const char *const dumps[] = {"mariadb-dump", "mysqldump", NULL};
	memset(c, 0, sizeof(*c));
	if (child_env_new(&c->ce, job->name, drop_env) < 0)
		return ERR_GENERIC;
	c->client = server_pick_tool(clients);
	c->dump = server_pick_tool(dumps);
	if (job->password_file) {
		char *pass = NULL;
		if (child_password_file(&c->ce, job->password_file, "[client]\npassword=\"", cnf_escape, &pass) < 0) {
			conn_free(c);
			return ERR_GENERIC;
		}
		c->extra = xasprintf("--defaults-extra-file=%s", pass);
		free(pass);
	} else {
		c->extra = xstrdup("--no-defaults");
	}
	if (job->socket)
		c->conn[c->n_conn++] = xasprintf("--socket=%s", job->socket);
	if (job->host)
		c->conn[c->n_conn++] = xasprintf("--host=%s", job->host);
	if (job->port > 0)
		c->conn[c->n_conn++] = xasprintf("--port=%d", job->port);
	if (job->user)
		c->conn[c->n_conn++] = xasprintf("--user=%s", job->user);
	return 0;
}

/* argv: tool, the option file, connection, then the caller's. */
struct args {
	char **v;
	size_t n, cap;
	char **owned; /* the strings made for it */
	size_t n_owned;
};

static void args_add(struct args *a, const char *s)
{
	if (a->n + 2 > a->cap) {
		a->cap = a->cap ? 2 * a->cap : 32;
		a->v = realloc(a->v, a->cap * sizeof(char *));
	}
	a->v[a->n++] = (char *)s;
	a->v[a->n] = NULL;
}

static void args_own(struct args *a, char *s)
{
	a->owned = realloc(a->owned, (a->n_owned + 1) * sizeof(char *));
	a->owned[a->n_owned++] = s;
	args_add(a, s);
}

static void args_init(struct args *a, const struct my_conn *c, const char *tool)
{
	memset(a, 0, sizeof(*a));
	args_add(a, tool);
	args_add(a, c->extra);
	for (size_t i = 0; i < c->n_conn; i++)
		args_add(a, c->conn[i]);
	args_add(a, "--default-character-set=utf8mb4");
	/* The client connects first in every run, so a host that does not
	 * answer fails it in seconds (mariadb-dump has no such option). */
	if (tool == c->client)
		args_add(a, "--connect-timeout=10");
}

static void args_free(struct args *a)
{
	for (size_t i = 0; i < a->n_owned; i++)
		free(a->owned[i]);
	free(a->owned);
	free(a->v);
}

static char *quote_ident(const char *s)
{
	struct buf b = BUF_INIT;
	buf_puts(&b, "`");
	for (; *s; s++) {
		if (*s == '`')
			buf_puts(&b, "`");
		buf_add(&b, s, 1);
	}
	buf_puts(&b, "`");
	return b.data;
}

static char *quote_literal(const char *s)
{
	struct buf b = BUF_INIT;
	buf_puts(&b, "'");
	for (; *s; s++) {
		if (*s == '\'' || *s == '\\')
			buf_add(&b, s, 1);
		buf_add(&b, s, 1);
	}
	buf_puts(&b, "'");
	return b.data;
}

/* Runs sql on db through the client; each result line is a JSON object
 * (JSON_OBJECT escapes every control character, so --raw keeps it on one
 * line), appended to arr when arr is not NULL. */
static int run_sql(struct my_conn *c, const char *db, const char *sql, cJSON *arr, int cleanup)
{
	struct args a;
	args_init(&a, c, c->client);
	args_add(&a, "--batch");
	args_add(&a, "--skip-column-names");
	args_add(&a, "--raw");
	args_own(&a, xasprintf("--execute=%s", sql));
	if (db)
		args_add(&a, db);
	struct child ch;
	int rc = child_start(&ch, &c->ce, a.v, 0, arr != NULL);
	if (rc == 0 && arr) {
		struct line_reader r;
		line_reader_init(&r, ch.out);
		const char *l;
		size_t n;
		while ((rc = line_reader_next(&r, &l, &n)) == 1) {
			cJSON *o = cJSON_ParseWithLength(l, n);
			if (!o) {
				rc = err_set(ERR_GENERIC, "job '%s': %s wrote an unexpected line: %.80s", c->ce.job,
					     c->client, l);
				break;
			}
			cJSON_AddItemToArray(arr, o);
		}
		line_reader_free(&r);
	}
	ch.cleanup = cleanup;
	int frc = child_finish(&ch, rc < 0);
	if (rc == 0)
		rc = frc;
	args_free(&a);
	return rc < 0 ? rc : 0;
}

/* A table or view of the database, in the byte-wise order of folders. */
struct my_table {
	const char *name; /* in the JSON */
	int view;
	char *dir, *q;
	struct buf cols;  /* per column the expression of its SQL literal */
	struct buf names; /* the columns written, when not all are (generated, invisible) */
	struct buf pk;    /* `a`,`b` in key order, empty without a primary key */
	struct buf keyq;  /* QUOTE(`a`),QUOTE(`b`): the key as text (diff) */
	int partial;
	int pk_done;
	struct buf create, end; /* its parts of the schema dump */
};

static int cmp_dir(const void *a, const void *b)
{
	return strcmp(((const struct my_table *)a)->dir, ((const struct my_table *)b)->dir);
}

/* Tables and views, then every column with its type and place in the key. */
static const char tables_sql[] =
	"SELECT JSON_OBJECT('name', TABLE_NAME, 'view', TABLE_TYPE = 'VIEW') FROM information_schema.TABLES"
	" WHERE TABLE_SCHEMA = DATABASE();"
	"SELECT JSON_OBJECT('t', c.TABLE_NAME, 'c', c.COLUMN_NAME, 'type', c.DATA_TYPE, 'extra', c.EXTRA,"
	" 'pk', (SELECT k.ORDINAL_POSITION FROM information_schema.KEY_COLUMN_USAGE k WHERE k.TABLE_SCHEMA ="
	" c.TABLE_SCHEMA AND BINARY k.TABLE_NAME = BINARY c.TABLE_NAME AND k.COLUMN_NAME = c.COLUMN_NAME"
	" AND k.CONSTRAINT_NAME = 'PRIMARY')) FROM information_schema.COLUMNS c WHERE c.TABLE_SCHEMA = DATABASE()"
	" ORDER BY BINARY c.TABLE_NAME, c.ORDINAL_POSITION;"
	"SELECT JSON_OBJECT('cs', DEFAULT_CHARACTER_SET_NAME, 'co', DEFAULT_COLLATION_NAME)"
	" FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE();";

static void free_tables(struct my_table *t, size_t n)
{
	for (size_t i = 0; t && i < n; i++) {
		free(t[i].dir), free(t[i].q);
		buf_free(&t[i].cols), buf_free(&t[i].names), buf_free(&t[i].pk), buf_free(&t[i].keyq);
		buf_free(&t[i].create), buf_free(&t[i].end);
	}
	free(t);
}

static int type_in(const char *type, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(type, *list))
			return 1;
	return 0;
}

/* A column's value as the text of an exact SQL literal, computed by the
 * server: the rows are read by a client in the same snapshot rather than
 * by mariadb-dump, which writes a FLOAT with 6 digits (123456.789 comes
 * back as 123457). */
static void add_column(struct my_table *t, const char *name, const char *type, const char *extra)
{
	static const char *const exact[] = {"tinyint", "smallint", "mediumint", "int", "bigint", "decimal",
					    "double", "real", NULL};
	static const char *const binary[] = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob",
					     "geometry", "point", "linestring", "polygon", "multipoint",
					     "multilinestring", "multipolygon", "geometrycollection", NULL};
	char *q = quote_ident(name);
	if (extra && (strstr(extra, "GENERATED") || strstr(extra, "INVISIBLE")))
		t->partial = 1;
	if (!extra || !strstr(extra, "GENERATED")) {
		/* A value the server cannot write out (longer than its
		 * max_allowed_packet) comes as NULL: it makes the whole line
		 * NULL (CONCAT, not CONCAT_WS, which would skip it), which the
		 * reader refuses, so that no value is ever lost silently. */
		if (t->cols.len)
			buf_puts(&t->cols, ",',',");
		if (t->names.len)
			buf_puts(&t->names, ",");
		buf_puts(&t->names, q);
		buf_printf(&t->cols, "IF(%s IS NULL,'NULL',", q);
		if (type_in(type, exact))
			buf_printf(&t->cols, "CAST(%s AS CHAR)", q);
		else if (!strcmp(type, "float")) /* a float is exactly its double */
			buf_printf(&t->cols, "CAST(CAST(%s AS DOUBLE) AS CHAR)", q);
		else if (!strcmp(type, "bit"))
			buf_printf(&t->cols, "CONCAT('b''',BIN(%s+0),'''')", q);
		else if (type_in(type, binary))
			buf_printf(&t->cols, "IF(LENGTH(%s)=0,'''''',CONCAT('0x',HEX(%s)))", q, q);
		else /* text, dates, enums, JSON: one line, whatever the bytes */
			buf_printf(&t->cols, "REPLACE(REPLACE(QUOTE(CONVERT(%s USING utf8mb4)),'\\n','\\\\n'),'\\r','\\\\r')",
				   q);
		buf_puts(&t->cols, ")");
	}
	free(q);
}

/* The primary key's columns in key order. */
static void add_pk(struct my_table *t, const cJSON *cols)
{
	for (int64_t pos = 1;; pos++) {
		const cJSON *c, *hit = NULL;
		cJSON_ArrayForEach (c, cols) {
			const cJSON *p = cJSON_GetObjectItemCaseSensitive(c, "pk");
			const char *tn = server_jstr(c, "t");
			if (tn && !strcmp(tn, t->name) && cJSON_IsNumber(p) && (int64_t)p->valuedouble == pos)
				hit = c;
		}
		if (!hit || !server_jstr(hit, "c"))
			return;
		char *q = quote_ident(server_jstr(hit, "c"));
		buf_printf(&t->pk, "%s%s", t->pk.len ? "," : "", q);
		buf_printf(&t->keyq, "%sQUOTE(%s)", t->keyq.len ? "," : "", q);
		free(q);
	}
}

/* The database's default character set and collation (what a table
 * created later in a restore gets), from read_tables' rows, as the tail of
 * an ALTER DATABASE; empty if the server gave none it could be. */
static void db_charset(const cJSON *rows, struct buf *out)
{
	const cJSON *r;
	cJSON_ArrayForEach (r, rows) {
		const char *cs = server_jstr(r, "cs"), *co = server_jstr(r, "co");
		if (!cs || !co || !*cs || !*co || strspn(cs, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(cs) ||
		    strspn(co, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(co))
			continue;
		buf_printf(out, "CHARACTER SET %s COLLATE %s", cs, co);
		return;
	}
}

static int read_tables(struct my_conn *c, const struct job_cfg *job, const char *db, cJSON *rows,
		       struct my_table **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	int rc = run_sql(c, db, tables_sql, rows, 0);
	if (rc < 0)
		return rc;
	struct my_table *t = calloc((size_t)cJSON_GetArraySize(rows) + 1, sizeof(*t));
	const cJSON *r;
	cJSON_ArrayForEach (r, rows) {
		struct my_table *x = &t[*n];
		x->name = server_jstr(r, "name");
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, "view");
		x->view = cJSON_IsTrue(v) || (cJSON_IsNumber(v) && v->valuedouble != 0);
		if (!x->name || server_excluded(job, x->name, 0)) {
			x->name = NULL;
			continue;
		}
		x->dir = server_sanitize(x->name);
		x->q = quote_ident(x->name);
		(*n)++;
	}
	qsort(t, *n, sizeof(*t), cmp_dir);
	/* Columns come in the byte order of table names (tables "T" and "t"
	 * may both exist): each table's are one run. */
	const struct my_table *last = NULL;
	cJSON_ArrayForEach (r, rows) {
		const char *tn = server_jstr(r, "t"), *cn = server_jstr(r, "c"), *type = server_jstr(r, "type");
		if (!tn || !cn || !type)
			continue;
		if (!last || strcmp(last->name, tn)) {
			last = NULL;
			for (size_t i = 0; i < *n && !last; i++)
				if (!strcmp(t[i].name, tn))
					last = &t[i];
			if (last && !last->pk_done) {
				add_pk((struct my_table *)last, rows);
				((struct my_table *)last)->pk_done = 1;
			}
		}
		if (last)
			add_column((struct my_table *)last, cn, type, server_jstr(r, "extra"));
	}
	*out = t;
	return 0;
}

/* The expression of a table's INSERT line. */
static char *row_line(const struct my_table *t)
{
	struct buf prefix = BUF_INIT;
	buf_printf(&prefix, "INSERT INTO %s", t->q);
	if (t->partial)
		buf_printf(&prefix, " (%s)", t->names.data ? t->names.data : "");
	buf_puts(&prefix, " VALUES (");
	char *lit = quote_literal(prefix.data);
	char *line = xasprintf("CONCAT(%s,%s,');')", lit, t->cols.data ? t->cols.data : "''");
	free(lit);
	buf_free(&prefix);
	return line;
}

/* The SELECT of a table's INSERT lines, in key order (without a key, in
 * the byte order of the lines). */
static char *rows_select(const struct my_table *t)
{
	char *line = row_line(t);
	char *sql = t->pk.len ? xasprintf("SELECT %s FROM %s ORDER BY %s", line, t->q, t->pk.data)
			      : xasprintf("SELECT l FROM (SELECT %s AS l FROM %s) x ORDER BY CAST(l AS BINARY)", line,
					  t->q);
	free(line);
	return sql;
}

/* The options that make the dump stable; the caller adds what it wants. */
static void dump_args(struct args *a, const struct my_conn *c)
{
	args_init(a, c, c->dump);
	static const char *const opts[] = {"--single-transaction", "--skip-comments", "--skip-dump-date", "--tz-utc",
					   "--hex-blob", "--order-by-primary", "--skip-extended-insert",
					   "--no-create-db", NULL};
	for (const char *const *o = opts; *o; o++)
		args_add(a, *o);
}

/* A client session: statements in on its stdin, result lines read back up
 * to the mark that follows each batch (a line no INSERT line can be). */
#define MARK "--dbgit-end--\n"
struct session {
	struct child ch;
	struct args a;
	struct line_reader r;
	int open;
};

static int sess_start(struct session *s, struct my_conn *c, const char *db)
{
	memset(s, 0, sizeof(*s));
	args_init(&s->a, c, c->client);
	static const char *const opts[] = {"--batch", "--skip-column-names", "--raw", "--quick", "--unbuffered",
					   "--max-allowed-packet=1073741824", NULL};
	for (const char *const *o = opts; *o; o++)
		args_add(&s->a, *o);
	args_add(&s->a, db);
	int rc = child_start(&s->ch, &c->ce, s->a.v, 1, 1);
	if (rc == 0) {
		line_reader_init(&s->r, s->ch.out);
		s->open = 1;
	}
	return rc;
}

static int sess_send(struct session *s, const char *sql)
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "%s;\nSELECT '--dbgit-end--';\n", sql);
	int rc = child_write(&s->ch, b.data, b.len);
	buf_free(&b);
	if (rc == 0)
		return 0;
	/* It went away: its own error says why. */
	s->open = 0;
	line_reader_free(&s->r);
	if (child_finish(&s->ch, 0) < 0)
		return ERR_GENERIC;
	return err_set(ERR_GENERIC, "job '%s': %s stopped early", s->ch.ce->job, s->ch.tool);
}

/* 1: a result line; 0: the batch is done; <0: the client failed (its error). */
static int sess_line(struct session *s, const char **line, size_t *len)
{
	int rc = line_reader_next(&s->r, line, len);
	if (rc == 1 && *len == sizeof(MARK) - 1 && !memcmp(*line, MARK, *len))
		return 0;
	if (rc != 0)
		return rc;
	s->open = 0;
	line_reader_free(&s->r);
	if (child_finish(&s->ch, 0) < 0)
		return ERR_GENERIC;
	return err_set(ERR_GENERIC, "job '%s': %s ended early", s->ch.ce->job, s->ch.tool);
}

/* A batch whose result is not wanted. */
static int sess_exec(struct session *s, const char *sql)
{
	int rc = sess_send(s, sql);
	const char *l;
	size_t n;
	while (rc == 0 && (rc = sess_line(s, &l, &n)) == 1)
		rc = 0;
	return rc;
}

static int sess_end(struct session *s, int failed)
{
	int rc = failed ? ERR_GENERIC : 0;
	if (s->open) {
		s->open = 0;
		if (!failed && child_write(&s->ch, "COMMIT;\n", 8) < 0)
			failed = 1;
		if (s->ch.in >= 0)
			close(s->ch.in), s->ch.in = -1;
		const char *l;
		size_t n;
		while (!failed && line_reader_next(&s->r, &l, &n) == 1)
			;
		line_reader_free(&s->r);
		rc = child_finish(&s->ch, failed);
	}
	args_free(&s->a);
	return rc;
}

/* One REPEATABLE READ snapshot, and a shared metadata lock on every table
 * (a first read of each): no ALTER or DROP of them until it ends, so the
 * schema read after it is the one its rows have. */
static int sess_snapshot(struct session *s, const struct my_table *t, size_t n)
{
	struct buf b = BUF_INIT;
	buf_puts(&b, "SET SESSION sql_mode = '', time_zone = '+00:00';\n"
		     "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ;\n"
		     "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY");
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, ";\nSELECT 1 FROM %s LIMIT 0", t[i].q);
	int rc = sess_exec(s, b.data);
	buf_free(&b);
	return rc;
}

/* The schema dump, gathered into each table's create and end parts. */
struct walk {
	struct my_table *t;
	size_t n, cur;
	int part;      /* 0 create, 2 after it (triggers) */
	int in_delim;  /* inside DELIMITER ;; (a program's body) */
	int prev_drop; /* the line before was DROP TABLE IF EXISTS */
	struct buf header, autoinc, views;
	int64_t n_autoinc;
};

static int is_drop_of(const struct walk *w, size_t i, const char *l, size_t n)
{
	if (i >= w->n)
		return 0;
	size_t ql = strlen(w->t[i].q);
	return n == 21 + ql + 2 && !memcmp(l, "DROP TABLE IF EXISTS ", 21) && !memcmp(l + 21, w->t[i].q, ql) &&
	       !memcmp(l + 21 + ql, ";\n", 2);
}

/* ") ENGINE=InnoDB AUTO_INCREMENT=42 DEFAULT ...": the counter goes to its
 * own file. */
static void take_counter(struct walk *w, struct buf *line)
{
	char *p = strstr(line->data, " AUTO_INCREMENT=");
	if (strncmp(line->data, ") ", 2) || !p)
		return;
	char *d = p + 16, *e = d;
	while (*e >= '0' && *e <= '9')
		e++;
	if (e == d)
		return;
	buf_printf(&w->autoinc, "ALTER TABLE %s AUTO_INCREMENT=%.*s;\n", w->t[w->cur].q, (int)(e - d), d);
	w->n_autoinc++;
	memmove(p, e, strlen(e) + 1);
	line->len = strlen(line->data);
}

/* One line of the schema dump. state: 0 header, 1 tables, 2 views, 3 footer. */
static void walk_line(struct walk *w, int *state, const char *l, size_t n)
{
	int delim_line = n >= 10 && !memcmp(l, "DELIMITER ", 10);
	int free_line = !w->in_delim && !delim_line;
	if (delim_line)
		w->in_delim = n >= 12 && !memcmp(l, "DELIMITER ;;", 12);
	if (*state == 3)
		return;
	if (free_line && n == sizeof(FOOTER) - 1 && !memcmp(l, FOOTER, n)) {
		*state = 3;
		return;
	}
	size_t next = *state == 0 ? 0 : w->cur + 1;
	if (free_line && *state != 2 && is_drop_of(w, next, l, n)) {
		*state = 1;
		w->cur = next;
		w->part = 0;
		w->prev_drop = 1;
		buf_add(&w->t[w->cur].create, l, n);
		return;
	}
	if (free_line && *state == 1 && !w->prev_drop && n > 29 && !memcmp(l, "/*!50001 DROP VIEW IF EXISTS ", 29))
		*state = 2;
	w->prev_drop = 0;
	if (*state == 0) {
		buf_add(&w->header, l, n);
		return;
	}
	if (*state == 2) {
		buf_add(&w->views, l, n);
		return;
	}
	struct my_table *t = &w->t[w->cur];
	if (w->part == 2) {
		buf_add(&t->end, l, n);
		return;
	}
	struct buf line = BUF_INIT;
	buf_add(&line, l, n);
	take_counter(w, &line);
	buf_add(&t->create, line.data, line.len);
	buf_free(&line);
	/* The last line of a table's (or a view stand-in's) definition. */
	static const char table_end[] = "/*!40101 SET character_set_client = @saved_cs_client */;\n";
	static const char view_end[] = "SET character_set_client = @saved_cs_client;\n";
	if (free_line && ((n == sizeof(table_end) - 1 && !memcmp(l, table_end, n)) ||
			  (n == sizeof(view_end) - 1 && !memcmp(l, view_end, n))))
		w->part = 2;
}

/* The views' part, one schema entry per view. */
static void views_schema(struct walk *w, cJSON *schema)
{
	const char *p = w->views.data, *end = p ? p + w->views.len : NULL;
	while (p && p < end) {
		const char *start = p, *name = NULL;
		for (size_t i = 0; i < w->n && !name; i++) {
			char *mark = xasprintf("/*!50001 DROP VIEW IF EXISTS %s*/;\n", w->t[i].q);
			if (!strncmp(p, mark, strlen(mark)))
				name = w->t[i].name;
			free(mark);
		}
		const char *q = start;
		do {
			const char *nl = memchr(q, '\n', (size_t)(end - q));
			q = nl ? nl + 1 : end;
		} while (q < end && strncmp(q, "/*!50001 DROP VIEW IF EXISTS ", 29));
		if (name)
			server_add_schema(schema, "view", name, name, start, (size_t)(q - start));
		p = q;
	}
}

/* The definitions of the tables (no rows) and their triggers, and the
 * views. */
static int dump_schema(struct my_conn *c, const struct job_cfg *job, const char *db, struct walk *w,
		       int user_options)
{
	struct args a;
	dump_args(&a, c);
	static const char *const opts[] = {"--no-data", "--triggers", "--skip-routines", NULL};
	for (const char *const *o = opts; *o; o++)
		args_add(&a, *o);
	for (size_t i = 0; user_options && i < job->n_options; i++)
		args_add(&a, job->options[i]);
	args_add(&a, db);
	for (size_t i = 0; i < w->n; i++)
		args_add(&a, w->t[i].name);
	struct child ch;
	int state = 0;
	int rc = child_start(&ch, &c->ce, a.v, 0, 1);
	if (rc == 0) {
		struct line_reader r;
		line_reader_init(&r, ch.out);
		const char *l;
		size_t n;
		while ((rc = line_reader_next(&r, &l, &n)) == 1)
			walk_line(w, &state, l, n);
		line_reader_free(&r);
		int frc = child_finish(&ch, rc < 0);
		if (rc == 0)
			rc = frc;
		if (rc == 0 && (state != 3 || w->cur + 1 != w->n))
			rc = err_set(ERR_GENERIC, "job '%s': %s wrote what dbgit does not understand (%zu of %zu tables "
						  "seen)", job->name, c->dump, state ? w->cur + 1 : 0, w->n);
	}
	args_free(&a);
	return rc < 0 ? rc : 0;
}

/* Routines and events: a run of their own, its header and footer left out. */
static int dump_routines(struct my_conn *c, const char *db, struct buf *out)
{
	struct args a;
	dump_args(&a, c);
	static const char *const opts[] = {"--no-create-info", "--no-data", "--skip-triggers", "--routines",
					   "--events", NULL};
	for (const char *const *o = opts; *o; o++)
		args_add(&a, *o);
	args_add(&a, db);
	struct child ch;
	int rc = child_start(&ch, &c->ce, a.v, 0, 1);
	if (rc == 0) {
		struct line_reader r;
		line_reader_init(&r, ch.out);
		const char *l;
		size_t n;
		int body = 0, done = 0;
		while ((rc = line_reader_next(&r, &l, &n)) == 1) {
			if (n == sizeof(FOOTER) - 1 && !memcmp(l, FOOTER, n))
				done = 1;
			if (!body && (n <= 1 || !memcmp(l, "/*!40", 5) || !memcmp(l, "/*M!", 4)))
				continue;
			body = 1;
			if (!done)
				buf_add(out, l, n);
		}
		line_reader_free(&r);
		int frc = child_finish(&ch, rc < 0);
		if (rc == 0)
			rc = frc;
		if (rc == 0 && !done)
			rc = err_set(ERR_GENERIC, "job '%s': %s ended its output early", c->ce.job, c->dump);
	}
	args_free(&a);
	return rc < 0 ? rc : 0;
}

static int write_part(struct dump_sink *sink, const struct my_table *t, const char *name, const struct buf *b)
{
	if (!sink)
		return 0;
	char *path = xasprintf(TABLE_PREFIX "%s/%s", t->dir, name);
	int rc = server_write_text(sink, path, b->data ? b->data : "", b->len);
	free(path);
	return rc;
}

/* One table's rows from the session, hashed and (sink) written. */
static int copy_rows(struct session *s, const struct job_cfg *job, const struct my_table *t,
		     struct dump_sink *sink, cJSON *summaries)
{
	char *sql = rows_select(t);
	log_debug("job '%s': %s", job->name, sql);
	int rc = sess_send(s, sql);
	free(sql);
	int keep = !server_data_excluded(job, t->name, 0);
	if (rc == 0 && sink && keep) {
		char *path = xasprintf(TABLE_PREFIX "%s/1-rows.sql", t->dir);
		rc = sink->open(sink, path, CHUNK_LINES);
		free(path);
	}
	struct sha256 *h = sha256_new();
	int64_t rows = 0;
	const char *l;
	size_t n;
	while (rc == 0 && (rc = sess_line(s, &l, &n)) == 1) {
		rc = 0;
		/* The server makes a line NULL when it would exceed its
		 * max_allowed_packet: a row that cannot be written is an error,
		 * never a row lost. */
		if (n < 12 || memcmp(l, "INSERT INTO ", 12)) {
			rc = err_set(ERR_GENERIC,
				     "job '%s': table %s: a row the server would not write out (%.40s): a value "
				     "longer in hex than the server's max_allowed_packet?",
				     job->name, t->name, l);
			break;
		}
		if (!keep)
			continue;
		sha256_update(h, l, n);
		rows++;
		if (sink)
			rc = sink->write(sink, l, n);
		if (rc == 0 && (rows & 0xfff) == 0)
			rc = sig_check();
	}
	if (rc == 0 && sink && keep)
		rc = sink->close(sink);
	char hex[65];
	sha256_final_hex(h, hex);
	if (rc == 0)
		server_add_summary(summaries, t->name, rows, hex);
	return rc;
}

/* What dump and inspect share: in one snapshot, every table's definition
 * and rows; then the counters, routines and views, read from db. no_data:
 * the schema digest only (diff's sides). */
static int walk_database(struct my_conn *c, const struct job_cfg *job, const char *db, struct dump_sink *sink,
			 cJSON *info, int no_data, int user_options)
{
	cJSON *rows = cJSON_CreateArray();
	cJSON *summaries = cJSON_AddArrayToObject(info, "tables");
	cJSON *schema = cJSON_AddArrayToObject(info, "schema");
	struct walk w;
	memset(&w, 0, sizeof(w));
	struct session s;
	memset(&s, 0, sizeof(s));
	struct buf routines = BUF_INIT;
	struct buf charset = BUF_INIT;
	int rc = read_tables(c, job, db, rows, &w.t, &w.n);
	if (rc == 0)
		db_charset(rows, &charset);
	if (rc == 0 && !no_data && (rc = sess_start(&s, c, db)) == 0)
		rc = sess_snapshot(&s, w.t, w.n);
	if (rc == 0 && w.n)
		rc = dump_schema(c, job, db, &w, user_options);
	if (rc == 0 && sink) {
		/* One transaction per table's rows, not one per row (a commit,
		 * so a flush, each): each CREATE commits the rows before it,
		 * and 2-auto-increment.sql ends with the last COMMIT. */
		if (charset.len)
			buf_printf(&w.header, "ALTER DATABASE %s;\n", charset.data);
		buf_puts(&w.header, "SET autocommit = 0;\n");
		rc = server_write_text(sink, "0-begin.sql", w.header.data, w.header.len);
	}
	for (size_t i = 0; rc == 0 && i < w.n; i++) {
		const struct my_table *t = &w.t[i];
		if (!t->view)
			server_add_schema(schema, "table", t->name, t->name, t->create.data, t->create.len);
		if (t->end.len && strstr(t->end.data, "DELIMITER ;;"))
			server_add_schema(schema, "trigger", t->name, t->name, t->end.data, t->end.len);
		rc = write_part(sink, t, "0-create.sql", &t->create);
		if (rc == 0 && !t->view && !no_data)
			rc = copy_rows(&s, job, t, sink, summaries);
		if (rc == 0)
			rc = write_part(sink, t, "2-end.sql", &t->end);
	}
	int erc = no_data ? 0 : sess_end(&s, rc < 0);
	if (rc == 0)
		rc = erc;
	if (rc == 0 && !no_data) {
		char hex[65];
		struct sha256 *h = sha256_new();
		sha256_update(h, w.autoinc.data ? w.autoinc.data : "", w.autoinc.len);
		sha256_final_hex(h, hex);
		server_add_summary(summaries, "(auto_increment)", w.n_autoinc, hex);
		h = sha256_new();
		sha256_update(h, charset.data ? charset.data : "", charset.len);
		sha256_final_hex(h, hex);
		server_add_summary(summaries, "(database)", 0, hex);
	}
	if (rc == 0 && sink) {
		struct buf b = BUF_INIT;
		buf_add(&b, w.autoinc.data ? w.autoinc.data : "", w.autoinc.len);
		buf_puts(&b, "COMMIT;\n");
		rc = server_write_text(sink, "2-auto-increment.sql", b.data, b.len);
		buf_free(&b);
	}
	if (rc == 0)
		rc = dump_routines(c, db, &routines);
	if (rc == 0 && routines.len)
		server_add_schema(schema, "function", "(routines and events)", NULL, routines.data, routines.len);
	if (rc == 0 && sink)
		rc = server_write_text(sink, "3-routines.sql", routines.data, routines.len);
	if (rc == 0)
		views_schema(&w, schema);
	if (rc == 0 && sink)
		rc = server_write_text(sink, "4-views.sql", w.views.data, w.views.len);
	buf_free(&routines);
	buf_free(&charset);
	buf_free(&w.header);
	buf_free(&w.autoinc);
	buf_free(&w.views);
	free_tables(w.t, w.n);
	cJSON_Delete(rows);
	return rc;
}

static int my_dump_db(const struct job_cfg *job, struct dump_sink *sink, cJSON *info)
{
	struct my_conn c;
	if (conn_open(job, &c) < 0)
		return ERR_GENERIC;
	int rc = walk_database(&c, job, job->database, sink, info, 0, 1);
	if (rc == 0) {
		cJSON *formats = cJSON_AddArrayToObject(info, "formats");
		cJSON_AddItemToArray(formats, cJSON_CreateString("sql"));
	}
	conn_free(&c);
	return rc;
}

static int drop_database(struct my_conn *c, const char *name)
{
	char *q = quote_ident(name);
	char *sql = xasprintf("DROP DATABASE IF EXISTS %s", q);
	int rc = run_sql(c, NULL, sql, NULL, 1);
	free(sql);
	free(q);
	return rc;
}

static int create_database(struct my_conn *c, const char *name)
{
	char *q = quote_ident(name);
	char *sql = xasprintf("CREATE DATABASE %s CHARACTER SET utf8mb4", q);
	int rc = run_sql(c, NULL, sql, NULL, 0);
	free(sql);
	free(q);
	return rc;
}

/* The client that runs a script (an untrusted one: --binary-mode obeys no
 * client command but DELIMITER) into db, stopping at the first error. */
static int start_loader(struct my_conn *c, const char *db, struct child *ch, struct args *a)
{
	args_init(a, c, c->client);
	args_add(a, "--binary-mode");
	args_add(a, "--max-allowed-packet=1073741824");
	args_add(a, "--batch");
	args_add(a, db);
	return child_start(ch, &c->ce, a->v, 1, 0);
}

/* The snapshot's .sql files, in path order, through one client. */
static int run_script(struct my_conn *c, const struct job_cfg *job, struct dump_source *src, const char *db)
{
	struct args a;
	struct child ch;
	if (start_loader(c, db, &ch, &a) < 0) {
		args_free(&a);
		return ERR_GENERIC;
	}
	char *chunk = malloc(1 << 16);
	const char *path;
	int files = 0, rc = 0;
	while (rc == 0 && (rc = src->next(src, &path)) == 1) {
		size_t plen = strlen(path);
		rc = 0;
		if (plen < 4 || strcmp(path + plen - 4, ".sql"))
			continue;
		files++;
		ssize_t n;
		while ((n = src->read(src, chunk, 1 << 16)) > 0)
			if (child_write(&ch, chunk, (size_t)n) < 0) {
				rc = ERR_GENERIC; /* the client stopped: its error says why */
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
	int frc = child_finish(&ch, src_failed);
	if (src_failed)
		rc = err_set(rc, "%s", keep);
	else if (frc < 0)
		rc = frc;
	else if (rc < 0)
		rc = err_set(ERR_GENERIC, "job '%s': %s stopped reading the snapshot", job->name, c->client);
	else if (files == 0)
		rc = err_set(ERR_VERIFY, "the snapshot of '%s' has no SQL files", job->name);
	free(chunk);
	args_free(&a);
	return rc;
}

static int my_restore_db(const struct job_cfg *job, struct dump_source *src, const char *format, const char *target)
{
	(void)format;
	struct my_conn c;
	if (conn_open(job, &c) < 0)
		return ERR_GENERIC;
	char *db = server_scratch_name(job, target);
	int rc = drop_database(&c, db);
	if (rc == 0)
		rc = create_database(&c, db);
	if (rc == 0)
		rc = run_script(&c, job, src, db);
	if (rc < 0) {
		char keep[1024];
		snprintf(keep, sizeof(keep), "%s", err_last());
		drop_database(&c, db);
		rc = err_set(rc, "%s", keep);
	}
	free(db);
	conn_free(&c);
	return rc;
}

static int my_inspect(const struct job_cfg *job, const char *target, cJSON *info, struct buf *problems)
{
	struct my_conn c;
	int rc = conn_open(job, &c);
	if (rc == 0) {
		char *db = server_scratch_name(job, target);
		rc = walk_database(&c, job, db, NULL, info, 0, 1);
		free(db);
		conn_free(&c);
	}
	if (rc < 0) {
		buf_printf(problems, "%s\n", err_last());
		err_clear();
		rc = ERR_VERIFY;
	}
	return rc;
}

static void my_discard(const struct job_cfg *job, const char *target)
{
	if (!strchr(target, '/'))
		return; /* a user's database, never a scratch one */
	struct my_conn c;
	if (conn_open(job, &c) < 0) {
		err_clear();
		return;
	}
	char *db = server_scratch_name(job, target);
	if (drop_database(&c, db) < 0) {
		log_warn("job '%s': scratch database %s not dropped: %s", job->name, db, err_last());
		err_clear();
	}
	free(db);
	conn_free(&c);
}

/* How many tables and views db holds; -1 if there is no such database. */
static int count_tables(struct my_conn *c, const char *name, int64_t *out)
{
	char *lit = quote_literal(name);
	char *sql = xasprintf("SELECT JSON_OBJECT('db', (SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE "
			      "SCHEMA_NAME = %s), 'n', (SELECT COUNT(*) FROM information_schema.TABLES WHERE "
			      "TABLE_SCHEMA = %s));",
			      lit, lit);
	cJSON *rows = cJSON_CreateArray();
	int rc = run_sql(c, NULL, sql, rows, 0);
	const cJSON *o = cJSON_GetArrayItem(rows, 0);
	const cJSON *db = cJSON_GetObjectItemCaseSensitive(o, "db"), *n = cJSON_GetObjectItemCaseSensitive(o, "n");
	if (rc == 0 && (!cJSON_IsNumber(db) || !cJSON_IsNumber(n)))
		rc = err_set(ERR_GENERIC, "job '%s': %s gave no count", c->ce.job, c->client);
	if (rc == 0)
		*out = db->valuedouble ? (int64_t)n->valuedouble : -1;
	cJSON_Delete(rows);
	free(sql);
	free(lit);
	return rc;
}

static int my_db_target_check(const struct job_cfg *job, const char *name, int force)
{
	/* A database is a directory on the server: no '/', '\', '.'. */
	size_t len = strlen(name);
	if (!len || len > 64 || strpbrk(name, "/\\.") || name[len - 1] == ' ')
		return err_set(ERR_USAGE,
			       "'%s' is not a MySQL database name (at most 64 bytes, no '/', '\\' or '.', no trailing space)",
			       name);
	struct my_conn c;
	if (conn_open(job, &c) < 0)
		return ERR_GENERIC;
	int64_t tables = 0;
	int rc = count_tables(&c, name, &tables);
	if (rc == 0 && tables > 0 && !force)
		rc = err_set(ERR_USAGE,
			     "database %s already holds %lld tables or views; --force replaces it (once the snapshot "
			     "is restored and verified in a scratch database)",
			     name, (long long)tables);
	conn_free(&c);
	return rc;
}

/* mariadb-dump of from with opts, piped into the client on to. */
static int pipe_dump(struct my_conn *c, const char *from, const char *to, const char *const *opts)
{
	struct args da, la;
	dump_args(&da, c);
	for (const char *const *o = opts; *o; o++)
		args_add(&da, *o);
	args_add(&da, from);
	memset(&la, 0, sizeof(la));
	struct child dump, load;
	int rc = child_start(&dump, &c->ce, da.v, 0, 1);
	int lrc = rc == 0 ? start_loader(c, to, &load, &la) : ERR_GENERIC;
	if (rc == 0 && lrc < 0) {
		child_finish(&dump, 1);
		rc = lrc;
	}
	if (rc == 0) {
		char *chunk = malloc(1 << 16);
		ssize_t n;
		while ((n = read(dump.out, chunk, 1 << 16)) > 0 && (rc = sig_check()) == 0)
			if (child_write(&load, chunk, (size_t)n) < 0) {
				rc = ERR_GENERIC;
				break;
			}
		free(chunk);
		int drc = child_finish(&dump, rc < 0);
		int frc = child_finish(&load, drc < 0);
		if (frc < 0)
			rc = frc;
		else if (drc < 0)
			rc = drc;
		else if (rc == ERR_GENERIC)
			rc = err_set(ERR_GENERIC, "job '%s': %s stopped reading", c->ce.job, c->client);
	}
	args_free(&da);
	args_free(&la);
	return rc;
}

/* MySQL cannot rename a database, and mariadb-dump's rows are not exact
 * (a FLOAT in 6 digits): the verified scratch database is copied into to
 * by the server itself. Its definitions first (tables, routines, events,
 * views), then each table's rows by INSERT ... SELECT, then the triggers,
 * so that they do not fire on the copy. */
static int copy_database(struct my_conn *c, const struct job_cfg *job, const char *from, const char *to)
{
	static const char *const defs[] = {"--no-data", "--skip-triggers", "--routines", "--events", NULL};
	static const char *const triggers[] = {"--no-data", "--no-create-info", "--triggers", "--skip-routines", NULL};
	cJSON *rows = cJSON_CreateArray();
	struct my_table *t = NULL;
	size_t n = 0;
	struct session s;
	memset(&s, 0, sizeof(s));
	char *qf = quote_ident(from), *qt = quote_ident(to);
	int rc = read_tables(c, job, from, rows, &t, &n);
	/* The default first: routines take the database's collation when
	 * they are made. */
	struct buf charset = BUF_INIT;
	db_charset(rows, &charset);
	if (rc == 0 && charset.len) {
		char *sql = xasprintf("ALTER DATABASE %s %s", qt, charset.data);
		rc = run_sql(c, NULL, sql, NULL, 0);
		free(sql);
	}
	buf_free(&charset);
	if (rc == 0)
		rc = pipe_dump(c, from, to, defs);
	if (rc == 0 && (rc = sess_start(&s, c, to)) == 0)
		rc = sess_exec(&s, "SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO', foreign_key_checks = 0, unique_checks = 0");
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (t[i].view)
			continue;
		const char *cols = t[i].names.data ? t[i].names.data : "";
		char *sql = xasprintf("INSERT INTO %s.%s (%s) SELECT %s FROM %s.%s", qt, t[i].q, cols, cols, qf, t[i].q);
		rc = sess_exec(&s, sql);
		free(sql);
	}
	int erc = sess_end(&s, rc < 0);
	if (rc == 0)
		rc = erc;
	if (rc == 0)
		rc = pipe_dump(c, from, to, triggers);
	free(qf), free(qt);
	free_tables(t, n);
	cJSON_Delete(rows);
	return rc;
}

static int my_db_install(const struct job_cfg *job, const char *scratch, const char *name, int force)
{
	struct my_conn c;
	if (conn_open(job, &c) < 0)
		return ERR_GENERIC;
	char *from = server_scratch_name(job, scratch);
	int64_t tables = 0;
	int rc = count_tables(&c, name, &tables);
	if (rc == 0 && tables > 0 && !force)
		rc = err_set(ERR_USAGE, "database %s got tables meanwhile; nothing replaced", name);
	if (rc == 0 && tables > 0)
		rc = drop_database(&c, name);
	if (rc == 0 && tables != 0)
		rc = create_database(&c, name);
	if (rc == 0)
		rc = copy_database(&c, job, from, name);
	/* Its copy has the name: the scratch one goes (on failure the caller
	 * discards it). */
	if (rc == 0 && drop_database(&c, from) < 0) {
		log_warn("job '%s': scratch database %s not dropped: %s", job->name, from, err_last());
		err_clear();
	}
	free(from);
	conn_free(&c);
	return rc;
}

/*
 * diff --stat: both snapshots restored into scratch databases; each table
 * read from both as (hex of its quoted key, MD5 of its quoted row) in the
 * order of the key's hex (so byte order), and merged by
 * server_compare_keyed. A table without a primary key is keyed by its
 * whole row.
 */
struct cmp_side {
	struct child ch;
	struct args a;
	struct line_reader r;
	int open;
};

static int side_start(struct cmp_side *s, struct my_conn *c, const char *db, const struct my_table *t)
{
	memset(s, 0, sizeof(*s));
	if (!t)
		return 0;
	char *line = row_line(t);
	char *sql = t->pk.len ? xasprintf("SELECT HEX(CONCAT_WS(',',%s)) AS k, MD5(%s) FROM %s ORDER BY k", t->keyq.data,
					  line, t->q)
			      : xasprintf("SELECT HEX(l) AS k, MD5(l) FROM (SELECT %s AS l FROM %s) x ORDER BY k", line,
					  t->q);
	free(line);
	args_init(&s->a, c, c->client);
	args_add(&s->a, "--batch");
	args_add(&s->a, "--skip-column-names");
	args_add(&s->a, "--quick");
	args_own(&s->a, xasprintf("--execute=%s", sql));
	args_add(&s->a, db);
	free(sql);
	int rc = child_start(&s->ch, &c->ce, s->a.v, 0, 1);
	if (rc == 0) {
		line_reader_init(&s->r, s->ch.out);
		s->open = 1;
	}
	return rc;
}

static int side_finish(struct cmp_side *s, int failed)
{
	int rc = 0;
	if (s->open) {
		line_reader_free(&s->r);
		rc = child_finish(&s->ch, failed);
	}
	args_free(&s->a);
	memset(s, 0, sizeof(*s));
	return rc;
}

static int side_next(void *side, struct buf *line, int *have)
{
	struct cmp_side *s = side;
	const char *l;
	size_t n;
	buf_clear(line);
	*have = 0;
	if (!s->open)
		return 0;
	int rc = line_reader_next(&s->r, &l, &n);
	if (rc == 1) {
		buf_add(line, l, n && l[n - 1] == '\n' ? n - 1 : n);
		*have = 1;
	}
	return rc < 0 ? rc : 0;
}

static const struct my_table *find_table(const struct my_table *t, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(t[i].name, name))
			return &t[i];
	return NULL;
}

static int compare_table(struct my_conn *c, const char *dba, const char *dbb, const struct my_table *ta,
			 const struct my_table *tb, cJSON *tables)
{
	struct cmp_side a, b;
	int rc = side_start(&a, c, dba, ta);
	int rb = side_start(&b, c, dbb, tb);
	if (rc == 0)
		rc = rb;
	if (rc == 0)
		rc = server_compare_keyed(side_next, ta ? &a : NULL, tb ? &b : NULL,
					  ta ? ta->name : tb->name, tables);
	int fa = side_finish(&a, rc < 0), fb = side_finish(&b, rc < 0);
	if (rc == 0)
		rc = fa < 0 ? fa : fb;
	return rc;
}

static int my_compare(const struct job_cfg *job, const char *old_db, const char *new_db, cJSON *out)
{
	struct my_conn c;
	if (conn_open(job, &c) < 0)
		return ERR_GENERIC;
	char *dba = server_scratch_name(job, old_db), *dbb = server_scratch_name(job, new_db);
	cJSON *ra = cJSON_CreateArray(), *rb = cJSON_CreateArray();
	cJSON *ia = cJSON_CreateObject(), *ib = cJSON_CreateObject();
	struct my_table *ta = NULL, *tb = NULL;
	size_t na = 0, nb = 0;
	int rc = read_tables(&c, job, dba, ra, &ta, &na);
	if (rc == 0)
		rc = read_tables(&c, job, dbb, rb, &tb, &nb);
	if (rc == 0)
		rc = walk_database(&c, job, dba, NULL, ia, 1, 0);
	if (rc == 0)
		rc = walk_database(&c, job, dbb, NULL, ib, 1, 0);
	cJSON *tables = cJSON_AddArrayToObject(out, "tables");
	cJSON *schema = cJSON_AddArrayToObject(out, "schema");
	if (rc == 0)
		server_schema_diff(cJSON_GetObjectItemCaseSensitive(ia, "schema"),
				   cJSON_GetObjectItemCaseSensitive(ib, "schema"), schema);
	for (size_t i = 0; rc == 0 && i < na; i++)
		if (!ta[i].view)
			rc = compare_table(&c, dba, dbb, &ta[i], find_table(tb, nb, ta[i].name), tables);
	for (size_t i = 0; rc == 0 && i < nb; i++)
		if (!tb[i].view && !find_table(ta, na, tb[i].name))
			rc = compare_table(&c, dba, dbb, NULL, &tb[i], tables);
	free_tables(ta, na);
	free_tables(tb, nb);
	cJSON_Delete(ra), cJSON_Delete(rb), cJSON_Delete(ia), cJSON_Delete(ib);
	free(dba), free(dbb);
	conn_free(&c);
	return rc;
}

/* check: the client connects and reads the database, the dump tool is there. */
static int my_probe(const struct job_cfg *job)
{
	struct my_conn c;
	if (conn_open(job, &c) < 0)
		return ERR_GENERIC;
	cJSON *rows = cJSON_CreateArray();
	int rc = run_sql(&c, job->database,
			 "SELECT JSON_OBJECT('n', COUNT(*)) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE();",
			 rows, 0);
	cJSON_Delete(rows);
	if (rc == 0) {
		char *argv[] = {(char *)c.dump, "--version", NULL};
		struct child ch;
		if ((rc = child_start(&ch, &c.ce, argv, 0, 0)) == 0)
			rc = child_finish(&ch, 0);
	}
	conn_free(&c);
	return rc;
}

static int my_check(const struct job_cfg *job)
{
	return server_check_keys(job, "mysql", "MySQL/MariaDB");
}

const struct engine engine_mysql = {
	.name = "mysql",
	.check = my_check,
	.dump = my_dump_db,
	.restore = my_restore_db,
	.inspect = my_inspect,
	.compare = my_compare,
	.early_format = NULL,
	.discard = my_discard,
	.db_target_check = my_db_target_check,
	.db_install = my_db_install,
	.probe = my_probe,
};
