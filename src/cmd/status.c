/* status: per job, the newest snapshot and its age, count, size, and
 * whether each remote has what this repository has; --max-age makes it the
 * monitoring check (exit 1, a line per late or failing job); --prometheus
 * prints node_exporter textfile metrics (cycle_metrics). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbgit/cmd.h"
#include "dbgit/config.h"
#include "dbgit/cycle.h"
#include "dbgit/manifest.h"
#include "dbgit/remote.h"
#include "dbgit/store.h"
#include "dbgit/util.h"

static void age_text(int64_t secs, char *out, size_t len)
{
	if (secs < 0)
		secs = 0;
	if (secs < 3600)
		snprintf(out, len, "%lldm", (long long)(secs / 60));
	else if (secs < 2 * 86400)
		snprintf(out, len, "%lldh", (long long)(secs / 3600));
	else
		snprintf(out, len, "%lldd", (long long)(secs / 86400));
}

static int cmd_status(struct cmd_ctx *ctx, int argc, char **argv)
{
	int json = 0, prom = 0;
	const char *max_age_s = NULL;
	const struct cmd_opt opts[] = {{"--json", &json, NULL},
				       {"--prometheus", &prom, NULL},
				       {"--max-age", NULL, &max_age_s},
				       {NULL, NULL, NULL}};
	const char *pos[1];
	int npos, rc;
	int64_t max_age = 0;
	if ((rc = cmd_parse(&cmd_status_entry, argc, argv, opts, pos, 0, &npos)) != 0)
		return rc;
	json |= ctx->json;
	if (max_age_s && (duration_parse(max_age_s, &max_age) < 0 || max_age <= 0)) {
		err_clear();
		return cmd_usage_error(&cmd_status_entry, "--max-age takes a duration such as 26h or 2d");
	}
	if (prom && json)
		return cmd_usage_error(&cmd_status_entry, "--prometheus and --json are two different outputs");
	struct config *cfg;
	struct store *st;
	if ((rc = cmd_setup(ctx, &cfg, &st)) != 0)
		return rc;
	if (prom) {
		struct buf b = BUF_INIT;
		if ((rc = cycle_metrics(cfg, st, &b)) == 0)
			fputs(buf_cstr(&b), stdout);
		buf_free(&b);
		store_free(st);
		config_free(cfg);
		return rc < 0 ? cmd_fail(rc) : EXIT_OK;
	}
	cJSON *out = cJSON_CreateArray();
	struct buf late = BUF_INIT; /* --max-age: one line per late or failing job */
	int64_t now = time_now();
	for (size_t j = 0; j < cfg->n_jobs; j++) {
		const struct job_cfg *job = &cfg->jobs[j];
		char ref[512];
		cycle_branch_ref(job, ref, sizeof(ref));
		/* The newest snapshot's manifest and a count of commits: a
		 * branch of thousands of snapshots costs one manifest. */
		struct snap_info newest, *list = &newest;
		size_t n;
		if ((rc = snap_summary(st, ref, &newest, &n)) < 0)
			break;
		double size = n && newest.manifest ? (double)newest.manifest->size : 0;
		size_t invalid = n && !newest.manifest;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "job", job->name);
		cJSON_AddStringToObject(o, "branch", ref);
		cJSON_AddNumberToObject(o, "snapshots", (double)n);
		cJSON_AddNumberToObject(o, "newest_dump_bytes", size);
		char when[32] = "-", age[32] = "-", hsize[32];
		cmd_human_size(size, hsize, sizeof(hsize));
		if (n) {
			time_format_utc(list[0].time, when);
			age_text(now - list[0].time, age, sizeof(age));
			cJSON_AddStringToObject(o, "newest", list[0].id);
			cJSON_AddStringToObject(o, "newest_time", when);
			cJSON_AddNumberToObject(o, "age_seconds", (double)(now - list[0].time));
		}
		/* The last attempt, from the run's state file. */
		int64_t attempt;
		char result[16], error[800];
		cycle_last_attempt(st, job->name, &attempt, result, sizeof(result), error, sizeof(error));
		if (result[0]) {
			char at[32];
			time_format_utc(attempt, at);
			cJSON_AddStringToObject(o, "last_attempt", at);
			cJSON_AddStringToObject(o, "last_result", result);
			if (error[0])
				cJSON_AddStringToObject(o, "last_error", error);
		}
		if (!json && n)
			printf("%s: %zu snapshot%s, newest %.12s at %s (%s ago), dump %s\n", job->name, n,
			       n == 1 ? "" : "s", list[0].id, when, age, hsize);
		else if (!json)
			printf("%s: never backed up\n", job->name);
		if (!json && result[0] && strcmp(result, "ok"))
			printf("  last attempt %s: %s\n", result, error[0] ? error : "(no message)");
		if (max_age) {
			int is_late = !n || now - list[0].time > max_age;
			cJSON_AddBoolToObject(o, "late", is_late);
			if (!n)
				buf_printf(&late, "%s: never backed up\n", job->name);
			else if (is_late)
				buf_printf(&late, "%s: late: newest snapshot is %s old (at %s), more than %s\n",
					   job->name, age, when, max_age_s);
			if (result[0] && strcmp(result, "ok"))
				buf_printf(&late, "%s: last attempt %s: %s\n", job->name, result, error);
		}
		if (invalid) {
			/* Only the newest is read here; `list` reads them all. */
			cJSON_AddBoolToObject(o, "newest_manifest_invalid", 1);
			if (!json)
				printf("  1 snapshot without a valid manifest: the newest (dbgit list %s checks them all)\n",
				       job->name);
		}
		cJSON *remotes = cJSON_AddObjectToObject(o, "remotes");
		for (size_t r = 0; r < cfg->n_remotes; r++) {
			enum remote_sync s;
			if (remote_sync_state(st, &cfg->remotes[r], ref, &s) < 0) {
				err_clear();
				continue;
			}
			cJSON_AddStringToObject(remotes, cfg->remotes[r].name, remote_sync_name(s));
			if (!json)
				printf("  remote %s: %s\n", cfg->remotes[r].name, remote_sync_name(s));
		}
		cJSON_AddItemToArray(out, o);
		snap_info_clear(&newest);
	}
	if (rc == 0 && json) {
		cmd_print_json(out);
	}
	/* The check's verdict, last and on stderr, so that a monitoring
	 * system shows exactly the lines that matter. */
	int status = rc < 0 ? cmd_fail(rc) : EXIT_OK;
	if (rc == 0 && late.len) {
		fflush(stdout);
		fputs(buf_cstr(&late), stderr);
		status = EXIT_JOB_FAILED;
	}
	buf_free(&late);
	cJSON_Delete(out);
	store_free(st);
	config_free(cfg);
	return status;
}

const struct cmd_entry cmd_status_entry = {
	.name = "status",
	.usage = "status [--json | --prometheus] [--max-age DURATION]",
	.summary = "per job: newest snapshot and its age, count, size, remotes in sync",
	.help = "For each job: how many snapshots its branch holds, the newest one, its\n"
		"age and the size of its dump, and for each remote whether the branch\n"
		"is in sync with what dbgit last pushed there, ahead (a push is pending),\n"
		"never pushed, or diverged (rewritten by rotation, a push is pending), and\n"
		"the last attempt when it failed (or the shrink guard tripped).\n\n"
		"  --json              the same as JSON\n"
		"  --prometheus        node_exporter textfile metrics (see README, Monitoring)\n"
		"  --max-age DURATION  the monitoring check: exit 1 and one line on stderr per\n"
		"                      job whose newest snapshot is older than DURATION (26h,\n"
		"                      2d), that was never backed up, or whose last attempt\n"
		"                      failed\n",
	.exec = cmd_status,
};
