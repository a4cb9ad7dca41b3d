/*
 * run: the whole `dbgit backup` run in one place - the jobs in order (each
 * through cycle_backup), every hook, the shrink guard's verdict, rotation,
 * the push, reclaiming space, the signal checks and the exit status - and
 * what an admin's monitoring reads afterwards: the run's state file and the
 * Prometheus metrics. The command only parses arguments and prints.
 *
 * The state file, <repo>/dbgit-state.json, holds per job what no commit
 * records: the last attempt (time, result, duration, error) and the last
 * push. It is written under the repository lock, after every job, by a
 * temp file, fsync and rename, so a reader sees the old or the new file,
 * never half of one. It lives beside the objects, not in a ref: nothing of
 * it is pushed, and a repository copied elsewhere keeps its history. A
 * missing or unreadable state file only means "no attempt recorded".
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbgit/cycle.h"
#include "dbgit/manifest.h"
#include "dbgit/remote.h"
#include "dbgit/rotate.h"
#include "dbgit/store.h"
#include "dbgit/util.h"

#define STATE_NAME "dbgit-state.json"
#define STATE_MAX  (4u << 20)

static char *state_path(struct store *st)
{
	const char *p = store_path(st);
	size_t n = strlen(p);
	return xasprintf("%s%s%s", p, n && p[n - 1] == '/' ? "" : "/", STATE_NAME);
}

/* The state document; an empty one if there is none or it does not parse
 * (it is advisory: the commits are the truth). */
static cJSON *state_load(struct store *st)
{
	char *path = state_path(st), *text = NULL;
	cJSON *doc = NULL;
	if (fs_exists(path) && fs_read_small(path, &text, STATE_MAX) == 0)
		doc = cJSON_Parse(text);
	else
		err_clear();
	if (!cJSON_IsObject(doc)) {
		if (doc)
			log_warn("%s is not a JSON object; starting it afresh", path);
		cJSON_Delete(doc);
		doc = cJSON_CreateObject();
	}
	free(text);
	free(path);
	return doc;
}

/* Atomic replace: temp file beside it, fsync, rename, fsync the folder. */
static int write_atomic(const char *path, const char *text, mode_t mode)
{
	char *tmp = xasprintf("%s.tmp-%ld", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	int rc = 0;
	if (fd < 0)
		rc = err_set(ERR_GENERIC, "cannot write %s: %s", tmp, strerror(errno));
	else if (fchmod(fd, mode) < 0 || fs_write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0)
		rc = err_set(ERR_GENERIC, "cannot write %s: %s", tmp, strerror(errno));
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = err_set(ERR_GENERIC, "cannot write %s: %s", tmp, strerror(errno));
	if (rc == 0 && rename(tmp, path) < 0)
		rc = err_set(ERR_GENERIC, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
	if (rc < 0)
		unlink(tmp);
	else
		fs_fsync_parent(path);
	free(tmp);
	return rc;
}

static cJSON *state_job(cJSON *doc, const char *job)
{
	cJSON *jobs = cJSON_GetObjectItemCaseSensitive(doc, "jobs");
	if (!cJSON_IsObject(jobs)) {
		cJSON_DeleteItemFromObjectCaseSensitive(doc, "jobs");
		jobs = cJSON_AddObjectToObject(doc, "jobs");
	}
	cJSON *j = cJSON_GetObjectItemCaseSensitive(jobs, job);
	if (!cJSON_IsObject(j)) {
		cJSON_DeleteItemFromObjectCaseSensitive(jobs, job);
		j = cJSON_AddObjectToObject(jobs, job);
	}
	return j;
}

static void set_num(cJSON *o, const char *k, double v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, k);
	cJSON_AddNumberToObject(o, k, v);
}

static void set_str(cJSON *o, const char *k, const char *v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, k);
	cJSON_AddStringToObject(o, k, v);
}

