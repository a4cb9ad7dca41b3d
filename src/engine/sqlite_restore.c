/*
 * sqlite engine, restore: a snapshot's SQL (hostile text, run through
 * sqlite_exec.c) or its binary copy into a new database, some tables only
 * if asked; and inspect, which reads a restored database back into the
 * summaries a dump records, for verification.
 */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "dbgit/engine.h"
#include "server.h"
#include "sqlite_internal.h"

static int only_wanted(const struct job_cfg *job, const char *name)
{
	for (size_t i = 0; i < job->n_only; i++)
		if (!sqlite3_stricmp(job->only_tables[i], name))
			return 1;
	return 0;
}

/* restore --table: the begin, end, sequence and schema files, and the
 * folders of the tables asked for; no other table's rows, no binary copy. */
int sqlite_restore_wants(const struct job_cfg *job, const char *path)
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
		char *d = server_sanitize(job->only_tables[i]);
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
	if (rc == SQLITE_OK && sqlite_has_sequence(db)) {
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

/*
 * Read-ahead: a restore spends about a sixth of its time getting the
 * snapshot's files out of the repository (pread, inflate, hashing each
 * object) and the rest in SQLite, one after the other on one core. Here a
 * thread reads the files the restore wants (restore_wants) into pieces of
 * PF_PIECE bytes, at most PF_SLOTS of them ahead (1 MiB: the restore's
 * memory stays bounded), while the restore inserts what came before. The
 * restore sees the same files, bytes and errors in the same order as from
 * the source itself; only the thread touches the source.
 */
#define PF_SLOTS 16
#define PF_PIECE (1 << 16)

enum { PF_PATH, PF_DATA, PF_END, PF_ERROR };

struct pf_slot {
	int kind;
	char *text; /* PF_PATH: the path; PF_ERROR: the message */
	char *data; /* PF_DATA */
	size_t len;
	int code;      /* PF_END, PF_ERROR: what next() returns */
	int from_read; /* PF_ERROR: read() failed (else next()) */
};

struct prefetch {
	struct dump_source src; /* first */
	struct dump_source *inner;
	const struct job_cfg *job;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t more, room;
	struct pf_slot q[PF_SLOTS];
	size_t head, count;
	int stop; /* the restore is done with it */
	/* the restore's side */
	struct pf_slot cur; /* the piece being read */
	size_t off;
	char *path;
	struct pf_slot last; /* PF_END or PF_ERROR, once seen by next() */
	int finished;
};

static void pf_slot_free(struct pf_slot *s)
{
	free(s->text);
	free(s->data);
	memset(s, 0, sizeof(*s));
}

/* The thread's side: 0, or -1 once the restore stopped reading. */
static int pf_push(struct prefetch *p, struct pf_slot *s)
{
	pthread_mutex_lock(&p->mu);
	while (p->count == PF_SLOTS && !p->stop)
		pthread_cond_wait(&p->room, &p->mu);
	int stop = p->stop;
	if (!stop) {
		p->q[(p->head + p->count) % PF_SLOTS] = *s;
		p->count++;
		pthread_cond_signal(&p->more);
	}
	pthread_mutex_unlock(&p->mu);
	if (stop)
		pf_slot_free(s);
	return stop ? -1 : 0;
}

static int pf_wanted(const struct job_cfg *job, const char *path)
{
	size_t n = strlen(path);
	return n >= 4 && !strcmp(path + n - 4, ".sql") && sqlite_restore_wants(job, path);
}

static void *pf_run(void *arg)
{
	struct prefetch *p = arg;
	for (;;) {
		const char *path;
		int rc = p->inner->next(p->inner, &path);
		if (rc <= 0) {
			struct pf_slot s = {.kind = rc == 0 ? PF_END : PF_ERROR, .code = rc};
			if (rc < 0)
				s.text = xstrdup(err_last());
			pf_push(p, &s);
			break;
		}
		struct pf_slot s = {.kind = PF_PATH, .text = xstrdup(path)};
		if (pf_push(p, &s) < 0)
			break;
		if (!pf_wanted(p->job, path))
			continue;
		ssize_t n;
		do {
			char *piece = malloc(PF_PIECE);
			n = piece ? p->inner->read(p->inner, piece, PF_PIECE) : -1;
			struct pf_slot d = {.kind = PF_DATA, .data = piece, .len = n > 0 ? (size_t)n : 0};
			if (n < 0) {
				d = (struct pf_slot){.kind = PF_ERROR, .code = ERR_VERIFY, .from_read = 1};
				d.text = xstrdup(piece ? err_last() : "out of memory");
				free(piece);
			} else if (n == 0) {
				free(piece);
				break;
			}
			if (pf_push(p, &d) < 0 || n < 0)
				goto out;
		} while (n > 0);
	}
out:
	err_clear();
	return NULL;
}

/* The restore's side: the next slot, once there is one; pf_pop takes it. */
static struct pf_slot *pf_peek(struct prefetch *p)
{
	pthread_mutex_lock(&p->mu);
	while (!p->count)
		pthread_cond_wait(&p->more, &p->mu);
	struct pf_slot *s = &p->q[p->head];
	pthread_mutex_unlock(&p->mu);
	return s;
}

static struct pf_slot pf_pop(struct prefetch *p)
{
	pthread_mutex_lock(&p->mu);
	while (!p->count)
		pthread_cond_wait(&p->more, &p->mu);
	struct pf_slot s = p->q[p->head];
	memset(&p->q[p->head], 0, sizeof(p->q[p->head]));
	p->head = (p->head + 1) % PF_SLOTS;
	p->count--;
	pthread_cond_signal(&p->room);
	pthread_mutex_unlock(&p->mu);
	return s;
}

static int pf_finish(struct prefetch *p)
{
	if (p->last.kind == PF_ERROR)
		return err_set(p->last.code, "%s", p->last.text);
	return p->last.code;
}

static int pf_next(struct dump_source *d, const char **path)
{
	struct prefetch *p = (struct prefetch *)d;
	pf_slot_free(&p->cur);
	p->off = 0;
	free(p->path);
	p->path = NULL;
	while (!p->finished) {
		struct pf_slot s = pf_pop(p);
		if (s.kind == PF_DATA) {
			pf_slot_free(&s); /* the rest of a file not read to its end */
			continue;
		}
		if (s.kind == PF_PATH) {
			p->path = s.text;
			*path = p->path;
			return 1;
		}
		p->last = s;
		p->finished = 1;
	}
	return pf_finish(p);
}

static ssize_t pf_read(struct dump_source *d, void *buf, size_t len)
{
	struct prefetch *p = (struct prefetch *)d;
	while (p->off == p->cur.len) {
		if (p->finished)
			return p->last.kind == PF_ERROR && p->last.from_read ? -1 : 0;
		pf_slot_free(&p->cur);
		p->off = 0;
		struct pf_slot *s = pf_peek(p);
		if (s->kind == PF_PATH || s->kind == PF_END || (s->kind == PF_ERROR && !s->from_read))
			return 0; /* this file ends; next() takes it from here */
		if (s->kind == PF_ERROR) {
			p->last = pf_pop(p);
			p->finished = 1;
			err_set(p->last.code, "%s", p->last.text);
			return -1;
		}
		p->cur = pf_pop(p);
	}
	size_t n = p->cur.len - p->off < len ? p->cur.len - p->off : len;
	memcpy(buf, p->cur.data + p->off, n);
	p->off += n;
	return (ssize_t)n;
}

/* NULL if the thread cannot start: then the restore reads src itself. */
static struct prefetch *pf_start(struct dump_source *src, const struct job_cfg *job)
{
	struct prefetch *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->src.next = pf_next;
	p->src.read = pf_read;
	p->inner = src;
	p->job = job;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->more, NULL);
	pthread_cond_init(&p->room, NULL);
	if (sig_thread_create(&p->thread, pf_run, p) != 0) {
		pthread_mutex_destroy(&p->mu);
		pthread_cond_destroy(&p->more);
		pthread_cond_destroy(&p->room);
		free(p);
		return NULL;
	}
	return p;
}

