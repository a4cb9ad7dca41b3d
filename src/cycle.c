/*
 * cycle: one job's backup, in order: pre-backup hook, dump (engine) into
 * blobs (store), verify by restoring from those blobs, commit, post-backup
 * or on-failure hook. Also the restore and verify of existing snapshots,
 * which are the same restore-and-compare seen from the other side.
 *
 * The cycle never asks which engine it holds.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dbgit/cycle.h"
#include "dbgit/engine.h"
#include "dbgit/store.h"
#include "dbgit/util.h"

extern char **environ;

void cycle_branch_ref(const struct job_cfg *job, char *ref, size_t len)
{
	snprintf(ref, len, "refs/heads/%s", job->branch);
}

int cycle_hook(const struct config *cfg, const char *name, const char *job, const char *status,
	       const char *commit, const char *message)
{
	if (!cfg->hooks_dir)
		return 0;
	char *path = xasprintf("%s/%s", cfg->hooks_dir, name);
	if (access(path, X_OK) != 0) {
		free(path);
		return 0;
	}
	setenv("DBGIT_JOB", job ? job : "", 1);
	setenv("DBGIT_STATUS", status ? status : "", 1);
	setenv("DBGIT_COMMIT", commit ? commit : "", 1);
	setenv("DBGIT_MESSAGE", message ? message : "", 1);
	char *argv[] = {path, NULL};
	pid_t pid;
	int rc = posix_spawn(&pid, path, NULL, NULL, argv, environ);
	int status_code = 0;
	if (rc == 0 && waitpid(pid, &status_code, 0) < 0)
		rc = errno;
	if (rc != 0) {
		rc = err_set(ERR_GENERIC, "hook %s: %s", path, strerror(rc));
	} else if (!WIFEXITED(status_code) || WEXITSTATUS(status_code) != 0) {
		rc = err_set(ERR_GENERIC, "hook %s failed (exit %d)", path,
			     WIFEXITED(status_code) ? WEXITSTATUS(status_code) : 128 + WTERMSIG(status_code));
	}
	free(path);
	return rc;
}

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
	const char *spec = getenv("DBGIT_TEST_CORRUPT");
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

/* Every format the manifest lists, restored from object id obj into dir
 * and compared with the manifest's summaries. */
/* A format already restored while the dump was written (see struct
 * early_restore): its database, or why its restore failed. */
struct restored {
	const char *format;
	const char *db;    /* restored from exactly the snapshot's objects */
	const char *error; /* the restore failed: why */
};

static int restore_and_compare(struct store *st, const struct job_cfg *job, const char *obj,
			       const cJSON *expect, const char *dir, const struct restored *early,
			       struct buf *problems)
{
	const struct engine *eng = engine_find(job->engine);
	const cJSON *formats = cJSON_GetObjectItemCaseSensitive(expect, "formats");
	const cJSON *tables = cJSON_GetObjectItemCaseSensitive(expect, "tables");
	const cJSON *f;
	int bad = 0;
	if (!eng)
		return err_set(ERR_USAGE, "job '%s': unknown engine '%s'", job->name, job->engine);
	if (!cJSON_IsArray(formats) || !cJSON_IsArray(tables) || cJSON_GetArraySize(formats) == 0) {
		buf_printf(problems, "the manifest lists no formats or tables\n");
		return ERR_VERIFY;
	}
	cJSON_ArrayForEach(f, formats)
	{
		if (!cJSON_IsString(f))
			continue;
		char *target = xasprintf("%s/restored-%s.db", dir, f->valuestring);
		struct dump_source *src = NULL;
		cJSON *got = cJSON_CreateObject();
		size_t before = problems->len;
		int rc = 0;
		if (early && early->format && !strcmp(early->format, f->valuestring)) {
			if (early->error)
				rc = err_set(ERR_VERIFY, "%s", early->error);
			else
				snprintf(target, strlen(target) + 1, "%s", early->db);
		} else {
			rc = snap_source_new(&src, st, obj);
			struct dump_source *from = src;
			struct corrupt_source *damaged = test_corrupt(&from);
			if (rc == 0)
				rc = eng->restore(job, from, f->valuestring, target);
			free(damaged);
		}
		/* Only a restored database is worth comparing: after a failed
		 * restore every table would be "missing", burying the cause. */
		int restored = rc == 0;
		if (rc == 0)
			rc = eng->inspect(job, target, got, problems);
		else {
			buf_printf(problems, "%s\n", err_last());
			err_clear();
		}
		if (restored && (rc == 0 || rc == ERR_VERIFY)) {
			if (engine_compare_tables(tables, cJSON_GetObjectItemCaseSensitive(got, "tables"),
						  problems) > 0)
				rc = ERR_VERIFY;
			static const char *const keys[] = {"foreign_key_violations", "user_version",
							   "application_id"};
			for (size_t k = 0; k < 3; k++) {
				const cJSON *a = cJSON_GetObjectItemCaseSensitive(expect, keys[k]);
				const cJSON *b = cJSON_GetObjectItemCaseSensitive(got, keys[k]);
				/* Absent when inspect stopped early: it said why. */
				if (cJSON_IsNumber(a) && cJSON_IsNumber(b) && a->valuedouble != b->valuedouble) {
					buf_printf(problems, "%s: %.0f in the source, %.0f in the snapshot\n", keys[k],
						   a->valuedouble, b->valuedouble);
					rc = ERR_VERIFY;
				}
			}
		}
		/* Prefix this format's new problems with its name. */
		if (problems->len > before && cJSON_GetArraySize(formats) > 1) {
			struct buf tagged = BUF_INIT;
			const char *p = problems->data + before;
			while (*p) {
				const char *nl = strchr(p, '\n');
				size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);
				buf_printf(&tagged, "%s copy: %.*s", f->valuestring, (int)n, p);
				p += n;
			}
			problems->len = before;
			buf_add(problems, tagged.data, tagged.len);
			buf_free(&tagged);
		}
		if (rc < 0)
			bad++;
		snap_source_free(src);
		cJSON_Delete(got);
		free(target);
	}
	return bad ? ERR_VERIFY : 0;
}