static int state_save(struct store *st, cJSON *doc)
{
	set_num(doc, "version", 1);
	char *text = cJSON_Print(doc);
	char *path = state_path(st);
	int rc = write_atomic(path, text, 0600);
	free(path);
	cJSON_free(text);
	return rc;
}

/* Records one job's attempt (not for a dry run). A failure to record is a
 * warning: the snapshot itself is safe. */
static void record_attempt(struct store *st, const struct run_job *j)
{
	cJSON *doc = state_load(st);
	cJSON *o = state_job(doc, j->job->name);
	const char *result = j->rc < 0 ? "failed" : j->shrunk ? "shrunk" : "ok";
	set_num(o, "last_attempt", (double)j->started);
	set_str(o, "last_result", result);
	set_num(o, "last_duration", j->seconds);
	set_str(o, "last_error", j->message);
	if (j->rc == 0) {
		set_num(o, "last_success", (double)j->started);
		set_str(o, "last_commit", j->commit);
	}
	if (state_save(st, doc) < 0) {
		log_warn("the run's state was not recorded: %s", err_last());
		err_clear();
	}
	cJSON_Delete(doc);
}

static void record_push(struct store *st, const struct run_result *res)
{
	cJSON *doc = state_load(st);
	cJSON *p = cJSON_GetObjectItemCaseSensitive(doc, "push");
	if (!cJSON_IsObject(p)) {
		cJSON_DeleteItemFromObjectCaseSensitive(doc, "push");
		p = cJSON_AddObjectToObject(doc, "push");
	}
	set_num(p, "last_attempt", (double)time_now());
	set_str(p, "last_result", res->push_rc < 0 ? "failed" : "ok");
	set_str(p, "last_error", res->push_error);
	if (state_save(st, doc) < 0) {
		log_warn("the run's state was not recorded: %s", err_last());
		err_clear();
	}
	cJSON_Delete(doc);
}

/* ---- the shrink guard ------------------------------------------------ */

/* A drop of fewer rows than this never trips the guard: a table of a few
 * rows emptied by the application is not a lost database. */
#define SHRINK_MIN_ROWS 10

static const struct manifest_table *find_table(const struct manifest *m, const char *name)
{
	for (size_t i = 0; i < m->n_tables; i++)
		if (!strcmp(m->tables[i].name, name))
			return &m->tables[i];
	return NULL;
}

static int dropped(int64_t was, int64_t now, double limit)
{
	return was > now && was - now >= SHRINK_MIN_ROWS && (double)(was - now) > limit * (double)was;
}

int cycle_shrink_check(const struct job_cfg *job, const struct manifest *prev, const struct manifest *m,
		       char *out, size_t len)
{
	out[0] = '\0';
	if (!prev || job->allow_shrink)
		return 0;
	double limit = job->shrink_limit > 0 ? job->shrink_limit : SHRINK_DEFAULT_LIMIT;
	/* The table that lost the largest share names the trip. */
	const struct manifest_table *worst = NULL;
	int64_t worst_now = 0;
	double worst_share = 0;
	for (size_t i = 0; i < prev->n_tables; i++) {
		const struct manifest_table *t = &prev->tables[i];
		const struct manifest_table *n = find_table(m, t->name);
		/* Excluded since: not a loss of data. */
		int excluded = 0;
		for (size_t k = 0; k < job->n_exclude; k++)
			excluded |= !strcmp(job->exclude_tables[k], t->name);
		if (excluded)
			continue;
		int64_t now = n ? n->rows : 0;
		if (dropped(t->rows, now, limit)) {
			double share = (double)(t->rows - now) / (double)t->rows;
			if (!worst || share > worst_share) {
				worst = t;
				worst_now = now;
				worst_share = share;
			}
		}
	}
	int64_t was = manifest_rows(prev), now = manifest_rows(m);
	if (worst)
		snprintf(
		    out, len,
		    "job '%s': table '%s' fell from %lld to %lld rows (-%.0f%%), more than the shrink limit "
		    "of %.0f%%",
		    job->name, worst->name, (long long)worst->rows, (long long)worst_now, worst_share * 100,
		    limit * 100);
	else if (dropped(was, now, limit))
		snprintf(
		    out, len,
		    "job '%s': total rows fell from %lld to %lld (-%.0f%%), more than the shrink limit of "
		    "%.0f%%",
		    job->name, (long long)was, (long long)now, (double)(was - now) * 100 / (double)was,
		    limit * 100);
	return out[0] != '\0';
}

