/*
 * cycle: the order of the steps for one job - hooks, dump, store, verify,
 * commit, rotate, push - and the lock around them. Never asks which engine
 * it holds.
 */
#ifndef DBGIT_CYCLE_H
#define DBGIT_CYCLE_H

#include "dbgit/config.h"

struct store;
struct cJSON;
struct manifest;

struct backup_opts {
	int no_push, no_rotate, dry_run;
	const char *keep_failed; /* directory to keep scratch data of a failed verify */
};

struct backup_result {
	char commit[41];
	char message[512]; /* failure, one line */
	struct manifest *manifest; /* owned (manifest_free, free); NULL on failure */
};

/* One job through dump, store, verify, commit (and rotate). Returns 0,
 * ERR_VERIFY or another error. Push is separate (cycle_push_all). */
int cycle_backup(const struct config *cfg, struct store *st, const struct job_cfg *job,
		 const struct backup_opts *opts, struct backup_result *res);

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
