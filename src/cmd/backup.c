/* backup: parses the options, runs cycle_run (src/run.c) for the named
 * jobs (or all) under the repository lock, and prints what it did: a line
 * per job, --json, and on a dry run the rotation and push plans. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbgit/cmd.h"
#include "dbgit/config.h"
#include "dbgit/cycle.h"
#include "dbgit/rotate.h"
#include "dbgit/store.h"
#include "dbgit/util.h"

/* Jobs named on one command line. */
#define MAX_NAMED 256

struct backup_print {
	int verbose, json, dry_run;
	cJSON *out;
};

/* A job's line, as soon as its snapshot is done (before its hooks run). */
static void job_done(void *arg, const struct run_job *j)
{
	struct backup_print *p = arg;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "job", j->job->name);
	if (j->rc < 0) {
		fprintf(stderr, "dbgit: %s\n", j->message);
		cJSON_AddStringToObject(o, "status", "failed");
		cJSON_AddStringToObject(o, "error", j->message);
	} else {
		cJSON_AddStringToObject(o, "status", j->shrunk ? "shrunk" : p->dry_run ? "dry-run" : "committed");
		cJSON_AddStringToObject(o, "commit", j->commit);
		cJSON_AddNumberToObject(o, "tables", (double)j->n_tables);
		cJSON_AddNumberToObject(o, "rows", (double)j->rows);
		cJSON_AddNumberToObject(o, "new_blobs", (double)j->new_blobs);
		if (j->shrunk) {
			cJSON_AddStringToObject(o, "error", j->message);
			fprintf(stderr, "dbgit: %s\n", j->message);
		}
		if (p->verbose && !p->json)
			printf("%s: %s %.12s (%zu tables, %lld rows, verification %s)\n", j->job->name,
			       p->dry_run ? "verified, not committed (dry run)" : "snapshot", j->commit, j->n_tables,
			       (long long)j->rows, j->verify);
		if (p->dry_run && !p->json)
			printf("%s: would commit %zu tables, %lld rows, %lld bytes of dump (%lld new blobs) on %s\n",
			       j->job->name, j->n_tables, (long long)j->rows, (long long)j->size,
			       (long long)j->new_blobs, j->job->branch);
	}
	cJSON_AddItemToArray(p->out, o);
	fflush(stdout);
}

/* What a dry run would have rotated and pushed. */
static void print_plans(const struct backup_print *p, const struct run_result *res)
{
	for (size_t i = 0; i < res->n_jobs; i++) {
		const struct run_job *j = &res->jobs[i];
		cJSON *o = cJSON_GetArrayItem(p->out, (int)i);
		if (!j->rotated)
			continue;
		if (!p->json)
			cmd_print_rotate_plan(j->job->branch, &j->rot);
		cJSON_AddNumberToObject(o, "would_keep", (double)j->rot.kept);
		cJSON_AddNumberToObject(o, "would_drop", (double)(j->rot.total - j->rot.kept));
	}
	for (size_t i = 0; i < res->n_push_plan; i++) {
		const struct run_push *q = &res->push_plan[i];
		if (!p->json)
			printf("%s: %s push to %s (now: %s)\n", q->branch, q->would_push ? "would" : "would not",
			       q->remote, q->state);
	}
}

