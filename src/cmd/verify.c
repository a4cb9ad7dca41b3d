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

static int cmd_verify(struct cmd_ctx *ctx, int argc, char **argv)
{
	int all = 0, json = 0;
	const char *keep_failed = NULL;
	const struct cmd_opt opts[] = {
		{"--all", &all, NULL},
		{"--json", &json, NULL},
		{"--keep-failed", NULL, &keep_failed},
		{NULL, NULL, NULL},
	};
	const char *pos[2] = {NULL, NULL};
	int npos, rc;
	if ((rc = cmd_parse(&cmd_verify_entry, argc, argv, opts, pos, 2, &npos)) != 0)
		return rc;
	if (npos < 1)
		return cmd_usage_error(&cmd_verify_entry, "which job?");
	if (all && pos[1])
		return cmd_usage_error(&cmd_verify_entry, "give REV or --all, not both");
	struct config *cfg;
	struct store *st;
	if ((rc = cmd_setup(ctx, &cfg, &st)) != 0)
		return rc;
	const struct job_cfg *job = cmd_job(cfg, pos[0]);
	char ref[512];
	struct snap_info *list = NULL;
	size_t n = 0;
	int failed = 0;
	cJSON *out = cJSON_CreateArray();
	if (!job) {
		rc = ERR_USAGE;
		goto out;
	}
	cycle_branch_ref(job, ref, sizeof(ref));
	if (all) {
		if ((rc = snap_list(st, ref, &list, &n)) < 0)
			goto out;
		if (n == 0) {
			rc = err_set(ERR_NOTFOUND, "no snapshots yet on branch %s", ref);
			goto out;
		}
	} else {
		list = calloc(1, sizeof(*list));
		n = 1;
		if ((rc = snap_resolve(st, ref, pos[1], list[0].id)) < 0)
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct buf problems = BUF_INIT;
		int r = cycle_verify_snapshot(cfg, st, job, list[i].id, keep_failed, &problems);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", list[i].id);
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
					fprintf(stderr, "dbgit: snapshot %.12s of '%s' failed verification: %s\n",
						list[i].id, job->name, line);
				free(line);
				p += len + (nl ? 1 : 0);
			}
		} else if (!json) {
			printf("%.12s  passed\n", list[i].id);
		}
		cJSON_AddItemToArray(out, o);
		buf_free(&problems);
	}
	if (json) {
		cmd_print_json(out);
	}
	rc = 0;
out:
	cJSON_Delete(out);
	if (all)
		snap_list_free(list, n);
	else
		free(list);
	store_free(st);
	config_free(cfg);
	if (rc < 0)
		return cmd_fail(rc);
	return failed ? EXIT_JOB_FAILED : EXIT_OK;
}

const struct cmd_entry cmd_verify_entry = {
	.name = "verify",
	.usage = "verify JOB [REV | --all] [--keep-failed DIR] [--json]",
	.summary = "restore-test snapshots already in the repository",
	.help = "Restores the snapshot (default: the newest; --all: every one) from the\n"
		"repository's objects into a scratch database, runs PRAGMA integrity_check\n"
		"and foreign_key_check, and compares every table's row count and checksum,\n"
		"and every index, view and trigger, with the snapshot's manifest. A blob\n"
		"changed on disk is detected. Engine and formats come from the manifest, not\n"
		"from today's config; a manifest that does not validate fails, naming the\n"
		"field.\n"
		"Exit status: 0 all passed; 1 a snapshot failed; 2 usage error.\n",
	.exec = cmd_verify,
};
