/* diff: what changed between two snapshots - a unified SQL diff, or with
 * --stat the rows added, removed and changed per table. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbgit/cmd.h"
#include "dbgit/config.h"
#include "dbgit/cycle.h"
#include "dbgit/manifest.h"
#include "dbgit/store.h"
#include "dbgit/util.h"


/* Table and schema names come from the snapshots, which may be hostile:
 * a control character (an escape sequence for the terminal) shown as '?'. */
static char *printable(const char *s)
{
	char *out = xstrdup(s ? s : "");
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return out;
}

static int cmd_diff(struct cmd_ctx *ctx, int argc, char **argv)
{
	int stat = 0, json = 0, color = 0, no_color = 0;
	const struct cmd_opt opts[] = {
		{"--stat", &stat, NULL},   {"--json", &json, NULL},         {"--color", &color, NULL},
		{"--no-color", &no_color, NULL}, {NULL, NULL, NULL},
	};
	const char *pos[3] = {NULL, NULL, NULL};
	int npos, rc;
	if ((rc = cmd_parse(&cmd_diff_entry, argc, argv, opts, pos, 3, &npos)) != 0)
		return rc;
	if (npos < 1)
		return cmd_usage_error(&cmd_diff_entry, "which job?");
	struct config *cfg;
	struct store *st;
	if ((rc = cmd_setup(ctx, &cfg, &st)) != 0)
		return rc;
	const struct job_cfg *job = cmd_job(cfg, pos[0]);
	char ref[512], old_id[41], new_id[41];
	cJSON *out = NULL;
	struct manifest mo, mn;
	memset(&mo, 0, sizeof(mo));
	memset(&mn, 0, sizeof(mn));
	if (!job) {
		rc = ERR_USAGE;
		goto done;
	}
	cycle_branch_ref(job, ref, sizeof(ref));
	/* Default: the last two snapshots; one REV: that one against the newest. */
	const char *old_rev = npos >= 2 ? pos[1] : "HEAD~1";
	const char *new_rev = npos >= 3 ? pos[2] : "latest";
	if ((rc = snap_resolve(st, ref, new_rev, new_id)) < 0)
		goto done;
	if ((rc = snap_resolve(st, ref, old_rev, old_id)) < 0) {
		if (npos < 2)
			rc = err_reset(ERR_NOTFOUND, "job '%s' has only one snapshot: nothing to compare",
				       job->name);
		goto done;
	}
	if (stat) {
		out = cJSON_CreateObject();
		if ((rc = cycle_diff_stat(cfg, st, job, old_id, new_id, out)) < 0)
			goto done;
		cJSON_AddStringToObject(out, "from", old_id);
		cJSON_AddStringToObject(out, "to", new_id);
		if (json) {
			cmd_print_json(out);
			goto done;
		}
		printf("%.12s..%.12s\n", old_id, new_id);
		const cJSON *t;
		cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(out, "tables"))
		{
			char *name = printable(cJSON_GetObjectItemCaseSensitive(t, "name")->valuestring);
			printf("  %-30s +%.0f -%.0f ~%.0f\n", name,
			       cJSON_GetObjectItemCaseSensitive(t, "added")->valuedouble,
			       cJSON_GetObjectItemCaseSensitive(t, "removed")->valuedouble,
			       cJSON_GetObjectItemCaseSensitive(t, "changed")->valuedouble);
			free(name);
		}
		cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(out, "schema"))
		{
			char *line = printable(t->valuestring);
			printf("  schema: %s\n", line);
			free(line);
		}
		if (!cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(out, "tables")) &&
		    !cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(out, "schema")))
			printf("  no changes\n");
		goto done;
	}
	/* Text formats: SQL dumps, the output of engine "command" and
	 * MongoDB's documents as JSON lines, as each snapshot's manifest says. */
	if ((rc = snap_read_manifest(st, old_id, &mo)) < 0 || (rc = snap_read_manifest(st, new_id, &mn)) < 0)
		goto done;
	const char *suffix = manifest_has_format(&mo, "sql") && manifest_has_format(&mn, "sql") ? ".sql"
			     : manifest_has_format(&mo, "stream") && manifest_has_format(&mn, "stream") ? ".out"
			     : manifest_has_format(&mo, "json") && manifest_has_format(&mn, "json")	? ".json"
													: NULL;
	if (!suffix) {
		rc = err_set(ERR_USAGE,
			     "job '%s': a text diff needs SQL snapshots (format = \"sql\" or \"both\"); "
			     "these are binary only: use 'dbgit diff --stat'",
			     job->name);
		goto done;
	}
	int changed;
	int use_color = !no_color && (color || isatty(STDOUT_FILENO));
	rc = snap_diff(st, old_id, new_id, suffix, use_color, stdout, &changed);
done:
	manifest_free(&mo);
	manifest_free(&mn);
	cJSON_Delete(out);
	store_free(st);
	config_free(cfg);
	return rc < 0 ? cmd_fail(rc) : EXIT_OK;
}

const struct cmd_entry cmd_diff_entry = {
	.name = "diff",
	.usage = "diff JOB [REV1 [REV2]] [--stat [--json]] [--color|--no-color]",
	.summary = "what changed between two snapshots (SQL diff, or rows per table)",
	.help = "Without REV: the last two snapshots. With one REV: that snapshot against the\n"
		"newest. Prints a unified diff of the SQL dumps (each table as one file,\n"
		"whatever its chunks), coloured on a terminal; only the chunks that changed\n"
		"are read and diffed (those before a change are counted, for the line\n"
		"numbers). --stat counts, per table, rows added, removed and changed (same\n"
		"key, new values), and lists the schema objects added (+), removed (-) or\n"
		"changed (~): between two SQL snapshots from the changed rows' text alone;\n"
		"where that cannot tell (binary-only snapshots, a schema change) it restores\n"
		"both snapshots and compares them.\n",
	.exec = cmd_diff,
};
