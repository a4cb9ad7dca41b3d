/*
 * cycle: one job's backup, in order: pre-backup hook, dump (engine) into
 * blobs (store), verify by restoring from those blobs, the shrink guard's
 * comparison with the snapshot before, commit. The run around it (the
 * other hooks, rotate, push, reclaim, exit status) is src/run.c. Also the
 * restore and verify of existing snapshots, which are the same
 * restore-and-compare seen from the other side.
 *
 * The cycle never asks which engine it holds.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbgit/crypt.h"
#include "dbgit/cycle.h"
#include "dbgit/engine.h"
#include "dbgit/manifest.h"
#include "dbgit/store.h"
#include "dbgit/util.h"
#include "dbgit/verify.h"

void cycle_branch_ref(const struct job_cfg *job, char *ref, size_t len)
{
	snprintf(ref, len, "refs/heads/%s", job->branch);
}

/* The snapshot's tree with its MANIFEST.json, which is first read back
 * as any later reader will: what dbgit commits, dbgit can read. */
static int write_tree(struct snap_writer *w, const struct manifest *m, const struct job_cfg *job,
		      char tree[41])
{
	char *text = manifest_text(m);
	struct manifest back;
	char what[300];
	snprintf(what, sizeof(what), "job '%s': the new %s", job->name, MANIFEST_NAME);
	int rc = manifest_parse(&back, text, strlen(text), what);
	manifest_free(&back);
	if (rc == 0)
		rc = snap_writer_tree(w, text, tree);
	free(text);
	return rc;
}

static int backup_once(const struct config *cfg, struct store *st, const struct job_cfg *job,
		       const struct backup_opts *opts, struct backup_result *res, int *healed);

/* A branch never mixes keys silently: after an encrypted snapshot comes
 * one under the same key. Plain before encrypted is turning key_file on;
 * plain after encrypted (key_file dropped) or another key is refused. */
static int same_key(struct store *st, const struct job_cfg *job, const char *branch, const char *parent)
{
	char id[CRYPT_KEY_ID_LEN + 1];
	const struct crypt_key *key = store_key(st);
	if (!parent[0])
		return 0;
	if (snap_key_id(st, parent, id) < 0)
		return ERR_GENERIC;
	if (!id[0])
		return 0;
	if (!key)
		return err_set(ERR_USAGE,
			       "job '%s': branch %s holds snapshots encrypted with key %s; set [repository] key_file "
			       "to that key (a plain snapshot after them would not be encrypted)",
			       job->name, branch, id);
	if (strcmp(key->id, id))
		return err_set(ERR_USAGE,
			       "job '%s': branch %s holds snapshots encrypted with key %s, not with the key in %s (%s); "
			       "a repository never mixes keys",
			       job->name, branch, id, key->file, key->id);
	return 0;
}

/* [verify] sample: after a commit, a few older snapshots are restored
 * too, so bit rot in blobs only they hold is found while good copies
 * (the source, the remotes) still exist. The new snapshot stays
 * committed; the job is reported failed so that on-failure runs. */
