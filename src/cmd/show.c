/* show: one snapshot's manifest. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "dbgit/cmd.h"
#include "dbgit/config.h"
#include "dbgit/cycle.h"
#include "dbgit/store.h"
#include "dbgit/util.h"

static int cmd_show(struct cmd_ctx *ctx, int argc, char **argv)
{
	int json = 0;
	const struct cmd_opt opts[] = {{"--json", &json, NULL}, {NULL, NULL, NULL}};
	const char *pos[2] = {NULL, NULL};
	int npos, rc;
	if ((rc = cmd_parse(&cmd_show_entry, argc, argv, opts, pos, 2, &npos)) != 0)
		return rc;
	if (npos < 1)
		return cmd_usage_error(&cmd_show_entry, "which job?");
	struct config *cfg;
	struct store *st;
	if ((rc = cmd_setup(ctx, &cfg, &st)) != 0)
		return rc;
	const struct job_cfg *job = cmd_job(cfg, pos[0]);
	char ref[512], id[41];
	cJSON *m = NULL;
	if (!job) {
		rc = ERR_USAGE;
		goto out;
	}
	cycle_branch_ref(job, ref, sizeof(ref));
	if ((rc = snap_resolve(st, ref, pos[1], id)) < 0 || (rc = snap_read_manifest(st, id, &m)) < 0)
		goto out;
	if (json) {
		cmd_print_json(m);
	} else {
		printf("snapshot %s\n", id);
		const char *keys[] = {"job", "engine", "source", "started", "finished", "dbgit_version"};
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, keys[i]);
			if (cJSON_IsString(v))
				printf("%-14s %s\n", keys[i], v->valuestring);
		}
		const cJSON *f, *ver = cJSON_GetObjectItemCaseSensitive(m, "verification");
		printf("%-14s", "formats");
		cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(m, "formats"))
		printf(" %s", cJSON_IsString(f) ? f->valuestring : "?");
		printf("\n");
		const cJSON *vm = cJSON_GetObjectItemCaseSensitive(ver, "mode");
		const cJSON *vr = cJSON_GetObjectItemCaseSensitive(ver, "result");
		printf("%-14s %s (%s)\n", "verification", cJSON_IsString(vr) ? vr->valuestring : "?",
		       cJSON_IsString(vm) ? vm->valuestring : "?");
		const cJSON *size = cJSON_GetObjectItemCaseSensitive(m, "size");
		printf("%-14s %.0f bytes in %d files\n", "size", cJSON_IsNumber(size) ? size->valuedouble : 0,
		       cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(m, "files")));
		printf("\n%-32s %12s  %s\n", "TABLE", "ROWS", "SHA-256");
		cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(m, "tables"))
		{
			const cJSON *n = cJSON_GetObjectItemCaseSensitive(f, "name");
			const cJSON *r = cJSON_GetObjectItemCaseSensitive(f, "rows");
			const cJSON *c = cJSON_GetObjectItemCaseSensitive(f, "checksum");
			printf("%-32s %12.0f  %s\n", cJSON_IsString(n) ? n->valuestring : "?",
			       cJSON_IsNumber(r) ? r->valuedouble : 0, cJSON_IsString(c) ? c->valuestring : "?");
		}
	}
out:
	cJSON_Delete(m);
	store_free(st);
	config_free(cfg);
	return rc < 0 ? cmd_fail(rc) : EXIT_OK;
}

const struct cmd_entry cmd_show_entry = {
	.name = "show",
	.usage = "show JOB [REV] [--json]",
	.summary = "show one snapshot's manifest",
	.help = "REV is git revision syntax on the job's branch (HEAD~2, a commit id prefix)\n"
		"or 'latest' (the default). --json prints MANIFEST.json as stored.\n",
	.exec = cmd_show,
};
