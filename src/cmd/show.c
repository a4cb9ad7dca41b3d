/* show: one snapshot's manifest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbgit/cmd.h"
#include "dbgit/config.h"
#include "dbgit/cycle.h"
#include "dbgit/manifest.h"
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
	struct manifest m;
	memset(&m, 0, sizeof(m));
	if (!job) {
		rc = ERR_USAGE;
		goto out;
	}
	cycle_branch_ref(job, ref, sizeof(ref));
	if ((rc = snap_resolve(st, ref, pos[1], id)) < 0 || (rc = snap_read_manifest(st, id, &m)) < 0)
		goto out;
	if (json) {
		/* As stored, now that it is known to validate. */
		char *text;
		size_t len;
		if ((rc = snap_read_manifest_text(st, id, &text, &len)) < 0)
			goto out;
		fwrite(text, 1, len, stdout);
		if (len && text[len - 1] != '\n')
			putchar('\n');
		free(text);
	} else {
		printf("snapshot %s\n", id);
		const struct {
			const char *key, *value;
		} keys[] = {{"job", m.job},	    {"engine", m.engine},     {"source", m.source},
			    {"started", m.started}, {"finished", m.finished}, {"dbgit_version", m.dbgit_version}};
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (keys[i].value)
				printf("%-14s %s\n", keys[i].key, keys[i].value);
		printf("%-14s", "formats");
		for (size_t i = 0; i < m.n_formats; i++)
			printf(" %s", m.formats[i]);
		printf("\n");
		printf("%-14s %s (%s)\n", "verification", m.verify_result ? m.verify_result : "?",
		       m.verify_mode ? m.verify_mode : "?");
		printf("%-14s %lld bytes in %zu files\n", "size", (long long)m.size, m.n_files);
		if (m.has_exclusions && m.n_exclusions) {
			printf("%-14s", "excluded");
			for (size_t i = 0; i < m.n_exclusions; i++)
				printf(" %s", m.exclusions[i]);
			printf("\n");
		}
		printf("\n%-32s %12s  %s\n", "TABLE", "ROWS", "SHA-256");
		for (size_t i = 0; i < m.n_tables; i++)
			printf("%-32s %12lld  %s\n", m.tables[i].name, (long long)m.tables[i].rows,
			       m.tables[i].checksum);
	}
out:
	manifest_free(&m);
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