static void pf_stop(struct prefetch *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->room);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	for (size_t i = 0; i < p->count; i++)
		pf_slot_free(&p->q[(p->head + i) % PF_SLOTS]);
	pf_slot_free(&p->cur);
	pf_slot_free(&p->last);
	free(p->path);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->more);
	pthread_cond_destroy(&p->room);
	free(p);
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
	struct prefetch *pf = pf_start(src, job);
	if (pf)
		src = &pf->src;
	char *chunk = malloc(1 << 16);
	const char *path;
	int files = 0;
	while ((rc = src->next(src, &path)) == 1) {
		size_t plen = strlen(path);
		if (plen < 4 || strcmp(path + plen - 4, ".sql") || !sqlite_restore_wants(job, path))
			continue;
		/* Some tables only: none of them may use AUTOINCREMENT. */
		if (x.only && !strncmp(path, "2-sequence", 10) && !sqlite_has_sequence(x.db))
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
	pf_stop(pf);
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

int sqlite_restore(const struct job_cfg *job, struct dump_source *src, const char *format, const char *target)
{
	if (!strcmp(format, "binary"))
		return restore_binary(job, src, target);
	return restore_sql(job, src, target);
}

/*
 * inspect runs PRAGMA integrity_check and PRAGMA foreign_key_check each on
 * a connection of its own, in a thread of its own, while this one computes
 * the checksums and the schema digest: the same checks on the same file,
 * read only by all, so the verdict and the problems (integrity lines
 * first, then foreign keys, then the rest, as before) are the same; the
 * three take about as long each, and a restore's wall time loses what the
 * second core can take. A check whose thread cannot start runs here.
 */
struct check {
	const char *target;
	int fk;	       /* foreign_key_check (else integrity_check) */
	int64_t count; /* fk: the violations */
	struct buf problems;
	int bad;
	int failed; /* integrity_check itself failed: nothing else is worth reporting */
};

static void check_run(struct check *c)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int rc = sqlite_open_untrusted(c->target, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, 0, &db);
	/* The other connection may be recovering a binary copy's WAL. */
	sqlite3_busy_timeout(db, 10000);
	if (c->fk) {
		if (rc == SQLITE_OK)
			rc = sqlite_fk_violations(db, &c->count);
		if (rc != SQLITE_OK) {
			buf_printf(&c->problems, "foreign_key_check: %s\n", sqlite3_errmsg(db));
			c->bad++;
		}
		sqlite3_close(db);
		return;
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);
	while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		const char *line = (const char *)sqlite3_column_text(st, 0);
		if (line && strcmp(line, "ok")) {
			buf_printf(&c->problems, "integrity_check: %s\n", line);
			c->bad++;
		}
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_finalize(st);
	if (rc != SQLITE_OK) {
		buf_printf(&c->problems, "integrity_check: %s\n", sqlite3_errmsg(db));
		c->bad++;
		c->failed = 1;
	}
	sqlite3_close(db);
}

