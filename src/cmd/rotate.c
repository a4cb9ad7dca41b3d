/*
 * rotate: applies each job's retention policy now - rewrites the job's
 * branch so that only retained snapshots remain - then gives the space of
 * the dropped ones back (store_reclaim). --dry-run prints, per snapshot,
 * what stays (and which rule keeps it) and what goes, and changes nothing.
 */
#include <stdio.h>
#include <string.h>

#include "dbgit/cmd.h"
#include "dbgit/config.h"
#include "dbgit/cycle.h"
#include "dbgit/rotate.h"
#include "dbgit/store.h"
#include "dbgit/util.h"

static int rotate_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_rotate_entry = {
	.name = "rotate",
	.usage = "rotate [JOB...] [--dry-run]",
	.summary = "apply the retention policy now and reclaim space",
	.help = "Applies each job's [keep] policy (restic's forget semantics: last, hourly,\n"
		"daily, weekly, monthly, yearly, within) to the named jobs, or to every job\n"
		"that has a policy. The job's branch is rewritten so that only the retained\n"
		"snapshots remain, each with its original tree, message and dates; snapshots\n"
		"older than the oldest dropped one keep their commit ids. Then the space of\n"
		"the dropped snapshots is given back: one new pack of everything still\n"
		"reachable, old packs and loose objects removed.\n"
		"\n"
		"  --dry-run   print what would stay (and the rules that keep it) and what\n"
		"              would go; change nothing\n"
		"\n"
		"A rewritten branch is force-pushed (with a lease) by the next push.\n",
	.exec = rotate_exec,
};

static int rotate_one(struct store *st, const struct config *cfg, const struct job_cfg *job,
		      int dry_run, int *rewritten)
{
	char ref[512];
	struct rotate_result res;
	cycle_branch_ref(job, ref, sizeof(ref));
	int rc = rotate_branch_ex(st, ref, config_job_keep(cfg, job), time_now(), dry_run, &res);
	if (rc < 0) {
		rotate_result_free(&res);
		return rc;
	}
	if (dry_run) {
		cmd_print_rotate_plan(ref, &res);
		rotate_result_free(&res);
		return 0;
	}
	rotate_result_free(&res);
	if (res.rewritten) {
		*rewritten = 1;
		printf("%s: kept %zu of %zu snapshots, dropped %zu (was %.12s, now %.12s)\n",
		       job->name, res.kept, res.total, res.total - res.kept, res.old_tip,
		       res.new_tip);
	} else {
		printf("%s: nothing to drop (%zu snapshot%s)\n", job->name, res.total,
		       res.total == 1 ? "" : "s");
	}
	return 0;
}

static int rotate_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	int dry_run = 0, status, n_names = 0;
	const char *names[64];
	struct config *cfg = NULL;
	struct store *st = NULL;
	const struct cmd_opt opts[] = {{"--dry-run", &dry_run, NULL}, {"-n", &dry_run, NULL}, {0}};

	if ((status = cmd_parse(&cmd_rotate_entry, argc, argv, opts, names, 64, &n_names)) != 0)
		return status;
	if ((status = cmd_setup(ctx, &cfg, &st)) != 0)
		return status;
	for (int i = 0; i < n_names; i++) {
		if (!cmd_job(cfg, names[i])) {
			status = cmd_fail(ERR_USAGE);
			goto out;
		}
	}
	if (!dry_run && store_lock(st) < 0) {
		status = cmd_fail(err_code());
		goto out;
	}

	int rewritten = 0;
	for (size_t j = 0; j < cfg->n_jobs; j++) {
		const struct job_cfg *job = &cfg->jobs[j];
		int named = 0;
		for (int i = 0; i < n_names; i++)
			named |= strcmp(names[i], job->name) == 0;
		if (n_names && !named)
			continue;
		if (!n_names && rotate_policy_empty(config_job_keep(cfg, job))) {
			/* "every job": one without a policy keeps everything. */
			if (dry_run)
				printf("%s: no [keep] policy, every snapshot stays\n", job->name);
			continue;
		}
		err_clear();
		if (rotate_one(st, cfg, job, dry_run, &rewritten) < 0) {
			int code = err_code();
			int s = cmd_fail(code);
			if (code == ERR_USAGE || status == EXIT_OK)
				status = s;
		}
	}

	/* Reclaim even when nothing moved now: it finishes what an
	 * interrupted earlier run began. */
	if (!dry_run) {
		struct reclaim_result rr;
		err_clear();
		if (store_reclaim_ex(st, &rr) < 0) {
			int s = cmd_fail(err_code());
			if (status == EXIT_OK)
				status = s;
		} else if (rewritten || rr.bytes_before != rr.bytes_after) {
			printf("reclaimed: objects %llu KiB -> %llu KiB\n",
			       (unsigned long long)(rr.bytes_before / 1024),
			       (unsigned long long)(rr.bytes_after / 1024));
		}
	}
out:
	store_free(st);
	config_free(cfg);
	return status;
}