/* ---- the run --------------------------------------------------------- */

/* A dry run: what a push would send, per remote and branch. */
static void preview_push(struct store *st, const struct config *cfg, const struct run_result *res,
			 struct run_result *out)
{
	for (size_t i = 0; i < res->n_jobs; i++) {
		const struct run_job *j = &res->jobs[i];
		char ref[512], tip[41];
		cycle_branch_ref(j->job, ref, sizeof(ref));
		int has_tip = snap_tip(st, ref, tip) == 0 && tip[0];
		err_clear();
		for (size_t r = 0; r < cfg->n_remotes; r++) {
			enum remote_sync s = REMOTE_NEVER_PUSHED;
			if (has_tip && remote_sync_state(st, &cfg->remotes[r], ref, &s) < 0)
				err_clear();
			/* A new snapshot would make the branch ahead in any case. */
			int would = j->rc == 0 || (has_tip && s != REMOTE_IN_SYNC);
			if (!has_tip && j->rc < 0)
				would = 0;
			struct run_push *p = &out->push_plan[out->n_push_plan++];
			p->remote = cfg->remotes[r].name;
			p->branch = j->job->branch;
			p->state = has_tip ? remote_sync_name(s) : "no branch yet";
			p->would_push = would;
		}
	}
}

int cycle_run(const struct config *cfg, struct store *st, const struct job_cfg *const *jobs, size_t n,
	      const struct backup_opts *opts, const struct run_report *rep, struct run_result *res)
{
	memset(res, 0, sizeof(*res));
	res->jobs = calloc(n ? n : 1, sizeof(*res->jobs));
	const char **branches = calloc(n + 1, sizeof(*branches));
	char(*branch_buf)[512] = calloc(n + 1, sizeof(*branch_buf));
	size_t n_branches = 0;
	int failed = 0, rewritten_any = 0;
	for (size_t i = 0; i < n; i++) {
		const struct job_cfg *job = jobs[i];
		/* Stopped by a signal: no further job starts. */
		if (sig_pending())
			break;
		struct run_job *j = &res->jobs[res->n_jobs++];
		struct backup_result br;
		j->job = job;
		j->started = time_now();
		err_clear();
		j->rc = cycle_backup(cfg, st, job, opts, &br);
		j->seconds = (double)(time_now() - j->started);
		snprintf(j->commit, sizeof(j->commit), "%s", br.commit);
		if (j->rc < 0) {
			snprintf(j->message, sizeof(j->message), "%s", br.message);
		} else {
			const struct manifest *m = br.manifest;
			j->n_tables = m->n_tables;
			j->rows = manifest_rows(m);
			j->new_blobs = m->new_blobs;
			j->size = m->size;
			snprintf(j->verify, sizeof(j->verify), "%s",
				 m->verify_result ? m->verify_result : "");
			if (br.shrink[0]) {
				j->shrunk = 1;
				snprintf(j->message, sizeof(j->message),
					 "%s; %s %.12s, but check it (allow_shrink = true or "
					 "--allow-shrink for an intended purge)",
					 br.shrink, opts->dry_run ? "verified" : "committed as", br.commit);
			}
			manifest_free(br.manifest);
			free(br.manifest);
		}
		err_clear();
		if (rep && rep->job_done)
			rep->job_done(rep->arg, j);
		if (!opts->dry_run)
			record_attempt(st, j);
		if (j->rc < 0 || j->shrunk) {
			failed++;
			/* Hooks run for real runs only: a dry run changes nothing
			 * anywhere, and a hook may. */
			if (!opts->dry_run && !sig_pending() &&
			    cycle_hook(cfg, "on-failure", job->name, "failed", j->commit, j->message) < 0) {
				log_error("%s", err_last());
				err_clear();
			}
		} else if (!opts->dry_run) {
			if (cycle_hook(cfg, "post-backup", job->name, "ok", j->commit, "") < 0) {
				log_warn("%s", err_last());
				err_clear();
			}
		}
		/* Rotation: not after a shrink (the snapshots before it may be
		 * the last good ones), and on a dry run only as a plan. */
		const struct keep_policy *keep = config_job_keep(cfg, job);
		if (!opts->no_rotate && keep->set && !sig_pending() && j->rc == 0 && !j->shrunk) {
			char ref[512];
			cycle_branch_ref(job, ref, sizeof(ref));
			int rc = opts->dry_run
				     ? rotate_preview(st, ref, keep, time_now(), j->started, &j->rot)
				     : rotate_branch_ex(st, ref, keep, time_now(), 0, &j->rot);
			if (rc < 0) {
				log_warn("job '%s': rotation failed: %s", job->name, err_last());
				err_clear();
			} else {
				j->rotated = 1;
				rewritten_any |= j->rot.rewritten;
			}
		}
		/* Every job's branch is pushed, so a backlog left by an earlier
		 * failed push goes out too. */
		cycle_branch_ref(job, branch_buf[n_branches], sizeof(branch_buf[0]));
		char tip[41];
		if (snap_tip(st, branch_buf[n_branches], tip) == 0 && tip[0]) {
			branches[n_branches] = branch_buf[n_branches];
			n_branches++;
		}
		err_clear();
	}
	if (opts->dry_run && !opts->no_push && cfg->n_remotes) {
		res->push_plan = calloc(res->n_jobs * cfg->n_remotes + 1, sizeof(*res->push_plan));
		preview_push(st, cfg, res, res);
	} else if (!opts->no_push && cfg->n_remotes > 0 && n_branches > 0 && !sig_pending()) {
		res->push_tried = 1;
		res->push_rc = remote_push_all(st, cfg, branches, n_branches, 0);
		if (res->push_rc < 0) {
			snprintf(res->push_error, sizeof(res->push_error), "%s", err_last());
			err_clear();
		}
		record_push(st, res);
	}
	/* After the push: a successful push moves the leases off the old
	 * tips, so the dropped snapshots' objects can go this very run. */
	if (!opts->dry_run && !sig_pending() && store_maintain(st, rewritten_any, NULL) < 0) {
		log_warn("reclaiming space failed: %s", err_last());
		err_clear();
	}
	if (!opts->dry_run && cfg->metrics_textfile && cycle_metrics_write(cfg, st) < 0) {
		log_warn("%s", err_last());
		err_clear();
	}
	free(branches);
	free(branch_buf);
	/* 3 retried next run, 5 a person must act: as `dbgit push`. */
	res->status = failed ? EXIT_JOB_FAILED : res->push_rc < 0 ? err_exit_status(res->push_rc) : EXIT_OK;
	return res->status;
}