static void *check_thread(void *arg)
{
	check_run(arg);
	return NULL;
}

/* Whether inspect may leave out PRAGMA foreign_key_check: only if the
 * caller says the expected findings are the source's own, taken by this
 * process (see verify.c), and only in a UTF-8 database. There the count
 * is a function of what the comparison proves equal to the source's: the
 * schema (every CREATE's text: foreign keys, parent keys, collations,
 * affinities, generated columns) and every ordinary table's rows, whose
 * checksums frame each value's type and exact bytes; the source's count
 * was taken in the same read transaction as its rows. In UTF-16 a text
 * value is checksummed as UTF-8, which can merge two different strings,
 * so there the check still runs. */
static int fk_implied(sqlite3 *db, const cJSON *info)
{
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(info, "foreign_key_check_implied")))
		return 0;
	sqlite3_stmt *st;
	int utf8 = 0;
	if (sqlite3_prepare_v2(db, "PRAGMA encoding", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		utf8 = !strcmp((const char *)sqlite3_column_text(st, 0), "UTF-8");
	sqlite3_finalize(st);
	return utf8;
}

int sqlite_inspect(const struct job_cfg *job, const char *target, cJSON *info, struct buf *problems)
{
	struct sqlite_dumper d = {0};
	d.path = target;
	struct sqlite_table *tables = NULL;
	size_t n = 0;
	/* Read-write: a binary copy of a WAL database needs its -shm. */
	int rc = sqlite_open_untrusted(target, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, 0, &d.db);
	if (rc != SQLITE_OK) {
		sqlite_fail(d.db, rc, target, "open");
		sqlite3_close(d.db);
		return ERR_VERIFY;
	}
	sqlite3_busy_timeout(d.db, 10000);
	size_t before = problems->len;
	int bad = 0;
	int skip_fk = fk_implied(d.db, info);
	cJSON_DeleteItemFromObjectCaseSensitive(info, "foreign_key_check_implied");
	struct check ic = {.target = target, .problems = BUF_INIT};
	struct check fc = {.target = target, .fk = 1, .problems = BUF_INIT};
	pthread_t ithread, fthread;
	int ithreaded = sig_thread_create(&ithread, check_thread, &ic) == 0;
	int fthreaded = 0;
	if (!ithreaded) {
		check_run(&ic);
		if (ic.failed)
			goto out;
	}
	if (!skip_fk && !(fthreaded = sig_thread_create(&fthread, check_thread, &fc) == 0))
		check_run(&fc);
	int64_t uv = 0, aid = 0;
	sqlite_pragma_int(d.db, "PRAGMA user_version", &uv);
	sqlite_pragma_int(d.db, "PRAGMA application_id", &aid);
	cJSON_AddNumberToObject(info, "user_version", (double)uv);
	cJSON_AddNumberToObject(info, "application_id", (double)aid);
	/* The snapshot holds only the tables that were dumped: callers pass
	 * a job without exclusions (today's exclude_tables must not hide a
	 * table an older snapshot holds). */
	if (sqlite_list_tables(d.db, target, job, &tables, &n) < 0) {
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
		if (sqlite_walk_rows(&d, &tables[i], NULL, &rows, sum) < 0) {
			buf_printf(problems, "table %s: %s\n", tables[i].name, err_last());
			err_clear();
			bad++;
			continue;
		}
		server_add_summary(summaries, tables[i].name, rows, sum);
	}
	if (sqlite_has_sequence(d.db)) {
		struct sqlite_table seq = sqlite_sequence_table(job);
		int64_t rows;
		char sum[65];
		if (sqlite_walk_rows(&d, &seq, NULL, &rows, sum) == 0)
			server_add_summary(summaries, "sqlite_sequence", rows, sum);
		sqlite_table_free(&seq);
	}
	if (sqlite_schema_digest(d.db, target, job, info) < 0) {
		buf_printf(problems, "%s\n", err_last());
		err_clear();
		bad++;
	}
out:
	if (ithreaded)
		pthread_join(ithread, NULL);
	if (fthreaded)
		pthread_join(fthread, NULL);
	/* Left out when implied: verify_compare compares what both have. */
	if (!skip_fk && !ic.failed)
		cJSON_AddNumberToObject(info, "foreign_key_violations", (double)fc.count);
	if (ic.failed) {
		/* As when the check ran first and stopped inspect there: its
		 * line alone, and no findings. */
		problems->len = before;
		bad = 0;
		fc.bad = 0;
		while (info->child)
			cJSON_Delete(cJSON_DetachItemViaPointer(info, info->child));
	}
	if (ic.bad || fc.bad) {
		/* The integrity lines first, then foreign keys, as before. */
		struct buf rest = BUF_INIT;
		if (problems->len > before)
			buf_add(&rest, problems->data + before, problems->len - before);
		problems->len = before;
		if (ic.bad)
			buf_add(problems, ic.problems.data, ic.problems.len);
		if (fc.bad)
			buf_add(problems, fc.problems.data, fc.problems.len);
		buf_add(problems, rest.data ? rest.data : "", rest.len);
		buf_free(&rest);
	}
	bad += ic.bad + fc.bad;
	buf_free(&ic.problems);
	buf_free(&fc.problems);
	sqlite_free_tables(tables, n);
	buf_free(&d.framed);
	sqlite3_close(d.db);
	return bad ? ERR_VERIFY : 0;
}
