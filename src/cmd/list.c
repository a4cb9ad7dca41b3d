/* list: the snapshots of one job or all, newest first. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbgit/cmd.h"
#include "dbgit/config.h"
#include "dbgit/cycle.h"
#include "dbgit/manifest.h"
#include "dbgit/store.h"
#include "dbgit/util.h"

static void formats_of(const struct manifest *m, char *out, size_t len)
{
	out[0] = '\0';
	for (size_t i = 0; i < m->n_formats; i++) {
		size_t l = strlen(out);
		snprintf(out + l, len - l, "%s%s", l ? "+" : "", m->formats[i]);
	}
	if (!out[0])
		snprintf(out, len, "-");
}

static int cmd_list(struct cmd_ctx *ctx, int argc, char **argv)
{
	int json = 0;
	const struct cmd_opt opts[] = {{"--json", &json, NULL}, {NULL, NULL, NULL}};
	const char *pos[1] = {NULL};
	int npos, rc;
	if ((rc = cmd_parse(&cmd_list_entry, argc, argv, opts, pos, 1, &npos)) != 0)
		return rc;
	struct config *cfg;
	struct store *st;
	if ((rc = cmd_setup(ctx, &cfg, &st)) != 0)
		return rc;
	cJSON *out = cJSON_CreateArray();
	if (pos[0] && !cmd_job(cfg, pos[0])) {
		rc = ERR_USAGE;
		goto fail;
	}
	if (!json)
		printf("%-12s  %-20s  %-10s  %-10s  %10s  %6s  %10s  %s\n", "ID", "TIME", "JOB", "FORMAT",
		       "SIZE", "TABLES", "ROWS", "VERIFIED");
	for (size_t j = 0; j < cfg->n_jobs; j++) {
		const struct job_cfg *job = &cfg->jobs[j];
		if (pos[0] && strcmp(pos[0], job->name))
			continue;
		char ref[512];
		cycle_branch_ref(job, ref, sizeof(ref));
		struct snap_info *list;
		size_t n;
		if ((rc = snap_list(st, ref, &list, &n)) < 0)
			goto fail;
		for (size_t i = 0; i < n; i++) {
			const struct manifest *m = list[i].manifest;
			char when[32], fmt[64], hs[32];
			time_format_utc(list[i].time, when);
			if (!m) {
				/* Listed as what it is: a commit whose manifest
				 * is missing or does not validate. */
				if (json) {
					cJSON *o = cJSON_CreateObject();
					cJSON_AddStringToObject(o, "id", list[i].id);
					cJSON_AddStringToObject(o, "time", when);
					cJSON_AddStringToObject(o, "job", job->name);
					cJSON_AddStringToObject(o, "verified", "invalid");
					cJSON_AddStringToObject(o, "error", list[i].error);
					cJSON_AddItemToArray(out, o);
				} else {
					printf("%-12.12s  %-20s  %-10s  %-10s  %10s  %6s  %10s  %s\n", list[i].id, when,
					       job->name, "-", "-", "-", "-", "invalid manifest");
				}
				continue;
			}
			const char *verified = m->verify_result ? m->verify_result : "unknown";
			formats_of(m, fmt, sizeof(fmt));
			cmd_human_size((double)m->size, hs, sizeof(hs));
			if (json) {
				cJSON *o = cJSON_CreateObject();
				cJSON_AddStringToObject(o, "id", list[i].id);
				cJSON_AddStringToObject(o, "time", when);
				cJSON_AddStringToObject(o, "job", job->name);
				cJSON *fa = cJSON_AddArrayToObject(o, "formats");
				for (size_t k = 0; k < m->n_formats; k++)
					cJSON_AddItemToArray(fa, cJSON_CreateString(m->formats[k]));
				cJSON_AddNumberToObject(o, "size", (double)m->size);
				cJSON_AddNumberToObject(o, "tables", (double)m->n_tables);
				cJSON_AddNumberToObject(o, "rows", (double)manifest_rows(m));
				cJSON_AddStringToObject(o, "verified", verified);
				cJSON_AddItemToArray(out, o);
			} else {
				printf("%-12.12s  %-20s  %-10s  %-10s  %10s  %6zu  %10lld  %s\n", list[i].id, when,
				       job->name, fmt, hs, m->n_tables, (long long)manifest_rows(m), verified);
			}
		}
		snap_list_free(list, n);
	}
	if (json) {
		cmd_print_json(out);
	}
	cJSON_Delete(out);
	store_free(st);
	config_free(cfg);
	return EXIT_OK;
fail:
	cJSON_Delete(out);
	store_free(st);
	config_free(cfg);
	return cmd_fail(rc);
}

const struct cmd_entry cmd_list_entry = {
	.name = "list",
	.usage = "list [JOB] [--json]",
	.summary = "list snapshots: id, time, job, format, size, tables, rows, verified",
	.help = "Lists the snapshots of JOB (default: every job), newest first. SIZE is the\n"
		"size of the dump, not of the repository. VERIFIED is 'passed' when the\n"
		"snapshot was restored and checked before it was committed, 'skipped' for\n"
		"jobs with verify = \"none\".\n",
	.exec = cmd_list,
};