void cycle_run_free(struct run_result *res)
{
	for (size_t i = 0; i < res->n_jobs; i++)
		rotate_result_free(&res->jobs[i].rot);
	free(res->jobs);
	free(res->push_plan);
	memset(res, 0, sizeof(*res));
}

/* ---- metrics ----------------------------------------------------------- */

/* Bytes of the files under dir (apparent sizes; symlinks not followed). */
static uint64_t tree_bytes(const char *dir)
{
	uint64_t total = 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *p = xasprintf("%s/%s", dir, de->d_name);
		struct stat sb;
		if (lstat(p, &sb) == 0)
			total += S_ISDIR(sb.st_mode)   ? tree_bytes(p)
				 : S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size
						       : 0;
		free(p);
	}
	if (d)
		closedir(d);
	return total;
}

/* Bytes of the repository's objects (loose and packed). */
static uint64_t objects_bytes(struct store *st)
{
	char *dir = xasprintf("%s/objects", store_path(st));
	uint64_t n = tree_bytes(dir);
	free(dir);
	return n;
}

struct metric {
	const char *name, *type, *help;
};
static const struct metric METRICS[] = {
    {"dbgit_last_success_timestamp_seconds", "gauge",
     "When the newest snapshot of the job was taken (dump start, Unix time); 0 if it has none."},
    {"dbgit_last_attempt_timestamp_seconds", "gauge",
     "When the last backup attempt of the job started (Unix time); 0 if none was recorded."},
    {"dbgit_last_attempt_success", "gauge",
     "1 if the last attempt committed a verified snapshot that passed the shrink guard, else 0."},
    {"dbgit_last_attempt_duration_seconds", "gauge", "How long the last attempt of the job took."},
    {"dbgit_snapshots", "gauge", "Snapshots on the job's branch."},
    {"dbgit_snapshot_bytes", "gauge", "Size of the newest snapshot's dump files."},
    {"dbgit_snapshot_rows", "gauge", "Rows in the newest snapshot (all tables)."},
    {"dbgit_snapshot_tables", "gauge", "Tables in the newest snapshot."},
    {"dbgit_snapshot_verified", "gauge", "1 if the newest snapshot's restore test passed, else 0."},
    {"dbgit_remote_in_sync", "gauge",
     "1 if the remote holds the job branch's tip (as of dbgit's last push there), else 0."},
    {"dbgit_push_last_success", "gauge", "1 if the last push of a backup run succeeded, else 0."},
    {"dbgit_repository_bytes", "gauge", "Size of the repository's objects (loose and packed)."},
};
enum {
	M_SUCCESS,
	M_ATTEMPT,
	M_RESULT,
	M_DURATION,
	M_COUNT,
	M_BYTES,
	M_ROWS,
	M_TABLES,
	M_VERIFIED,
	M_REMOTE,
	M_PUSH,
	M_REPO,
	M_N
};

