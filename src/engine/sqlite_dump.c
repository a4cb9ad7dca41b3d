/*
 * sqlite engine, dump: the SQL text (one file per table's schema and rows,
 * one row per line) and the page-exact binary copy, both inside one read
 * transaction, with each table's row count and checksum. See sqlite.c for
 * the layout and the checksum's definition.
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbgit/engine.h"
#include "server.h"
#include "sqlite_internal.h"
#include "sqlite_value.h"

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
int sqlite_walk_rows(struct sqlite_dumper *d, const struct sqlite_table *t, struct dump_sink *sink,
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
static int dump_sql(struct sqlite_dumper *d, const struct job_cfg *job, struct sqlite_table *tables, size_t n,
		    struct dump_sink *sink, cJSON *summaries)
{
	int rc = 0;
	int64_t page_size = 0, auto_vacuum = 0, user_version = 0, app_id = 0;
	sqlite_pragma_int(d->db, "PRAGMA page_size", &page_size);
	sqlite_pragma_int(d->db, "PRAGMA auto_vacuum", &auto_vacuum);
	sqlite_pragma_int(d->db, "PRAGMA user_version", &user_version);
	sqlite_pragma_int(d->db, "PRAGMA application_id", &app_id);
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
		struct sqlite_table *t = &tables[i];
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
		if (sqlite_data_excluded(job, t->name)) {
			/* Restored empty: that is what the snapshot must show. */
			char empty[65];
			sha256_final_hex(sha256_new(), empty);
			server_add_summary(summaries, t->name, 0, empty);
			continue;
		}
		path = xasprintf(SQL_PREFIX "%s/1-rows.sql", t->dir);
		rc = sink->open(sink, path, CHUNK_LINES);
		free(path);
		int64_t rows;
		char sum[65];
		if (rc < 0 || (rc = sqlite_walk_rows(d, t, sink, &rows, sum)) < 0 || (rc = sink->close(sink)) < 0)
			goto out;
		server_add_summary(summaries, t->name, rows, sum);
	}
	if (sqlite_has_sequence(d->db) && sqlite_keeps_autoincrement(tables, n)) {
		struct sqlite_table seq = sqlite_sequence_table(job);
		int64_t rows;
		char sum[65];
		rc = sink->open(sink, "2-sequence.sql", CHUNK_LINES);
		if (rc == 0)
			rc = sink->write(sink, "DELETE FROM sqlite_sequence;\n", 29);
		if (rc == 0)
			rc = sqlite_walk_rows(d, &seq, sink, &rows, sum);
		if (rc == 0)
			rc = sink->close(sink);
		if (rc == 0)
			server_add_summary(summaries, "sqlite_sequence", rows, sum);
		sqlite_table_free(&seq);
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
		if (sqlite_excluded(job, (const char *)sqlite3_column_text(st, 1)))
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
static int dump_binary(struct sqlite_dumper *d, struct dump_sink *sink)
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

int sqlite_dump(const struct job_cfg *job, struct dump_sink *sink, cJSON *info)
{
	struct sqlite_dumper d = {0};
	d.path = job->path;
	struct sqlite_table *tables = NULL;
	size_t n = 0;
	int rc = sqlite_open_source(job, &d.db);
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
	if ((rc = sqlite_list_tables(d.db, d.path, job, &tables, &n)) < 0 ||
	    (rc = sqlite_check_collations(d.db, d.path, tables, n)) < 0)
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
			if ((rc = sqlite_walk_rows(&d, &tables[i], NULL, &rows, sum)) < 0)
				goto out;
			server_add_summary(summaries, tables[i].name, rows, sum);
		}
		if (sqlite_has_sequence(d.db)) {
			struct sqlite_table seq = sqlite_sequence_table(job);
			int64_t rows;
			char sum[65];
			rc = sqlite_walk_rows(&d, &seq, NULL, &rows, sum);
			if (rc == 0)
				server_add_summary(summaries, "sqlite_sequence", rows, sum);
			sqlite_table_free(&seq);
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
	src = sqlite_fk_violations(d.db, &fk);
	if (src != SQLITE_OK) {
		rc = sqlite_fail(d.db, src, d.path, "PRAGMA foreign_key_check");
		goto out;
	}
	sqlite_pragma_int(d.db, "PRAGMA user_version", &uv);
	sqlite_pragma_int(d.db, "PRAGMA application_id", &aid);
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
	rc = sqlite_schema_digest(d.db, d.path, job, info);
out:
	sqlite_free_tables(tables, n);
	buf_free(&d.line);
	buf_free(&d.framed);
	sqlite3_finalize(d.real_check);
	sqlite3_exec(d.db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(d.db);
	return rc;
}
