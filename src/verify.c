/*
 * verify: restoring a snapshot from the repository's objects into scratch
 * and comparing it with what its manifest says the source held; and the
 * early restore, which starts that restore on a second thread while the
 * dump is still being written. Used by the backup cycle (before commit),
 * by `dbgit verify` (after), and by the scenario tests' fault hook.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbgit/engine.h"
#include "dbgit/manifest.h"
#include "dbgit/store.h"
#include "dbgit/util.h"
#include "dbgit/verify.h"

/*
 * Test hook, for the scenario tests only: DBGIT_TEST_CORRUPT="KIND:PREFIX"
 * damages what verification reads back from the repository, as a fault
 * between writing a snapshot and committing it would, so that a test can
 * show that such a snapshot is not committed. It applies to the first
 * file whose path starts with PREFIX, within the first read of it:
 *   drop-line  drops the file's first line (an SQL row goes missing)
 *   alter      changes the last digit of the first line (a value changes)
 *   flip       inverts the byte at offset 8184, near the end of the second
 *              page of a binary copy, where SQLite keeps cell contents
 * Unset (always, outside tests), the source is used as it is.
 */
struct corrupt_source {
	struct dump_source src; /* first */
	struct dump_source *inner;
	char kind[16];
	const char *prefix;
	int current, done; /* current: this file is the one to damage */
};

static int corrupt_next(struct dump_source *d, const char **path)
{
	struct corrupt_source *c = (struct corrupt_source *)d;
	int rc = c->inner->next(c->inner, path);
	c->current = rc == 1 && !c->done && !strncmp(*path, c->prefix, strlen(c->prefix));
	return rc;
}

static ssize_t corrupt_read(struct dump_source *d, void *buf, size_t len)
{
	struct corrupt_source *c = (struct corrupt_source *)d;
	ssize_t n = c->inner->read(c->inner, buf, len);
	if (n <= 0 || !c->current)
		return n;
	c->current = 0;
	c->done = 1;
	char *p = buf;
	char *nl = memchr(p, '\n', (size_t)n);
	if (!strcmp(c->kind, "drop-line") && nl) {
		size_t skip = (size_t)(nl - p) + 1;
		memmove(p, p + skip, (size_t)n - skip);
		n -= (ssize_t)skip;
	} else if (!strcmp(c->kind, "alter") && nl) {
		for (char *q = nl; q > p; q--)
			if (q[-1] >= '0' && q[-1] <= '9') {
				q[-1] ^= 1;
				break;
			}
	} else if (!strcmp(c->kind, "flip") && n > 8184) {
		p[8184] ^= 0xff;
	}
	return n;
}

/* Wraps *src if DBGIT_TEST_CORRUPT asks for it; returns what to free. */
static struct corrupt_source *test_corrupt(struct dump_source **src)
{
#ifdef DBGIT_TEST_HOOKS
	const char *spec = getenv("DBGIT_TEST_CORRUPT");
#else
	const char *spec = NULL; /* a release build never damages what it checks */
#endif
	const char *colon = spec ? strchr(spec, ':') : NULL;
	if (!*src || !colon || (size_t)(colon - spec) >= sizeof(((struct corrupt_source *)0)->kind))
		return NULL;
	struct corrupt_source *c = calloc(1, sizeof(*c));
	c->src.next = corrupt_next;
	c->src.read = corrupt_read;
	c->inner = *src;
	memcpy(c->kind, spec, (size_t)(colon - spec));
	c->prefix = colon + 1;
	*src = &c->src;
	return c;
}

void verify_snapshot_job(const struct job_cfg *job, const struct manifest *m, struct job_cfg *out)
{
	*out = *job;
	out->engine = m->engine ? m->engine : job->engine;
	if (manifest_has_format(m, "sql") || manifest_has_format(m, "binary"))
		out->format = (char *)manifest_job_format(m);
	/* The snapshot holds what was dumped, no more: excluding again
	 * (with today's list) could only hide a table it holds. */
	out->exclude_tables = NULL;
	out->n_exclude = 0;
	out->exclude_table_data = NULL;
	out->n_exclude_data = 0;
}

