/* backup: the whole cycle for the named jobs (or all): dump, verify,
 * commit; then rotate and push. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbgit/cmd.h"
#include "dbgit/config.h"
#include "dbgit/cycle.h"
#include "dbgit/manifest.h"
#include "dbgit/remote.h"
#include "dbgit/rotate.h"
#include "dbgit/store.h"
#include "dbgit/util.h"

/* Jobs named on one command line. */
#define MAX_NAMED 256

static int cmd_backup(struct cmd_ctx *ctx, int argc, char **argv)
{
	int no_push = 0, no_rotate = 0, dry_run = 0, json = 0;
	const char *keep_failed = NULL;
	const struct cmd_opt opts[] = {
		{"--no-push", &no_push, NULL},     {"--no-rotate", &no_rotate, NULL},
		{"--dry-run", &dry_run, NULL},     {"--json", &json, NULL},
		{"--keep-failed", NULL, &keep_failed}, {NULL, NULL, NULL},
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
	const char **branches = calloc(cap, sizeof(*branches));
	char (*branch_buf)[512] = calloc(cap, sizeof(*branch_buf));
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

	int failed = 0, push_failed = 0;
	int verbose = isatty(STDOUT_FILENO) || log_level() >= LOG_INFO;
	cJSON *out = cJSON_CreateArray();
	size_t n_branches = 0;
	int rewritten_any = 0;
	for (size_t i = 0; i < n; i++) {
		const struct job_cfg *job = jobs[i];
		struct backup_opts bo = {no_push, no_rotate, dry_run, keep_failed};
		struct backup_result res;
		err_clear();
		/* Stopped by a signal: no further job starts. */
		if (sig_pending())
			break;
		rc = cycle_backup(cfg, st, job, &bo, &res);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "job", job->name);
		if (rc < 0) {
			failed++;
			fprintf(stderr, "dbgit: %s\n", res.message);
			cJSON_AddStringToObject(o, "status", "failed");
			cJSON_AddStringToObject(o, "error", res.message);
			err_clear();
			if (!sig_pending() && cycle_hook(cfg, "on-failure", job->name, "failed", "", res.message) < 0) {
				fprintf(stderr, "dbgit: %s\n", err_last());
				err_clear();
			}
		} else {
			cJSON_AddStringToObject(o, "status", dry_run ? "dry-run" : "committed");
			cJSON_AddStringToObject(o, "commit", res.commit);
			const struct manifest *m = res.manifest;
			int64_t rows = manifest_rows(m);
			cJSON_AddNumberToObject(o, "tables", (double)m->n_tables);
			cJSON_AddNumberToObject(o, "rows", (double)rows);
			cJSON_AddNumberToObject(o, "new_blobs", (double)m->new_blobs);
			if (verbose && !json)
				printf("%s: %s %.12s (%zu tables, %lld rows, verification %s)\n", job->name,
				       dry_run ? "verified, not committed (dry run)" : "snapshot", res.commit,
				       m->n_tables, (long long)rows, strcmp(job->verify, "full") ? "skipped" : "passed");
			if (cycle_hook(cfg, "post-backup", job->name, "ok", res.commit, "") < 0) {
				fprintf(stderr, "dbgit: warning: %s\n", err_last());
				err_clear();
			}
			manifest_free(res.manifest);
			free(res.manifest);
			if (!dry_run && !no_rotate && !sig_pending()) {
				const struct keep_policy *keep = config_job_keep(cfg, job);
				char ref[512];
				cycle_branch_ref(job, ref, sizeof(ref));
				int rewritten = 0;
				if (keep->set && rotate_branch(st, ref, keep, 0, &rewritten) < 0) {
					fprintf(stderr, "dbgit: warning: job '%s': rotation failed: %s\n", job->name,
						err_last());
					err_clear();
				}
				rewritten_any |= rewritten;
			}
		}
		cJSON_AddItemToArray(out, o);
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
	if (!no_push && !dry_run && cfg->n_remotes > 0 && n_branches > 0 && !sig_pending()) {
		int prc = remote_push_all(st, cfg, branches, n_branches, 0);
		if (prc < 0) {
			/* 3 retried next run, 5 a person must act: as `dbgit push`. */
			push_failed = err_exit_status(prc);
			fprintf(stderr, "dbgit: %s\n", err_last());
			err_clear();
		}
	}
	/* After the push: a successful push moves the leases off the old
	 * tips, so the dropped snapshots' objects can go this very run. */
	if (!sig_pending() && (rewritten_any || (!dry_run && store_wants_pack(st))) && store_reclaim(st) < 0) {
		fprintf(stderr, "dbgit: warning: reclaiming space failed: %s\n", err_last());
		err_clear();
	}
	if (json) {
		cmd_print_json(out);
	}
	cJSON_Delete(out);
	free(jobs), free(branches), free(branch_buf);
	store_free(st);
	config_free(cfg);
	return failed ? EXIT_JOB_FAILED : push_failed ? push_failed : EXIT_OK;
fail:
	rc = err_code();
	free(jobs), free(branches), free(branch_buf);
	store_free(st);
	config_free(cfg);
	return cmd_fail(rc);
}

const struct cmd_entry cmd_backup_entry = {
	.name = "backup",
	.usage = "backup [JOB...] [--no-push] [--no-rotate] [--dry-run] [--keep-failed DIR] [--json]",
	.summary = "dump, verify and commit a snapshot of each job, then rotate and push",
	.help = "For each named job (default: all): runs the pre-backup hook, dumps a\n"
		"consistent snapshot, stores it as blobs, restores it from the repository's\n"
		"objects into a scratch database and compares every table's rows and checksum\n"
		"with the source, and only then commits it on the job's branch. Then applies\n"
		"the retention policy and pushes every job branch to every remote.\n\n"
		"  --no-push          commit locally only (push later with 'dbgit push')\n"
		"  --no-rotate        do not apply the retention policy\n"
		"  --dry-run          dump and verify, commit nothing\n"
		"  --keep-failed DIR  keep the scratch data of a failed verification in DIR\n"
		"  --json             print the outcome of each job as JSON\n\n"
		"Exit status: 0 all committed (and pushed); 1 a job failed (nothing committed\n"
		"for it); 2 usage or configuration error; 3 committed but a push failed\n"
		"(retried next run); 4 another dbgit holds the repository lock; 5 committed,\n"
		"but a remote refused in a way no retry fixes (host key, key, lease,\n"
		"permission, repository missing): a person must act; 128+N stopped by\n"
		"signal N (143 SIGTERM, 130 SIGINT) after cleaning up.\n",
	.exec = cmd_backup,
};
