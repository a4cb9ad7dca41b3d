/* status: per job, the newest snapshot and its age, count, size, and
 * whether each remote has what this repository has. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

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
	int json = 0;
	const struct cmd_opt opts[] = {{"--json", &json, NULL}, {NULL, NULL, NULL}};
	const char *pos[1];
	int npos, rc;
	if ((rc = cmd_parse(&cmd_status_entry, argc, argv, opts, pos, 0, &npos)) != 0)
		return rc;
	struct config *cfg;
	struct store *st;
	if ((rc = cmd_setup(ctx, &cfg, &st)) != 0)
		return rc;
	cJSON *out = cJSON_CreateArray();
	int64_t now = time_now();
	for (size_t j = 0; j < cfg->n_jobs; j++) {
		const struct job_cfg *job = &cfg->jobs[j];
		char ref[512];
		cycle_branch_ref(job, ref, sizeof(ref));
		struct snap_info *list;
		size_t n;
		if ((rc = snap_list(st, ref, &list, &n)) < 0)
			break;
		double size = 0;
		size_t invalid = 0;
		for (size_t i = 0; i < n; i++) {
			if (list[i].manifest)
				size += (double)list[i].manifest->size;
			else
				invalid++;
		}
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "job", job->name);
		cJSON_AddStringToObject(o, "branch", ref);
		cJSON_AddNumberToObject(o, "snapshots", (double)n);
		cJSON_AddNumberToObject(o, "dump_bytes", size);
		char when[32] = "-", age[32] = "-";
		if (n) {
			time_format_utc(list[0].time, when);
			age_text(now - list[0].time, age, sizeof(age));
			cJSON_AddStringToObject(o, "newest", list[0].id);
			cJSON_AddStringToObject(o, "newest_time", when);
			cJSON_AddNumberToObject(o, "age_seconds", (double)(now - list[0].time));
		}
		if (!json)
			printf("%s: %zu snapshot%s, newest %.12s at %s (%s ago), %.0f bytes of dumps\n",
			       job->name, n, n == 1 ? "" : "s", n ? list[0].id : "-", when, age, size);
		if (invalid) {
			cJSON_AddNumberToObject(o, "invalid_manifests", (double)invalid);
			if (!json)
				printf("  %zu snapshot%s without a valid manifest (dbgit list %s)\n", invalid,
				       invalid == 1 ? "" : "s", job->name);
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
		snap_list_free(list, n);
	}
	if (rc == 0 && json) {
		cmd_print_json(out);
	}
	cJSON_Delete(out);
	store_free(st);
	config_free(cfg);
	return rc < 0 ? cmd_fail(rc) : EXIT_OK;
}

const struct cmd_entry cmd_status_entry = {
	.name = "status",
	.usage = "status [--json]",
	.summary = "per job: newest snapshot and its age, count, size, remotes in sync",
	.help = "For each job: how many snapshots its branch holds, the newest one and its\n"
		"age, the total size of their dumps, and for each remote whether the branch\n"
		"is in sync with what dbgit last pushed there, ahead (a push is pending),\n"
		"never pushed, or diverged (rewritten by rotation, a push is pending).\n",
	.exec = cmd_status,
};