static double num(const cJSON *o, const char *k, double def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : def;
}

int cycle_metrics(const struct config *cfg, struct store *st, struct buf *out)
{
	struct buf m[M_N];
	for (int i = 0; i < M_N; i++)
		m[i] = (struct buf)BUF_INIT;
	cJSON *state = state_load(st);
	const cJSON *sjobs = cJSON_GetObjectItemCaseSensitive(state, "jobs");
	int rc = 0;
	for (size_t k = 0; k < cfg->n_jobs && rc == 0; k++) {
		const struct job_cfg *job = &cfg->jobs[k];
		char ref[512];
		cycle_branch_ref(job, ref, sizeof(ref));
		/* The newest snapshot and a count: one manifest read per job. */
		struct snap_info newest, *list = &newest;
		size_t n = 0;
		if ((rc = snap_summary(st, ref, &newest, &n)) < 0)
			break;
		const struct manifest *mf = n ? list[0].manifest : NULL;
		const cJSON *sj =
		    cJSON_IsObject(sjobs) ? cJSON_GetObjectItemCaseSensitive(sjobs, job->name) : NULL;
		const cJSON *res = cJSON_GetObjectItemCaseSensitive(sj, "last_result");
		const char *l = job->name; /* names are [A-Za-z0-9._-]: no escaping needed */
		buf_printf(&m[M_SUCCESS], "%s{job=\"%s\"} %lld\n", METRICS[M_SUCCESS].name, l,
			   (long long)(n ? list[0].time : 0));
		buf_printf(&m[M_ATTEMPT], "%s{job=\"%s\"} %.0f\n", METRICS[M_ATTEMPT].name, l,
			   num(sj, "last_attempt", 0));
		/* No attempt recorded: judged by whether a snapshot exists. */
		int ok = cJSON_IsString(res) ? !strcmp(res->valuestring, "ok") : n > 0;
		buf_printf(&m[M_RESULT], "%s{job=\"%s\"} %d\n", METRICS[M_RESULT].name, l, ok);
		buf_printf(&m[M_DURATION], "%s{job=\"%s\"} %.0f\n", METRICS[M_DURATION].name, l,
			   num(sj, "last_duration", 0));
		buf_printf(&m[M_COUNT], "%s{job=\"%s\"} %zu\n", METRICS[M_COUNT].name, l, n);
		buf_printf(&m[M_BYTES], "%s{job=\"%s\"} %lld\n", METRICS[M_BYTES].name, l,
			   (long long)(mf ? mf->size : 0));
		buf_printf(&m[M_ROWS], "%s{job=\"%s\"} %lld\n", METRICS[M_ROWS].name, l,
			   (long long)(mf ? manifest_rows(mf) : 0));
		buf_printf(&m[M_TABLES], "%s{job=\"%s\"} %zu\n", METRICS[M_TABLES].name, l,
			   mf ? mf->n_tables : 0);
		buf_printf(&m[M_VERIFIED], "%s{job=\"%s\"} %d\n", METRICS[M_VERIFIED].name, l,
			   mf && mf->verify_result && !strcmp(mf->verify_result, "passed"));
		for (size_t r = 0; r < cfg->n_remotes; r++) {
			enum remote_sync s = REMOTE_NEVER_PUSHED;
			if (n && remote_sync_state(st, &cfg->remotes[r], ref, &s) < 0)
				err_clear();
			buf_printf(&m[M_REMOTE], "%s{job=\"%s\",remote=\"%s\"} %d\n", METRICS[M_REMOTE].name,
				   l, cfg->remotes[r].name, n && s == REMOTE_IN_SYNC);
		}
		snap_info_clear(&newest);
	}
	const cJSON *push = cJSON_GetObjectItemCaseSensitive(state, "push");
	const cJSON *pres = cJSON_GetObjectItemCaseSensitive(push, "last_result");
	if (cJSON_IsString(pres))
		buf_printf(&m[M_PUSH], "%s %d\n", METRICS[M_PUSH].name, !strcmp(pres->valuestring, "ok"));
	buf_printf(&m[M_REPO], "%s %llu\n", METRICS[M_REPO].name, (unsigned long long)objects_bytes(st));
	for (int i = 0; rc == 0 && i < M_N; i++) {
		if (!m[i].len)
			continue;
		buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", METRICS[i].name, METRICS[i].help,
			   METRICS[i].name, METRICS[i].type);
		buf_add(out, m[i].data, m[i].len);
	}
	for (int i = 0; i < M_N; i++)
		buf_free(&m[i]);
	cJSON_Delete(state);
	return rc;
}