int verify_compare(const struct manifest *expect, const struct manifest *got, struct buf *problems)
{
	int diffs = engine_compare_tables(expect, got, problems);
	diffs += manifest_compare_schema(expect, got, problems);
	/* Absent when inspect stopped early (it said why), or when the
	 * source's value is not comparable (exclusions: foreign keys). */
	static const struct {
		const char *name;
		size_t has, val;
	} keys[] = {
		{"foreign_key_violations", offsetof(struct manifest, has_fk),
		 offsetof(struct manifest, foreign_key_violations)},
		{"user_version", offsetof(struct manifest, has_user_version), offsetof(struct manifest, user_version)},
		{"application_id", offsetof(struct manifest, has_application_id),
		 offsetof(struct manifest, application_id)},
	};
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		const char *a = (const char *)expect, *b = (const char *)got;
		if (!*(const int *)(a + keys[k].has) || !*(const int *)(b + keys[k].has))
			continue;
		int64_t x = *(const int64_t *)(a + keys[k].val), y = *(const int64_t *)(b + keys[k].val);
		if (x != y) {
			buf_printf(problems, "%s: %lld in the source, %lld in the snapshot\n", keys[k].name,
				   (long long)x, (long long)y);
			diffs++;
		}
	}
	return diffs;
}

static int named(char *const *only, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (name && !strcasecmp(only[i], name))
			return 1;
	return 0;
}

void verify_restrict(struct manifest *m, char *const *only, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < m->n_tables; i++) {
		if (named(only, n, m->tables[i].name))
			m->tables[k++] = m->tables[i];
		else
			free(m->tables[i].name);
	}
	m->n_tables = k;
	k = 0;
	for (size_t i = 0; i < m->n_schema; i++) {
		struct manifest_schema *o = &m->schema[i];
		if (strcmp(o->type, "view") && named(only, n, o->tbl_name)) {
			m->schema[k++] = *o;
		} else {
			free(o->type), free(o->name), free(o->tbl_name);
		}
	}
	m->n_schema = k;
	m->has_fk = 0;
}

/*
 * fk_implied: expect is the source's findings as this process's dump just
 * recorded them (the backup's own verification), not a manifest read from
 * the repository. Then the restore's foreign key count follows from what
 * the comparison proves equal anyway - the schema and every table's rows,
 * read in the same transaction as the source's count - and an engine that
 * can tell (sqlite_inspect: in a UTF-8 database) may leave the check out:
 * a snapshot whose rows or schema differ is refused by that comparison,
 * with the same first line as before (the foreign key count is compared
 * after the tables and the schema). A manifest from the repository may
 * have been written by anyone: there the count is checked against it.
 */
static int restored_check(const struct engine *eng, const struct job_cfg *job, const char *target,
			  const struct manifest *expect, int fk_implied, struct buf *problems)
{
	struct manifest got;
	cJSON *info = cJSON_CreateObject();
	if (fk_implied && expect->has_fk)
		cJSON_AddTrueToObject(info, "foreign_key_check_implied");
	int rc = eng->inspect(job, target, info, problems);
	/* An engine that does not know the hint leaves it. */
	cJSON_DeleteItemFromObjectCaseSensitive(info, "foreign_key_check_implied");
	/* The findings, validated like a manifest before they are used. */
	if (manifest_from_json(&got, info, MANIFEST_FINDINGS, "the restored snapshot's findings") < 0) {
		buf_printf(problems, "%s\n", err_last());
		err_clear();
		rc = ERR_VERIFY;
	} else if (rc == 0 || rc == ERR_VERIFY) {
		/* Some tables only: the restore is compared on those. */
		if (job->n_only)
			verify_restrict(&got, job->only_tables, job->n_only);
		if (verify_compare(expect, &got, problems) > 0)
			rc = ERR_VERIFY;
	}
	manifest_free(&got);
	cJSON_Delete(info);
	return rc;
}

int verify_restored(const struct engine *eng, const struct job_cfg *job, const char *target,
		    const struct manifest *expect, struct buf *problems)
{
	return restored_check(eng, job, target, expect, 0, problems);
}

/* Every format the manifest lists, restored from object id obj into dir
 * and compared with the manifest. Engine and formats come from the
 * manifest, not from today's config. */