static int cmd_backup(struct cmd_ctx *ctx, int argc, char **argv)
{
	int no_push = 0, no_rotate = 0, dry_run = 0, json = 0, allow_shrink = 0;
	const char *keep_failed = NULL;
	const struct cmd_opt opts[] = {
		{"--no-push", &no_push, NULL},	       {"--no-rotate", &no_rotate, NULL},
		{"--dry-run", &dry_run, NULL},	       {"--json", &json, NULL},
		{"--allow-shrink", &allow_shrink, NULL}, {"--keep-failed", NULL, &keep_failed},
		{NULL, NULL, NULL},
	};
	const char *names[MAX_NAMED];
	int n_names, rc;
	if ((rc = cmd_parse(&cmd_backup_entry, argc, argv, opts, names, MAX_NAMED, &n_names)) != 0)
		return rc;
	struct config *cfg;
	struct store *st;
	if ((rc = cmd_setup(ctx, &cfg, &st)) != 0)
		return rc;

	/* Every named job must exist before anything is done. */
	size_t cap = cfg->n_jobs + (size_t)n_names + 1;
	const struct job_cfg **jobs = calloc(cap, sizeof(*jobs));
	size_t n = 0;
	if (n_names == 0) {
		for (size_t i = 0; i < cfg->n_jobs; i++)
			jobs[n++] = &cfg->jobs[i];
		if (n == 0) {
			err_set(ERR_USAGE, "%s has no [[job]]: nothing to back up", cfg->file);
			goto fail;
		}
	} else {
		for (int i = 0; i < n_names; i++)
			if (!(jobs[n++] = cmd_job(cfg, names[i])))
				goto fail;
	}
	if ((rc = store_lock(st)) < 0)
		goto fail;

	struct backup_print p = {isatty(STDOUT_FILENO) || log_level() >= LOG_INFO, json, dry_run,
				 cJSON_CreateArray()};
	struct backup_opts bo = {no_push, no_rotate, dry_run, keep_failed, allow_shrink};
	struct run_report rep = {job_done, &p};
	struct run_result res;
	int status = cycle_run(cfg, st, jobs, n, &bo, &rep, &res);
	if (res.push_rc < 0)
		fprintf(stderr, "dbgit: %s\n", res.push_error);
	if (dry_run)
		print_plans(&p, &res);
	if (json)
		cmd_print_json(p.out);
	cJSON_Delete(p.out);
	cycle_run_free(&res);
	free(jobs);
	store_free(st);
	config_free(cfg);
	return status;
fail:
	rc = err_code();
	free(jobs);
	store_free(st);
	config_free(cfg);
	return cmd_fail(rc);
}

const struct cmd_entry cmd_backup_entry = {
	.name = "backup",
	.usage = "backup [JOB...] [--no-push] [--no-rotate] [--dry-run] [--allow-shrink] [--keep-failed DIR] [--json]",
	.summary = "dump, verify and commit a snapshot of each job, then rotate and push",
	.help = "For each named job (default: all): runs the pre-backup hook, dumps a\n"
		"consistent snapshot, stores it as blobs, restores it from the repository's\n"
		"objects into a scratch database and compares every table's rows and checksum\n"
		"with the source, and only then commits it on the job's branch. Then applies\n"
		"the retention policy and pushes every job branch to every remote.\n\n"
		"  --no-push          commit locally only (push later with 'dbgit push')\n"
		"  --no-rotate        do not apply the retention policy\n"
		"  --dry-run          dump and verify; say what would be committed, rotated\n"
		"                     and pushed; change nothing (no commit, no hook, no\n"
		"                     rotation, no push, no object left in the repository)\n"
		"  --allow-shrink     an intended purge: no shrink guard for this run\n"
		"  --keep-failed DIR  keep the scratch data of a failed verification in DIR\n"
		"  --json             print the outcome of each job as JSON\n\n"
		"A snapshot with fewer rows than the one before by more than shrink_limit\n"
		"(default 0.5), in total or in one table, is verified and committed, but the\n"
		"job fails (exit 1, on-failure hook, no rotation) naming the table and the\n"
		"drop; allow_shrink = true in the job or --allow-shrink for an intended purge.\n\n"
		"Exit status: 0 all committed (and pushed); 1 a job failed (nothing committed\n"
		"for it, or committed but the shrink guard tripped); 2 usage or configuration error; 3 committed but a push failed\n"
		"(retried next run); 4 another dbgit holds the repository lock; 5 committed,\n"
		"but a remote refused in a way no retry fixes (host key, key, lease,\n"
		"permission, repository missing): a person must act; 128+N stopped by\n"
		"signal N (143 SIGTERM, 130 SIGINT) after cleaning up.\n",
	.exec = cmd_backup,
};