/* The first problem line, for the one-line error. */
static const char *first_line(struct buf *b, char *out, size_t len)
{
	const char *s = buf_cstr(b);
	const char *nl = strchr(s, '\n');
	size_t n = nl ? (size_t)(nl - s) : strlen(s);
	snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), s);
	return out;
}

/* Restores and compares in dir (a new scratch directory if NULL), which is
 * removed afterwards or, on failure, moved into keep_failed. */
static int verify_in_scratch(struct store *st, const struct job_cfg *job, const char *obj,
			     const cJSON *expect, const char *keep_failed, const char *scratch,
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
struct early_restore {
	const struct engine *eng;
	const struct job_cfg *job;
	struct snap_feed *feed;
	const char *format;
	char *dir, *db;
	pthread_t thread;
	int started, rc;
	char error[600];
};

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

static int early_restore_start(struct early_restore *er, struct store *st, const struct engine *eng,
			       const struct job_cfg *job, struct snap_writer *w)
{
	memset(er, 0, sizeof(*er));
	er->format = eng->early_format ? eng->early_format(job) : NULL;
	if (!er->format || strcmp(job->verify, "full"))
		return 0;
	er->eng = eng;
	er->job = job;
	if (fs_mkdtemp(&er->dir, "verify") < 0 || snap_feed_new(&er->feed, store_path(st)) < 0)
		return ERR_GENERIC;
	er->db = xasprintf("%s/restored-%s.db", er->dir, er->format);
	snap_writer_on_chunk(w, snap_feed_push, er->feed);
	if (pthread_create(&er->thread, NULL, early_restore_run, er) != 0) {
		snap_writer_on_chunk(w, NULL, NULL);
		return 0; /* verification will restore from the tree */
	}
	er->started = 1;
	return 0;
}

/* After the dump: waits for the thread; failed says the dump failed. */
static void early_restore_join(struct early_restore *er, int failed)
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
static int early_restore_result(struct early_restore *er, struct store *st, const char *tree,
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

static void early_restore_free(struct early_restore *er)
{
	early_restore_join(er, 1);
	snap_feed_free(er->feed);
	if (er->dir)
		fs_rmtree(er->dir);
	free(er->dir);
	free(er->db);
}

static cJSON *manifest_new(const struct job_cfg *job, const char *source, int64_t start)
{
	char when[32];
	cJSON *m = cJSON_CreateObject();
	cJSON_AddNumberToObject(m, "format_version", MANIFEST_FORMAT);
	cJSON_AddStringToObject(m, "job", job->name);
	cJSON_AddStringToObject(m, "engine", job->engine);
	cJSON_AddStringToObject(m, "source", source);
	cJSON_AddStringToObject(m, "dbgit_version", DBGIT_VERSION);
	time_format_utc(start, when);
	cJSON_AddStringToObject(m, "started", when);
	return m;
}

static int backup_once(const struct config *cfg, struct store *st, const struct job_cfg *job,
		       const struct backup_opts *opts, struct backup_result *res, int *healed);

/* A blob damaged on disk that the new snapshot shares with an older one
 * fails its verification. Such blobs are moved aside (snap_quarantine) and
 * the snapshot is taken once more, which writes them again: the repository
 * heals instead of failing every night from then on. */
int cycle_backup(const struct config *cfg, struct store *st, const struct job_cfg *job,
		 const struct backup_opts *opts, struct backup_result *res)
{
	int healed = 0;
	int rc = backup_once(cfg, st, job, opts, res, &healed);
	if (rc == ERR_VERIFY && healed > 0) {
		log_warn("job '%s': %d damaged object%s in the repository moved aside (%s/dbgit-quarantine); "
			 "taking the snapshot again",
			 job->name, healed, healed == 1 ? "" : "s", store_path(st));
		err_clear();
		rc = backup_once(cfg, st, job, opts, res, &healed);
	}
	return rc;
}

static int backup_once(const struct config *cfg, struct store *st, const struct job_cfg *job,
		       const struct backup_opts *opts, struct backup_result *res, int *healed)
{
	memset(res, 0, sizeof(*res));
	*healed = 0;
	const struct engine *eng = engine_find(job->engine);
	char branch[512], parent[41], tree[41];
	struct snap_writer *w = NULL;
	struct early_restore early;
	memset(&early, 0, sizeof(early));
	struct buf problems = BUF_INIT;
	cJSON *info = NULL, *manifest = NULL;
	int rc = 0;
	cycle_branch_ref(job, branch, sizeof(branch));

	/* Messages are copied before err_reset, which formats into the very
	 * buffer err_last() returns. */
	char why[1024];
	if (cycle_hook(cfg, "pre-backup", job->name, "starting", "", "") < 0) {
		snprintf(why, sizeof(why), "%s", err_last());
		rc = err_reset(ERR_GENERIC, "job '%s': skipped: %s", job->name, why);
		goto out;
	}
	if ((rc = snap_tip(st, branch, parent)) < 0)
		goto out;
	int64_t start = time_now();
	const char *source = job->path ? job->path : job->database ? job->database : job->name;
	manifest = manifest_new(job, source, start);
	info = cJSON_CreateObject();
	if ((rc = snap_writer_new(&w, st, job->max_blob_size)) < 0)
		goto out;
	if ((rc = early_restore_start(&early, st, eng, job, w)) < 0)
		goto out;
	char *label = xasprintf("%s: dump", job->name);
	progress_begin(label);
	free(label);
	rc = eng->dump(job, snap_writer_sink(w), info);
	progress_end();
	early_restore_join(&early, rc < 0);
	if (rc < 0) {
		snprintf(why, sizeof(why), "%s", err_last());
		err_reset(rc, "job '%s': dump failed: %s", job->name, why);
		goto out;
	}
	/* The engine's findings (tables, formats, ...) go into the manifest. */
	cJSON *item = info->child;
	while (item) {
		cJSON *next = item->next;
		cJSON_AddItemToObject(manifest, item->string, cJSON_DetachItemViaPointer(info, item));
		item = next;
	}
	cJSON *files = cJSON_Duplicate(snap_writer_files(w), 1);
	double total = 0;
	cJSON *f;
	cJSON_ArrayForEach(f, files)
	total += cJSON_GetObjectItemCaseSensitive(f, "size")->valuedouble;
	cJSON_AddItemToObject(manifest, "files", files);
	cJSON_AddNumberToObject(manifest, "size", total);
	cJSON_AddNumberToObject(manifest, "new_blobs", (double)snap_writer_new_blobs(w));
	char when[32];
	time_format_utc(time_now(), when);
	cJSON_AddStringToObject(manifest, "finished", when);

	cJSON *ver = cJSON_AddObjectToObject(manifest, "verification");
	cJSON_AddStringToObject(ver, "mode", job->verify);
	if (!strcmp(job->verify, "full")) {
		/* Verify from the objects now in the repository: the tree is
		 * written first (its manifest says "pending"), restored, and
		 * compared; the committed tree differs only in the manifest. */
		cJSON_AddStringToObject(ver, "result", "pending");
		char *text = cJSON_Print(manifest);
		rc = snap_writer_tree(w, text, tree);
		free(text);
		if (rc < 0)
			goto out;
		label = xasprintf("%s: verify", job->name);
		progress_begin(label);
		free(label);
		struct restored done;
		int have = early_restore_result(&early, st, tree, &done);
		rc = verify_in_scratch(st, job, tree, manifest, opts->keep_failed, have ? early.dir : NULL,
				       have ? &done : NULL, &problems);
		if (have) {
			/* verify_in_scratch removed or kept the directory */
			free(early.dir);
			early.dir = NULL;
		}
		progress_end();
		if (rc < 0) {
			char line[400];
			err_reset(ERR_VERIFY, "job '%s': verification failed, nothing committed: %s", job->name,
				  first_line(&problems, line, sizeof(line)));
			*healed = snap_quarantine_damaged(st, tree);
			rc = ERR_VERIFY;
			goto out;
		}
		cJSON_ReplaceItemInObjectCaseSensitive(ver, "result", cJSON_CreateString("passed"));
	} else {
		cJSON_AddStringToObject(ver, "result", "skipped");
	}
	char *text = cJSON_Print(manifest);
	rc = snap_writer_tree(w, text, tree);
	free(text);
	if (rc < 0)
		goto out;

	cJSON *tables = cJSON_GetObjectItemCaseSensitive(manifest, "tables");
	double rows = 0;
	cJSON_ArrayForEach(f, tables)
	rows += cJSON_GetObjectItemCaseSensitive(f, "rows")->valuedouble;
	char started[32];
	time_format_utc(start, started);
	char *message = xasprintf("%s %s\n\nengine %s, %s, %d tables, %.0f rows, verification %s\n",
				  job->name, started, job->engine, job->format, cJSON_GetArraySize(tables),
				  rows, strcmp(job->verify, "full") ? "skipped" : "passed");
	if (opts->dry_run) {
		log_info("job '%s': dry run: snapshot verified, not committed", job->name);
		snprintf(res->commit, sizeof(res->commit), "%s", "");
	} else {
		rc = snap_commit(st, branch, parent, tree, message, cfg->author_name, cfg->author_email, start,
				 res->commit);
	}
	free(message);
	if (rc < 0)
		goto out;
	res->manifest = manifest;
	manifest = NULL;
out:
	if (rc < 0) {
		/* One line for cron and the on-failure hook; every problem
		 * with -v. */
		int more = -1;
		for (const char *q = buf_cstr(&problems); *q; q++)
			more += *q == '\n';
		/* Where --keep-failed put the scratch data goes on the line. */
		const char *kept = strstr(buf_cstr(&problems), "scratch data kept in ");
		int kept_len = kept ? (int)strcspn(kept, "\n") : 0;
		if (kept)
			more--;
		if (more > 0)
			snprintf(res->message, sizeof(res->message), "%s (and %d more; -v lists them)%s%.*s",
				 err_last(), more, kept ? "; " : "", kept_len, kept ? kept : "");
		else
			snprintf(res->message, sizeof(res->message), "%s%s%.*s", err_last(), kept ? "; " : "",
				 kept_len, kept ? kept : "");
		if (more > 0)
			for (const char *q = buf_cstr(&problems); *q;) {
				const char *e = strchr(q, '\n');
				size_t n = e ? (size_t)(e - q) : strlen(q);
				log_info("  %.*s", (int)n, q);
				q += n + (e ? 1 : 0);
			}
	}
	buf_free(&problems);
	early_restore_free(&early);
	snap_writer_free(w);
	cJSON_Delete(info);
	cJSON_Delete(manifest);
	return rc;
}

int cycle_verify_snapshot(const struct config *cfg, struct store *st, const struct job_cfg *job,
			  const char *commit, const char *keep_failed, struct buf *problems)
{
	(void)cfg;
	cJSON *m = NULL;
	if (snap_read_manifest(st, commit, &m) < 0) {
		buf_printf(problems, "%s\n", err_last());
		err_clear();
		return ERR_VERIFY;
	}
	int rc = verify_in_scratch(st, job, commit, m, keep_failed, NULL, NULL, problems);
	cJSON_Delete(m);
	return rc;
}

/* The copy to restore from: the one asked for, else binary (faster to
 * restore), else the first listed. Borrowed from m. */
static const char *pick_format(const cJSON *m, const char *want)
{
	const char *fmt = NULL;
	const cJSON *f;
	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(m, "formats"))
	{
		if (!cJSON_IsString(f))
			continue;
		if (want ? !strcmp(want, f->valuestring) : (!fmt || !strcmp(f->valuestring, "binary")))
			fmt = f->valuestring;
	}
	return fmt;
}

int cycle_diff_stat(const struct config *cfg, struct store *st, const struct job_cfg *job,
		    const char *old_commit, const char *new_commit, struct cJSON *out)
{
	(void)cfg;
	const struct engine *eng = engine_find(job->engine);
	if (!eng->compare)
		return err_set(ERR_USAGE, "job '%s': diff --stat is not available for engine \"%s\"", job->name,
			       job->engine);
	const char *ids[2] = {old_commit, new_commit};
	char *dir = NULL, *paths[2] = {NULL, NULL};
	int rc = fs_mkdtemp(&dir, "diff");
	for (int i = 0; rc == 0 && i < 2; i++) {
		cJSON *m = NULL;
		struct dump_source *src = NULL;
		if ((rc = snap_read_manifest(st, ids[i], &m)) == 0) {
			const char *fmt = pick_format(m, NULL);
			paths[i] = xasprintf("%s/%d.db", dir, i);
			if (!fmt)
				rc = err_set(ERR_GENERIC, "snapshot %.12s lists no format", ids[i]);
			else if ((rc = snap_source_new(&src, st, ids[i])) == 0)
				rc = eng->restore(job, src, fmt, paths[i]);
		}
		snap_source_free(src);
		cJSON_Delete(m);
	}
	if (rc == 0)
		rc = eng->compare(job, paths[0], paths[1], out);
	if (dir)
		fs_rmtree(dir);
	free(dir), free(paths[0]), free(paths[1]);
	return rc;
}

int cycle_restore(const struct config *cfg, struct store *st, const struct job_cfg *job,
		  const char *commit, const char *target, int force, const char *format)
{
	(void)cfg;
	const struct engine *eng = engine_find(job->engine);
	struct stat sb;
	if (stat(target, &sb) == 0 && !force)
		return err_set(ERR_EXISTS, "%s exists; give --force to replace it", target);
	cJSON *m = NULL;
	if (snap_read_manifest(st, commit, &m) < 0)
		return ERR_GENERIC;
	const char *fmt = pick_format(m, format);
	int rc = 0;
	char *tmp = NULL;
	struct dump_source *src = NULL;
	struct buf problems = BUF_INIT;
	cJSON *got = cJSON_CreateObject();
	if (!fmt) {
		rc = err_set(ERR_USAGE, "snapshot %.12s has no %s copy", commit, format ? format : "usable");
		goto out;
	}
	/* A temp file beside the target, so the final rename is atomic. */
	tmp = xasprintf("%s.dbgit-restore-XXXXXX", target);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		rc = err_set(ERR_GENERIC, "cannot create a file beside %s: %s", target, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	close(fd);
	fs_track_temp(tmp);
	if ((rc = snap_source_new(&src, st, commit)) < 0 || (rc = eng->restore(job, src, fmt, tmp)) < 0)
		goto out;
	rc = eng->inspect(job, tmp, got, &problems);
	if (engine_compare_tables(cJSON_GetObjectItemCaseSensitive(m, "tables"),
				  cJSON_GetObjectItemCaseSensitive(got, "tables"), &problems) > 0)
		rc = ERR_VERIFY;
	if (rc < 0) {
		char line[400];
		rc = err_set(ERR_VERIFY, "restore of snapshot %.12s does not match its manifest: %s", commit,
			     first_line(&problems, line, sizeof(line)));
		goto out;
	}
	/* On disk before it takes the target's name: a crash after the rename
	 * must not leave a half-written target. */
	int tfd = open(tmp, O_RDONLY | O_CLOEXEC);
	if (tfd < 0 || fsync(tfd) < 0) {
		rc = err_set(ERR_GENERIC, "cannot flush %s to disk: %s", tmp, strerror(errno));
		if (tfd >= 0)
			close(tfd);
		goto out;
	}
	close(tfd);
	/* Journal files of the database being replaced belong to it, not to
	 * the restored one: SQLite would replay a stale WAL into it. */
	static const char *const sides[] = {"-wal", "-shm", "-journal"};
	for (size_t i = 0; i < 3; i++) {
		char *side = xasprintf("%s%s", target, sides[i]);
		unlink(side);
		free(side);
	}
	if (rename(tmp, target) < 0) {
		rc = err_set(ERR_GENERIC, "cannot rename into %s: %s", target, strerror(errno));
		goto out;
	}
	fs_fsync_parent(target);
	fs_untrack_temp(tmp);
	free(tmp);
	tmp = NULL;
out:
	if (tmp) {
		fs_untrack_temp(tmp);
		unlink(tmp);
		char *side = xasprintf("%s-journal", tmp);
		unlink(side);
		free(side);
		free(tmp);
	}
	snap_source_free(src);
	buf_free(&problems);
	cJSON_Delete(got);
	cJSON_Delete(m);
	return rc;
}