int cycle_metrics_write(const struct config *cfg, struct store *st)
{
	struct buf b = BUF_INIT;
	int rc = cycle_metrics(cfg, st, &b);
	/* node_exporter reads it as another user: world-readable, as its
	 * textfile collector expects; it holds no secret. */
	if (rc == 0)
		rc = write_atomic(cfg->metrics_textfile, buf_cstr(&b), 0644);
	if (rc < 0) {
		char why[600];
		snprintf(why, sizeof(why), "%s", err_last());
		rc = err_reset(rc, "[metrics] textfile %s: %s", cfg->metrics_textfile, why);
	}
	buf_free(&b);
	return rc;
}

int cycle_last_attempt(struct store *st, const char *job, int64_t *when, char *result, size_t rlen,
		       char *error, size_t elen)
{
	cJSON *doc = state_load(st);
	const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(doc, "jobs");
	const cJSON *j = cJSON_IsObject(jobs) ? cJSON_GetObjectItemCaseSensitive(jobs, job) : NULL;
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "last_result");
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "last_error");
	*when = (int64_t)num(j, "last_attempt", 0);
	snprintf(result, rlen, "%s", cJSON_IsString(r) ? r->valuestring : "");
	snprintf(error, elen, "%s", cJSON_IsString(e) ? e->valuestring : "");
	cJSON_Delete(doc);
	return 0;
}