static int sample_after_commit(const struct config *cfg, struct store *st, const struct job_cfg *job,
			       const struct backup_opts *opts, struct backup_result *res)
{
	struct buf problems = BUF_INIT;
	size_t tested = 0;
	int rc = cycle_verify_sample(cfg, st, job, (size_t)cfg->verify_sample, opts->keep_failed, &problems,
				     &tested);
	if (rc < 0) {
		char line[400];
		snprintf(res->message, sizeof(res->message), "job '%s': snapshot %.12s committed, but %s: %s",
			 job->name, res->commit, err_last(),
			 verify_first_line(&problems, line, sizeof(line)));
		manifest_free(res->manifest);
		free(res->manifest);
		res->manifest = NULL;
	} else if (tested) {
		log_info("job '%s': %zu older snapshot%s restore-tested: passed", job->name, tested,
			 tested == 1 ? "" : "s");
	}
	buf_free(&problems);
	return rc;
}

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
	if (rc == 0 && !opts->dry_run && cfg->verify_sample > 0)
		rc = sample_after_commit(cfg, st, job, opts, res);
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
	cJSON *info = NULL;
	struct manifest *manifest = calloc(1, sizeof(*manifest));
	int rc = 0;
	cycle_branch_ref(job, branch, sizeof(branch));

	/* Messages are copied before err_reset, which formats into the very
	 * buffer err_last() returns. */
	char why[1024];
	/* A dry run changes nothing anywhere, and a hook may. */
	if (!opts->dry_run && cycle_hook(cfg, "pre-backup", job->name, "starting", "", "") < 0) {
		snprintf(why, sizeof(why), "%s", err_last());
		rc = err_reset(ERR_GENERIC, "job '%s': skipped: %s", job->name, why);
		goto out;
	}
	if ((rc = snap_tip(st, branch, parent)) < 0 || (rc = same_key(st, job, branch, parent)) < 0)
		goto out;
	int64_t start = time_now();
	/* A command is recorded as it ran, less anything like a password. */
	char *command = job->command ? redact_command(job->command) : NULL;
	const char *source = job->path ? job->path : job->database ? job->database : command ? command : job->name;
	manifest_init(manifest, job->name, job->engine, source, start);
	free(command);
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
	/* The engine's findings (tables, formats, schema, ...) go into the
	 * manifest, validated as a manifest read back will be. */
	char what[600];
	snprintf(what, sizeof(what), "job '%s': what the engine reported", job->name);
	struct manifest_file *files;
	size_t n_files;
	snap_writer_take_files(w, &files, &n_files);
	if ((rc = manifest_take_files(manifest, files, n_files, (int64_t)snap_writer_new_blobs(w))) < 0 ||
	    (rc = manifest_add_findings(manifest, info, what)) < 0)
		goto out;
	if (job->n_exclude)
		manifest_set_exclusions(manifest, job->exclude_tables, job->n_exclude);
	char when[32];
	time_format_utc(time_now(), when);
	manifest_set_string(&manifest->finished, when);
	manifest_set_string(&manifest->verify_mode, job->verify);
	if (!strcmp(job->verify, "full")) {
		/* Verify from the objects now in the repository: the tree is
		 * written first (its manifest says "pending"), restored, and
		 * compared; the committed tree differs only in the manifest. */
		manifest_set_string(&manifest->verify_result, "pending");
		if ((rc = write_tree(w, manifest, job, tree)) < 0)
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
		manifest_set_string(&manifest->verify_result, "passed");
	} else {
		manifest_set_string(&manifest->verify_result, "skipped");
	}
	if ((rc = write_tree(w, manifest, job, tree)) < 0)
		goto out;

	/* An encrypted snapshot's message says only what a remote's host
	 * sees anyway: the job (the branch) and the time. */
	char *message = store_key(st) ? xasprintf("%s %s\n", job->name, manifest->started)
				      : xasprintf("%s %s\n\nengine %s, %s, %zu tables, %lld rows, verification %s\n",
						  job->name, manifest->started, job->engine, job->format,
						  manifest->n_tables, (long long)manifest_rows(manifest),
						  manifest->verify_result);
	/* A stop signal during verification: nothing is committed. */
	if ((rc = sig_check()) < 0) {
		free(message);
		goto out;
	}
	/* The shrink guard compares with the snapshot before: the new one is
	 * committed all the same (it is what the source holds), the run
	 * fails. A previous manifest that does not read is no comparison. */
	if (parent[0] && !opts->allow_shrink) {
		struct manifest prev;
		if (snap_read_manifest(st, parent, &prev) == 0)
			cycle_shrink_check(job, &prev, manifest, res->shrink, sizeof(res->shrink));
		else
			log_debug("job '%s': no shrink check: %s", job->name, err_last());
		err_clear();
		manifest_free(&prev);
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
	manifest_free(manifest);
	free(manifest);
	return rc;
}

int cycle_verify_snapshot(const struct config *cfg, struct store *st, const struct job_cfg *job,
			  const char *commit, const char *keep_failed, struct buf *problems)
{
	(void)cfg;
	struct manifest m;
	if (snap_read_manifest(st, commit, &m) < 0) {
		buf_printf(problems, "%s\n", err_last());
		err_clear();
		return ERR_VERIFY;
	}
	int rc = verify_in_scratch(st, job, commit, &m, keep_failed, NULL, NULL, problems);
	manifest_free(&m);
	return rc;
}

int cycle_verify_sample(const struct config *cfg, struct store *st, const struct job_cfg *job, size_t n,
			const char *keep_failed, struct buf *problems, size_t *tested)
{
	char ref[512];
	struct snap_info *list = NULL;
	size_t count = 0;
	*tested = 0;
	cycle_branch_ref(job, ref, sizeof(ref));
	int rc = snap_list(st, ref, &list, &count);
	if (rc < 0)
		return rc;
	size_t *pick = calloc(n ? n : 1, sizeof(*pick));
	/* list[0] is the tip: the newest is checked by every backup. */
	size_t k = verify_sample_pick(1, count, n, pick);
	for (size_t i = 0; i < k && rc == 0; i++) {
		rc = cycle_verify_snapshot(cfg, st, job, list[pick[i]].id, keep_failed, problems);
		(*tested)++;
		if (rc < 0)
			rc = err_set(ERR_VERIFY, "older snapshot %.12s failed its restore-test",
				     list[pick[i]].id);
	}
	free(pick);
	snap_list_free(list, count);
	return rc;
}