static int restore_and_compare(struct store *st, const struct job_cfg *today, const char *obj,
			       const struct manifest *expect, const char *dir, const struct restored *early,
			       struct buf *problems)
{
	struct job_cfg sj;
	const struct job_cfg *job = &sj;
	verify_snapshot_job(today, expect, &sj);
	const struct engine *eng = engine_find(job->engine);
	int bad = 0;
	if (!eng) {
		buf_printf(problems, "engine \"%s\" of snapshot %.12s is not available in this dbgit\n", job->engine,
			   obj);
		return ERR_VERIFY;
	}
	if (expect->n_formats == 0) {
		buf_printf(problems, "the manifest lists no formats\n");
		return ERR_VERIFY;
	}
	for (size_t fi = 0; fi < expect->n_formats; fi++) {
		const char *format = expect->formats[fi];
		char *target = xasprintf("%s/restored-%s.db", dir, format);
		struct dump_source *src = NULL;
		size_t before = problems->len;
		int rc = 0;
		if (early && early->format && !strcmp(early->format, format)) {
			if (early->error)
				rc = err_set(ERR_VERIFY, "%s", early->error);
			else
				snprintf(target, strlen(target) + 1, "%s", early->db);
		} else {
			rc = snap_source_new(&src, st, obj, job->max_blob_size);
			struct dump_source *from = src;
			struct corrupt_source *damaged = test_corrupt(&from);
			if (rc == 0)
				rc = eng->restore(job, from, format, target);
			free(damaged);
		}
		/* Only a restored database is worth comparing: after a failed
		 * restore every table would be "missing", burying the cause. */
		if (rc == 0) {
			/* early is given by the backup only, with the manifest
			 * its dump just made (see restored_check). */
			rc = restored_check(eng, job, target, expect, early != NULL, problems);
		} else {
			buf_printf(problems, "%s\n", err_last());
			err_clear();
		}
		/* Prefix this format's new problems with its name. */
		if (problems->len > before && expect->n_formats > 1) {
			struct buf tagged = BUF_INIT;
			const char *p = problems->data + before;
			while (*p) {
				const char *nl = strchr(p, '\n');
				size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);
				buf_printf(&tagged, "%s copy: %.*s", format, (int)n, p);
				p += n;
			}
			problems->len = before;
			buf_add(problems, tagged.data, tagged.len);
			buf_free(&tagged);
		}
		if (rc < 0)
			bad++;
		/* A server engine's scratch database, also after a failure. */
		if (eng->discard)
			eng->discard(job, target);
		snap_source_free(src);
		free(target);
	}
	return bad ? ERR_VERIFY : 0;
}

/* Floyd's algorithm: want distinct picks with one random draw each, no
 * matter how long the history is. */
size_t verify_sample_pick(size_t from, size_t n, size_t want, size_t *out)
{
	size_t range = n > from ? n - from : 0, k = 0;
	if (want >= range) {
		for (size_t i = 0; i < range; i++)
			out[k++] = from + i;
		return k;
	}
	for (size_t j = range - want; j < range; j++) {
		uint64_t r = 0;
		/* getrandom of 8 bytes does not fail short; a fallback that is
		 * merely predictable would still test something. */
		if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
			r = (uint64_t)time_now() * 2654435761u + j;
		size_t t = (size_t)(r % (j + 1)), pick = from + t;
		for (size_t i = 0; i < k; i++)
			if (out[i] == pick) {
				pick = from + j;
				break;
			}
		out[k++] = pick;
	}
	/* Oldest last, as snap_list gives them: sort ascending. */
	for (size_t i = 1; i < k; i++)
		for (size_t m = i; m > 0 && out[m - 1] > out[m]; m--) {
			size_t t = out[m];
			out[m] = out[m - 1];
			out[m - 1] = t;
		}
	return k;
}

/* The first problem line, for the one-line error. */
const char *verify_first_line(struct buf *b, char *out, size_t len)
{
	const char *s = buf_cstr(b);
	const char *nl = strchr(s, '\n');
	size_t n = nl ? (size_t)(nl - s) : strlen(s);
	snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), s);
	return out;
}

