/* verify: restore-test snapshots already in the repository. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbgit/cmd.h"
#include "dbgit/config.h"
#include "dbgit/cycle.h"
#include "dbgit/store.h"
#include "dbgit/util.h"
#include "dbgit/verify.h"

/* Restore-tests the snapshots ids of one job; prints or collects each
 * result. Returns how many failed. */
static int verify_ids(const struct config *cfg, struct store *st, const struct job_cfg *job, char (*ids)[41],
		      size_t n, const char *keep_failed, int json, cJSON *out)
{
	int failed = 0;
	for (size_t i = 0; i < n; i++) {
		struct buf problems = BUF_INIT;
		int r = cycle_verify_snapshot(cfg, st, job, ids[i], keep_failed, &problems);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "job", job->name);
		cJSON_AddStringToObject(o, "id", ids[i]);
		cJSON_AddStringToObject(o, "result", r < 0 ? "failed" : "passed");
		if (r < 0) {
			failed++;
			cJSON *pr = cJSON_AddArrayToObject(o, "problems");
			const char *p = buf_cstr(&problems);
			while (*p) {
				const char *nl = strchr(p, '\n');
				size_t len = nl ? (size_t)(nl - p) : strlen(p);
				char *line = xasprintf("%.*s", (int)len, p);
				cJSON_AddItemToArray(pr, cJSON_CreateString(line));
				if (!json)
					fprintf(stderr,
						"dbgit: snapshot %.12s of '%s' failed verification: %s\n",
						ids[i], job->name, line);
				free(line);
				p += len + (nl ? 1 : 0);
			}
		} else if (!json) {
			printf("%s  %.12s  passed\n", job->name, ids[i]);
		}
		cJSON_AddItemToArray(out, o);
		buf_free(&problems);
	}
	return failed;
}

/* Which snapshots of job to test: REV, --all, --sample N (random ones
 * older than the tip), or the newest. */
static int pick_ids(struct store *st, const struct job_cfg *job, const char *rev, int all, long sample,
		    char (**ids)[41], size_t *n)
{
	char ref[512];
	struct snap_info *list = NULL;
	size_t count = 0;
	int rc;
	*ids = NULL;
	*n = 0;
	cycle_branch_ref(job, ref, sizeof(ref));
	if (!all && sample < 0) {
		*ids = calloc(1, sizeof(**ids));
		if ((rc = snap_resolve(st, ref, rev, (*ids)[0])) < 0)
			return rc;
		*n = 1;
		return 0;
	}
	if ((rc = snap_list(st, ref, &list, &count)) < 0)
		return rc;
	if (count == 0) {
		snap_list_free(list, count);
		return err_set(ERR_NOTFOUND, "job '%s': no snapshots yet on branch %s", job->name, ref);
	}
	size_t want = all ? count : (size_t)sample;
	size_t *pick = calloc(want ? want : 1, sizeof(*pick));
	/* The newest is what every backup already checked. */
	size_t k = all ? verify_sample_pick(0, count, want, pick) : verify_sample_pick(1, count, want, pick);
	*ids = calloc(k ? k : 1, sizeof(**ids));
	for (size_t i = 0; i < k; i++)
		memcpy((*ids)[i], list[pick[i]].id, 41);
	*n = k;
	if (!all && k == 0)
		log_info("job '%s': no snapshot older than the newest to sample", job->name);
	free(pick);
	snap_list_free(list, count);
	return 0;
}

static int cmd_verify(struct cmd_ctx *ctx, int argc, char **argv)
{
	int all = 0, json = 0;
	const char *keep_failed = NULL, *sample_arg = NULL;
	const struct cmd_opt opts[] = {
		{"--all", &all, NULL},
		{"--json", &json, NULL},
		{"--keep-failed", NULL, &keep_failed},
		{"--sample", NULL, &sample_arg},
		{NULL, NULL, NULL},
	};
	const char *pos[2] = {NULL, NULL};
	int npos, rc;
	long sample = -1;
	if ((rc = cmd_parse(&cmd_verify_entry, argc, argv, opts, pos, 2, &npos)) != 0)
		return rc;
	if (sample_arg) {
		char *end;
		sample = strtol(sample_arg, &end, 10);
		if (!*sample_arg || *end || sample < 1 || sample > 100000)
			return cmd_usage_error(&cmd_verify_entry,
					       "--sample needs a number of snapshots (1 or more)");
	}
	if ((all || sample_arg) && pos[1])
		return cmd_usage_error(&cmd_verify_entry, "give REV, --all or --sample, not two of them");
	if (all && sample_arg)
		return cmd_usage_error(&cmd_verify_entry, "give --all or --sample, not both");
	struct config *cfg;
	struct store *st;
	if ((rc = cmd_setup(ctx, &cfg, &st)) != 0)
		return rc;
	int failed = 0;
	cJSON *out = cJSON_CreateArray();
	const struct job_cfg *one = NULL;
	if (npos >= 1 && !(one = cmd_job(cfg, pos[0]))) {
		rc = ERR_USAGE;
		goto out;
	}
	/* Without a job: every job, each by the same rule; a job that has no
	 * snapshot yet is no failure then (it says so on -v). */
	for (size_t j = 0; j < cfg->n_jobs; j++) {
		const struct job_cfg *job = one ? one : &cfg->jobs[j];
		char(*ids)[41] = NULL;
		size_t n = 0;
		rc = pick_ids(st, job, pos[1], all, sample, &ids, &n);
		if (rc == ERR_NOTFOUND && !one) {
			log_info("%s", err_last());
			err_clear();
			rc = 0;
		}
		if (rc == 0)
			failed += verify_ids(cfg, st, job, ids, n, keep_failed, json, out);
		free(ids);
		if (rc < 0 || one || sig_pending())
			break;
	}
	if (rc == 0 && json)
		cmd_print_json(out);
out:
	cJSON_Delete(out);
	store_free(st);
	config_free(cfg);
	if (rc < 0)
		return cmd_fail(rc);
	return failed ? EXIT_JOB_FAILED : EXIT_OK;
}

const struct cmd_entry cmd_verify_entry = {
	.name = "verify",
	.usage = "verify [JOB [REV]] [--all | --sample N] [--keep-failed DIR] [--json]",
	.summary = "restore-test snapshots already in the repository",
	.help = "Restores the snapshot (default: the newest; --all: every one; --sample N:\n"
		"N random snapshots older than the newest, which every backup already\n"
		"tested) of JOB, or of every job when no JOB is given, from the\n"
		"repository's objects into a scratch database, runs PRAGMA integrity_check\n"
		"and foreign_key_check, and compares every table's row count and checksum,\n"
		"and every index, view and trigger, with the snapshot's manifest. A blob\n"
		"changed on disk is detected. Engine and formats come from the manifest, not\n"
		"from today's config; a manifest that does not validate fails, naming the\n"
		"field.\n"
		"[verify] sample = N in the config does --sample N for the job after every\n"
		"backup.\n"
		"Exit status: 0 all passed; 1 a snapshot failed; 2 usage error.\n",
	.exec = cmd_verify,
};
