/*
 * cycle: the order of the steps for one job - hooks, dump, store, verify,
 * commit, rotate, push - and the lock around them. Never asks which engine
 * it holds.
 */
#ifndef DBGIT_CYCLE_H
#define DBGIT_CYCLE_H

#include <stdint.h>

#include "dbgit/config.h"

struct store;
struct cJSON;
struct manifest;
struct buf;

struct backup_opts {
	int no_push, no_rotate, dry_run;
	const char *keep_failed; /* directory to keep scratch data of a failed verify */
	int allow_shrink;        /* --allow-shrink: no shrink guard this run */
};

struct backup_result {
	char commit[41];
	char message[512]; /* failure, one line */
	char shrink[400];  /* committed, but the shrink guard tripped: why; else "" */
	struct manifest *manifest; /* owned (manifest_free, free); NULL on failure */
};

/* One job through the pre-backup hook, dump, store, verify, the shrink
 * guard's verdict (res->shrink) and commit. Returns 0, ERR_VERIFY or
 * another error. The rest of a run (other hooks, rotate, push) is
 * cycle_run's. A dry run runs no hook and commits nothing. */
int cycle_backup(const struct config *cfg, struct store *st, const struct job_cfg *job,
		 const struct backup_opts *opts, struct backup_result *res);

/* The shrink guard: fills out (one line naming the table and the drop) and
 * returns 1 if m lost more rows than job->shrink_limit of prev's, in total
 * or in one table (drops under 10 rows never count; tables excluded now
 * are not compared); 0 if not, if prev is NULL or job->allow_shrink. */
int cycle_shrink_check(const struct job_cfg *job, const struct manifest *prev,
		       const struct manifest *m, char *out, size_t len);

#include "dbgit/rotate.h"

/* One job of a run, as the command reports it. */
struct run_job {
	const struct job_cfg *job;
	int rc;                 /* 0: committed (dry run: verified); else the job's error */
	int shrunk;             /* committed, but the shrink guard failed the job */
	char commit[41];        /* "" on a dry run or a failure */
	char message[800];      /* the failure's or the shrink guard's line */
	size_t n_tables;
	int64_t rows, new_blobs, size;
	char verify[16];        /* "passed", "skipped" */
	int64_t started;        /* Unix time */
	double seconds;
	int rotated;            /* rot is a result (on a dry run: the plan) */
	struct rotate_result rot;
};

/* What a push would do (dry run), per remote and job branch. */
struct run_push {
	const char *remote, *branch, *state;
	int would_push;
};

struct run_result {
	struct run_job *jobs;
	size_t n_jobs;              /* jobs started (a signal stops the rest) */
	int push_tried, push_rc;
	char push_error[512];
	struct run_push *push_plan; /* dry run */
	size_t n_push_plan;
	int status;                 /* the exit status */
};

/* Called after each job's snapshot, before its hooks, so that its line
 * comes before anything the hooks print. */
struct run_report {
	void (*job_done)(void *arg, const struct run_job *j);
	void *arg;
};

/* The whole backup run (src/run.c), with the repository lock held: each
 * job in order through cycle_backup, its post-backup or on-failure hook
 * (the shrink guard failing a job runs on-failure), rotation (not after a
 * shrink), then one push of every job branch to every remote, reclaiming
 * space, recording each attempt in <repo>/dbgit-state.json and writing
 * [metrics] textfile. A dry run commits, rotates, pushes, runs hooks and
 * records nothing: res gets the rotation plans and a push plan. Returns the
 * exit status (also res->status); free res with cycle_run_free. */
int cycle_run(const struct config *cfg, struct store *st, const struct job_cfg *const *jobs, size_t n,
	      const struct backup_opts *opts, const struct run_report *rep, struct run_result *res);
void cycle_run_free(struct run_result *res);

/* node_exporter textfile metrics for every job, from the repository (the
 * branches, the newest manifest), the state file and the remotes' leases. */
int cycle_metrics(const struct config *cfg, struct store *st, struct buf *out);
/* The same written to [metrics] textfile by temp file and rename. */
int cycle_metrics_write(const struct config *cfg, struct store *st);

/* The last attempt recorded for a job in the state file: result is "ok",
 * "failed", "shrunk" or "" (none recorded); error the failure's line. */
int cycle_last_attempt(struct store *st, const char *job, int64_t *when, char *result, size_t rlen,
		       char *error, size_t elen);

/* Restore-tests one snapshot against its manifest, from the repository's
 * objects. problems receives the reasons. keep_failed as above. */
struct buf;
int cycle_verify_snapshot(const struct config *cfg, struct store *st, const struct job_cfg *job,
			  const char *commit, const char *keep_failed, struct buf *problems);

/* Restore-tests up to n random snapshots of the job's branch older than
 * its tip (`verify --sample`, [verify] sample after a backup). 0 if all
 * passed (or none is older); ERR_VERIFY naming the first that failed,
 * its problems in problems. tested receives how many were tested. */
int cycle_verify_sample(const struct config *cfg, struct store *st, const struct job_cfg *job, size_t n,
			const char *keep_failed, struct buf *problems, size_t *tested);

/* Rebuilds the snapshot's database at target via a temp file beside it,
 * checked against the manifest, renamed into place. */
int cycle_restore(const struct config *cfg, struct store *st, const struct job_cfg *job,
		  const char *commit, const char *target, int force, const char *format);
/* The same for some tables only (restore --table): their schema, the
 * indexes and triggers on them, and their rows, into a new database at
 * target; the other tables' files are not read. Needs an SQL copy. */
int cycle_restore_tables(const struct config *cfg, struct store *st, const struct job_cfg *job,
			 const char *commit, const char *target, int force, const char *const *tables,
			 size_t n_tables);

/* Restores two snapshots into scratch databases and compares them table by
 * table (engine compare): out receives "tables" and "schema". */
int cycle_diff_stat(const struct config *cfg, struct store *st, const struct job_cfg *job,
		    const char *old_commit, const char *new_commit, struct cJSON *out);

/* Runs the hook named name (pre-backup, post-backup, on-failure) if present
 * (src/hook.c): stdin /dev/null, stdout onto stderr, at most [hooks] timeout
 * seconds, then its process group is killed and it has failed. A hook file
 * that is not executable is warned about and not run (returns 0). */
int cycle_hook(const struct config *cfg, const char *name, const char *job, const char *status,
	       const char *commit, const char *message);

/* The job's branch, "backup/<job>" unless configured. Full ref name in ref. */
void cycle_branch_ref(const struct job_cfg *job, char *ref, size_t len);

#endif