/* Restores and compares in dir (a new scratch directory if NULL), which is
 * removed afterwards or, on failure, moved into keep_failed. */
int verify_in_scratch(struct store *st, const struct job_cfg *job, const char *obj,
			     const struct manifest *expect, const char *keep_failed, const char *scratch,
			     const struct restored *early, struct buf *problems)
{
	char *dir = scratch ? xstrdup(scratch) : NULL;
	if (!dir && fs_mkdtemp(&dir, "verify") < 0)
		return ERR_GENERIC;
	int rc = restore_and_compare(st, job, obj, expect, dir, early, problems);
	if (rc < 0 && keep_failed) {
		char *dest = xasprintf("%s/%s-%.12s", keep_failed, job->name, obj);
		mkdir(keep_failed, 0700);
		fs_rmtree(dest);
		if (rename(dir, dest) == 0)
			buf_printf(problems, "scratch data kept in %s\n", dest);
		free(dest);
	}
	fs_rmtree(dir);
	free(dir);
	return rc;
}

/*
 * The early restore: while the engine dumps, a second thread restores the
 * SQL dump from the blobs the writer has just put into the repository
 * (through a snap_feed), so the two run on two cores side by side. Once
 * the tree is written, snap_feed_check proves the thread went through
 * exactly the tree's files in the tree's order; if not (or the engine did
 * not write in path order), verification restores from the tree instead.
 */

static void *early_restore_run(void *arg)
{
	struct early_restore *er = arg;
	struct dump_source *from = snap_feed_source(er->feed);
	struct corrupt_source *damaged = test_corrupt(&from);
	er->rc = er->eng->restore(er->job, from, er->format, er->db);
	free(damaged);
	if (er->rc < 0)
		snprintf(er->error, sizeof(er->error), "%s", err_last());
	/* Go through what is left, even after a failure, so that the feed's
	 * record is complete and can be checked against the tree. */
	const char *path;
	struct dump_source *rest = snap_feed_source(er->feed);
	while (rest->next(rest, &path) == 1)
		;
	err_clear();
	return NULL;
}

int early_restore_start(struct early_restore *er, struct store *st, const struct engine *eng,
			       const struct job_cfg *job, struct snap_writer *w)
{
	memset(er, 0, sizeof(*er));
	er->format = eng->early_format ? eng->early_format(job) : NULL;
	if (!er->format || strcmp(job->verify, "full"))
		return 0;
	er->eng = eng;
	er->job = job;
	if (fs_mkdtemp(&er->dir, "verify") < 0 || snap_feed_new(&er->feed, st) < 0)
		return ERR_GENERIC;
	er->db = xasprintf("%s/restored-%s.db", er->dir, er->format);
	snap_writer_on_chunk(w, snap_feed_push, er->feed);
	if (sig_thread_create(&er->thread, early_restore_run, er) != 0) {
		snap_writer_on_chunk(w, NULL, NULL);
		return 0; /* verification will restore from the tree */
	}
	er->started = 1;
	return 0;
}

/* After the dump: waits for the thread; failed says the dump failed. */
void early_restore_join(struct early_restore *er, int failed)
{
	if (!er->started)
		return;
	snap_feed_close(er->feed, failed);
	pthread_join(er->thread, NULL);
	er->started = 0;
}

/* What verification may take from the early restore, for the snapshot
 * whose tree is tree: its database or its failure, if the thread went
 * through exactly the tree's files; otherwise nothing (0). */
int early_restore_result(struct early_restore *er, struct store *st, const char *tree,
				struct restored *out)
{
	memset(out, 0, sizeof(*out));
	if (!er->feed)
		return 0;
	if (snap_feed_check(er->feed, st, tree) < 0) {
		log_debug("%s; verifying from the tree instead", err_last());
		err_clear();
		return 0;
	}
	out->format = er->format;
	out->db = er->db;
	out->error = er->rc < 0 ? er->error : NULL;
	return 1;
}

void early_restore_free(struct early_restore *er)
{
	early_restore_join(er, 1);
	snap_feed_free(er->feed);
	if (er->dir)
		fs_rmtree(er->dir);
	free(er->dir);
	free(er->db);
}