/* The engine that restores the snapshot m describes; NULL with an error
 * naming the snapshot if this dbgit has none such. */
static const struct engine *snapshot_engine(const struct manifest *m, const char *commit)
{
	const struct engine *eng = engine_find(m->engine);
	if (!eng)
		err_set(ERR_GENERIC, "snapshot %.12s: engine \"%s\" is not available in this dbgit", commit,
			m->engine);
	return eng;
}

struct stat_read {
	struct store *st;
	const char *commit;
};

/* For the engine's text stat: one small file of the newer snapshot. */
static int stat_read(void *arg, const char *path, struct buf *out)
{
	struct stat_read *r = arg;
	return snap_read_path(r->st, r->commit, path, (size_t)1 << 20, out);
}

/* diff --stat from the changed chunks' text (engine.h): 0 with out
 * filled, ENGINE_STAT_FALLBACK when the text cannot tell, or an error. */
static int diff_stat_text(struct store *st, const struct job_cfg *job, const struct engine_text_stat *ts,
			  const char *const ids[2], struct cJSON *out)
{
	struct stat_read rd = {st, ids[1]};
	void *s = ts->begin(job, stat_read, &rd);
	const struct snap_diff_cb cb = {ts->file, ts->line};
	int rc = snap_diff_lines(st, ids[0], ids[1], ts->suffix, &cb, s);
	if (rc == 0)
		rc = ts->end(s, out);
	ts->free(s);
	if (rc == ENGINE_STAT_FALLBACK) {
		cJSON_DeleteItemFromObjectCaseSensitive(out, "tables");
		cJSON_DeleteItemFromObjectCaseSensitive(out, "schema");
		log_info("job '%s': diff --stat: the text cannot tell (the schema changed?): restoring both snapshots",
			 job->name);
	} else if (rc == 0) {
		log_info("job '%s': diff --stat: counted from the changed chunks, nothing restored", job->name);
	}
	return rc;
}

int cycle_diff_stat(const struct config *cfg, struct store *st, const struct job_cfg *job,
		    const char *old_commit, const char *new_commit, struct cJSON *out)
{
	(void)cfg;
	const char *ids[2] = {old_commit, new_commit};
	char *dir = NULL, *paths[2] = {NULL, NULL};
	struct manifest m[2];
	memset(m, 0, sizeof(m));
	const struct engine *eng = NULL;
	struct job_cfg sj;
	int rc = 0;
	for (int i = 0; rc == 0 && i < 2; i++)
		if ((rc = snap_read_manifest(st, ids[i], &m[i])) == 0 && !snapshot_engine(&m[i], ids[i]))
			rc = ERR_GENERIC;
	if (rc == 0 && strcmp(m[0].engine, m[1].engine))
		rc = err_set(ERR_USAGE, "job '%s': snapshots %.12s and %.12s were taken by different engines (%s, %s)",
			     job->name, ids[0], ids[1], m[0].engine, m[1].engine);
	if (rc == 0) {
		/* Engine and formats from the newer snapshot's manifest. */
		verify_snapshot_job(job, &m[1], &sj);
		eng = engine_find(sj.engine);
		if (!eng->compare)
			rc = err_set(ERR_USAGE, "job '%s': diff --stat is not available for engine \"%s\"",
				     job->name, sj.engine);
	}
	/* Two SQL snapshots: rows counted from the chunks that changed. */
	if (rc == 0 && eng->text_stat && manifest_has_format(&m[0], "sql") && manifest_has_format(&m[1], "sql")) {
		rc = diff_stat_text(st, &sj, eng->text_stat, ids, out);
		if (rc != ENGINE_STAT_FALLBACK) {
			manifest_free(&m[0]);
			manifest_free(&m[1]);
			return rc;
		}
		rc = 0;
	}
	if (rc == 0)
		rc = fs_mkdtemp(&dir, "diff");
	for (int i = 0; rc == 0 && i < 2; i++) {
		struct dump_source *src = NULL;
		const char *fmt = manifest_pick_format(&m[i], NULL);
		struct job_cfg ij;
		verify_snapshot_job(job, &m[i], &ij);
		paths[i] = xasprintf("%s/%d.db", dir, i);
		if ((rc = snap_source_new(&src, st, ids[i], job->max_blob_size)) == 0)
			rc = eng->restore(&ij, src, fmt, paths[i]);
		snap_source_free(src);
	}
	if (rc == 0)
		rc = eng->compare(&sj, paths[0], paths[1], out);
	for (int i = 0; eng && eng->discard && i < 2; i++)
		if (paths[i])
			eng->discard(&sj, paths[i]);
	if (dir)
		fs_rmtree(dir);
	free(dir), free(paths[0]), free(paths[1]);
	manifest_free(&m[0]);
	manifest_free(&m[1]);
	return rc;
}

