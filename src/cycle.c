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
#include "dbgit/verify.h"

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
	if (rc == ERR_VERIFY && healed > 0 && !sig_pending()) {
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
				  verify_first_line(&problems, line, sizeof(line)));
			/* A restore stopped by a signal says nothing of the blobs. */
			if (!sig_pending())
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
	/* A stop signal during verification: nothing is committed. */
	if ((rc = sig_check()) < 0) {
		free(message);
		goto out;
	}
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
	/* Nothing reaches the objects of an attempt that committed nothing
	 * (failed, stopped, or a dry run): give their space back now, under
	 * the lock, rather than at the next reclaim - on a full disk that is
	 * what lets the next run work. */
	if (w && (rc < 0 || opts->dry_run) && snap_writer_discard(w) < 0) {
		log_warn("job '%s': %s", job->name, err_last());
		if (rc == 0)
			err_clear();
	}
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
	if ((rc = snap_source_new(&src, st, commit)) < 0 || (rc = eng->restore(job, src, fmt, tmp)) < 0)
		goto out;
	rc = eng->inspect(job, tmp, got, &problems);
	if (engine_compare_tables(cJSON_GetObjectItemCaseSensitive(m, "tables"),
				  cJSON_GetObjectItemCaseSensitive(got, "tables"), &problems) > 0)
		rc = ERR_VERIFY;
	if (rc < 0) {
		char line[400];
		rc = err_set(ERR_VERIFY, "restore of snapshot %.12s does not match its manifest: %s", commit,
			     verify_first_line(&problems, line, sizeof(line)));
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
	free(tmp);
	tmp = NULL;
out:
	if (tmp) {
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
