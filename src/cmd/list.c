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

struct list_ctx {
	const struct job_cfg *job;
	int json;
	size_t printed; /* JSON objects so far, for the commas */
};

/* One snapshot, printed as it is read: a branch of thousands is listed
 * in the memory of one manifest. */
static int list_one(void *arg, const struct snap_info *s)
{
	struct list_ctx *l = arg;
	const struct manifest *m = s->manifest;
	char when[32], fmt[64], hs[32];
	time_format_utc(s->time, when);
	cJSON *o = l->json ? cJSON_CreateObject() : NULL;
	if (!m) {
		/* Listed as what it is: a commit whose manifest is missing
		 * or does not validate. */
		if (o) {
			cJSON_AddStringToObject(o, "id", s->id);
			cJSON_AddStringToObject(o, "time", when);
			cJSON_AddStringToObject(o, "job", l->job->name);
			cJSON_AddStringToObject(o, "verified", "invalid");
			cJSON_AddStringToObject(o, "error", s->error);
		} else {
			printf("%-12.12s  %-20s  %-10s  %-10s  %10s  %6s  %10s  %s\n", s->id, when, l->job->name,
			       "-", "-", "-", "-", "invalid manifest");
		}
	} else {
		const char *verified = m->verify_result ? m->verify_result : "unknown";
		formats_of(m, fmt, sizeof(fmt));
		cmd_human_size((double)m->size, hs, sizeof(hs));
		if (o) {
			cJSON_AddStringToObject(o, "id", s->id);
			cJSON_AddStringToObject(o, "time", when);
			cJSON_AddStringToObject(o, "job", l->job->name);
			cJSON *fa = cJSON_AddArrayToObject(o, "formats");
			for (size_t k = 0; k < m->n_formats; k++)
				cJSON_AddItemToArray(fa, cJSON_CreateString(m->formats[k]));
			cJSON_AddNumberToObject(o, "size", (double)m->size);
			cJSON_AddNumberToObject(o, "tables", (double)m->n_tables);
			cJSON_AddNumberToObject(o, "rows", (double)manifest_rows(m));
			cJSON_AddStringToObject(o, "verified", verified);
		} else {
			printf("%-12.12s  %-20s  %-10s  %-10s  %10s  %6zu  %10lld  %s\n", s->id, when, l->job->name,
			       fmt, hs, m->n_tables, (long long)manifest_rows(m), verified);
		}
	}
	if (o) {
		char *text = cJSON_Print(o);
		printf("%s%s", l->printed++ ? ",\n" : "", text ? text : "null");
		free(text);
		cJSON_Delete(o);
	}
	return 0;
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
	if (pos[0] && !cmd_job(cfg, pos[0])) {
		rc = ERR_USAGE;
		goto done;
	}
	struct list_ctx l = {NULL, json, 0};
	if (json)
		printf("[\n");
	else
		printf("%-12s  %-20s  %-10s  %-10s  %10s  %6s  %10s  %s\n", "ID", "TIME", "JOB", "FORMAT",
		       "SIZE", "TABLES", "ROWS", "VERIFIED");
	for (size_t j = 0; j < cfg->n_jobs && rc == 0; j++) {
		const struct job_cfg *job = &cfg->jobs[j];
		if (pos[0] && strcmp(pos[0], job->name))
			continue;
		char ref[512];
		cycle_branch_ref(job, ref, sizeof(ref));
		l.job = job;
		rc = snap_walk(st, ref, 1, list_one, &l);
	}
	/* Closed even after an error, so that what was printed parses. */
	if (json)
		printf("%s]\n", l.printed ? "\n" : "");
done:
	store_free(st);
	config_free(cfg);
	return rc < 0 ? cmd_fail(rc) : EXIT_OK;
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