/* The source's filter for restore --table: the engine says which files. */
struct wants {
	const struct engine *eng;
	const struct job_cfg *job;
};

static int engine_wants(void *arg, const char *path)
{
	const struct wants *w = arg;
	return w->eng->restore_wants(w->job, path);
}

/* The names asked for, as the snapshot spells them (SQLite's names are
 * case-insensitive); an error naming the snapshot's tables if one is not
 * there. */
static int snapshot_tables(const struct manifest *m, const char *commit, const char *const *tables, size_t n,
			   char **out)
{
	for (size_t i = 0; i < n; i++) {
		out[i] = NULL;
		for (size_t k = 0; k < m->n_tables && !out[i]; k++)
			if (!strcasecmp(m->tables[k].name, tables[i]))
				out[i] = m->tables[k].name;
		if (out[i])
			continue;
		struct buf known = BUF_INIT;
		for (size_t k = 0; k < m->n_tables && known.len < 400; k++)
			buf_printf(&known, "%s%s", k ? ", " : "", m->tables[k].name);
		err_set(ERR_USAGE, "snapshot %.12s has no table '%s' (tables: %s)", commit, tables[i],
			m->n_tables ? buf_cstr(&known) : "none");
		buf_free(&known);
		return ERR_USAGE;
	}
	return 0;
}

static int restore_into(const struct config *cfg, struct store *st, const struct job_cfg *job,
			const char *commit, const char *target, int force, const char *format,
			const char *const *tables, size_t n_tables);

/* restore --to DBNAME, for engines whose target is a database on the job's
 * server: restored into a scratch database, checked against the manifest,
 * and only then given the name. */
static int restore_database(struct store *st, const struct job_cfg *job, const char *commit, const char *target,
			    int force, const char *format)
{
	const struct engine *today = engine_find(job->engine);
	if (today->db_target_check(job, target, force) < 0)
		return err_code();
	struct manifest m;
	if (snap_read_manifest(st, commit, &m) < 0)
		return ERR_GENERIC;
	struct job_cfg sj;
	verify_snapshot_job(job, &m, &sj);
	const struct engine *eng = snapshot_engine(&m, commit);
	const char *fmt = manifest_pick_format(&m, format);
	struct dump_source *src = NULL;
	struct buf problems = BUF_INIT;
	/* A path in name only: the engine names its scratch database after it. */
	char *scratch = xasprintf("restore/%s", "target");
	int rc = 0;
	if (!eng)
		rc = ERR_GENERIC;
	else if (eng != today)
		rc = err_set(ERR_USAGE, "snapshot %.12s was taken by engine \"%s\", not \"%s\"", commit, m.engine,
			     job->engine);
	else if (!fmt)
		rc = err_set(ERR_USAGE, "snapshot %.12s has no %s copy", commit, format ? format : "usable");
	if (rc == 0 && (rc = snap_source_new(&src, st, commit, sj.max_blob_size)) == 0 &&
	    (rc = eng->restore(&sj, src, fmt, scratch)) == 0) {
		rc = verify_restored(eng, &sj, scratch, &m, &problems);
		if (rc < 0) {
			char line[400];
			rc = err_set(ERR_VERIFY, "restore of snapshot %.12s does not match its manifest: %s", commit,
				     verify_first_line(&problems, line, sizeof(line)));
		}
		if (rc == 0)
			rc = eng->db_install(&sj, scratch, target, force);
	}
	if (rc < 0 && eng && eng == today) {
		char keep[1024];
		snprintf(keep, sizeof(keep), "%s", err_last());
		int code = err_code();
		eng->discard(&sj, scratch);
		err_set(code, "%s", keep);
	}
	free(scratch);
	snap_source_free(src);
	buf_free(&problems);
	manifest_free(&m);
	return rc;
}

int cycle_restore(const struct config *cfg, struct store *st, const struct job_cfg *job,
		  const char *commit, const char *target, int force, const char *format)
{
	return restore_into(cfg, st, job, commit, target, force, format, NULL, 0);
}

int cycle_restore_tables(const struct config *cfg, struct store *st, const struct job_cfg *job,
			 const char *commit, const char *target, int force, const char *const *tables,
			 size_t n_tables)
{
	return restore_into(cfg, st, job, commit, target, force, NULL, tables, n_tables);
}

static int restore_into(const struct config *cfg, struct store *st, const struct job_cfg *job,
			const char *commit, const char *target, int force, const char *format,
			const char *const *tables, size_t n_tables)
{
	(void)cfg;
	/* The one place that asks: is the target a database or a file? */
	const struct engine *today = engine_find(job->engine);
	if (today && today->db_target_check && n_tables)
		return err_set(ERR_USAGE, "job '%s': restore --table works for SQLite snapshots only", job->name);
	if (today && today->db_target_check)
		return restore_database(st, job, commit, target, force, format);
	struct target_info was;
	if (target_check(target, force, &was) < 0)
		return err_code();
	struct manifest m;
	if (snap_read_manifest(st, commit, &m) < 0)
		return ERR_GENERIC;
	/* Engine and format as the snapshot was taken, not as configured
	 * today. */
	struct job_cfg sj;
	verify_snapshot_job(job, &m, &sj);
	job = &sj;
	const struct engine *eng = snapshot_engine(&m, commit);
	char **only = n_tables ? calloc(n_tables, sizeof(*only)) : NULL;
	/* Some tables only come from the SQL copy: a binary copy is one file
	 * that holds every table. */
	const char *fmt = manifest_pick_format(&m, n_tables ? "sql" : format);
	int rc = 0;
	char *tmp = NULL;
	struct dump_source *src = NULL;
	struct buf problems = BUF_INIT;
	struct wants wants = {eng, job};
	if (!eng) {
		rc = ERR_GENERIC;
		goto out;
	}
	if (n_tables && !eng->restore_wants) {
		rc = err_set(ERR_USAGE, "snapshot %.12s: engine \"%s\" cannot restore some tables only",
			     commit, m.engine);
		goto out;
	}
	if (n_tables && !fmt) {
		rc = err_set(ERR_USAGE,
			     "snapshot %.12s holds only a binary copy: --table needs an SQL copy (format = "
			     "\"sql\" or \"both\"); restore it whole and copy the table with sqlite3",
			     commit);
		goto out;
	}
	if (!fmt) {
		rc = err_set(ERR_USAGE, "snapshot %.12s has no %s copy", commit, format ? format : "usable");
		goto out;
	}
	if (n_tables) {
		if ((rc = snapshot_tables(&m, commit, tables, n_tables, only)) < 0)
			goto out;
		sj.only_tables = only;
		sj.n_only = n_tables;
		verify_restrict(&m, only, n_tables);
	}
	/* A temp file beside the target, so the final rename is atomic. */
	if ((rc = target_temp(target, &tmp)) < 0)
		goto out;
	rc = n_tables ? snap_source_new_only(&src, st, commit, job->max_blob_size, engine_wants, &wants)
		      : snap_source_new(&src, st, commit, job->max_blob_size);
	if (rc < 0 || (rc = eng->restore(job, src, fmt, tmp)) < 0)
		goto out;
	rc = verify_restored(eng, job, tmp, &m, &problems);
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
	/* The last point where a stop signal may stop the restore: once the
	 * target has its name the restore is complete, and a signal that
	 * comes after it stops nothing (restore ends as a success). */
	TEST_PAUSE("DBGIT_TEST_PAUSE_RESTORE", "restore", "checked");
	if ((rc = sig_check()) < 0 || (rc = target_replace(tmp, target, force, &was)) < 0)
		goto out;
	free(tmp);
	tmp = NULL;
	TEST_PAUSE("DBGIT_TEST_PAUSE_RESTORE", "restore", "renamed");
out:
	if (tmp) {
		unlink(tmp);
		/* The side files of either journal mode (a WAL snapshot
		 * restores in WAL mode). */
		static const char *const sides[] = {"-journal", "-wal", "-shm"};
		for (size_t i = 0; i < 3; i++) {
			char *side = xasprintf("%s%s", tmp, sides[i]);
			unlink(side);
			free(side);
		}
		free(tmp);
	}
	snap_source_free(src);
	buf_free(&problems);
	/* only borrows the manifest's names: freed before it. */
	free(only);
	manifest_free(&m);
	return rc;
}
