/* export: a snapshot's plain files into a directory (decrypted where the
 * snapshot is encrypted), for the git + sqlite3 recipe. */
#include <stdio.h>

#include "dbgit/cmd.h"
#include "dbgit/config.h"
#include "dbgit/cycle.h"
#include "dbgit/store.h"
#include "dbgit/util.h"

static int cmd_export(struct cmd_ctx *ctx, int argc, char **argv)
{
	int force = 0;
	const char *to = NULL;
	const struct cmd_opt opts[] = {{"--to", NULL, &to}, {"--force", &force, NULL}, {NULL, NULL, NULL}};
	const char *pos[2] = {NULL, NULL};
	int npos, rc;
	if ((rc = cmd_parse(&cmd_export_entry, argc, argv, opts, pos, 2, &npos)) != 0)
		return rc;
	if (npos < 1)
		return cmd_usage_error(&cmd_export_entry, "which job?");
	if (!to || !to[0])
		return cmd_usage_error(&cmd_export_entry, "--to DIR is required");
	struct config *cfg;
	struct store *st;
	if ((rc = cmd_setup(ctx, &cfg, &st)) != 0)
		return rc;
	const struct job_cfg *job = cmd_job(cfg, pos[0]);
	char ref[512], id[41];
	size_t n = 0;
	if (!job) {
		rc = ERR_USAGE;
		goto out;
	}
	cycle_branch_ref(job, ref, sizeof(ref));
	if ((rc = snap_resolve(st, ref, pos[1], id)) < 0 ||
	    (rc = snap_export(st, id, to, force, job->max_blob_size, &n)) < 0)
		goto out;
	fprintf(stderr, "dbgit: exported %s snapshot %.12s to %s (%zu files and %s)\n", job->name, id, to, n,
		MANIFEST_NAME);
out:
	store_free(st);
	config_free(cfg);
	return rc < 0 ? cmd_fail(rc) : EXIT_OK;
}

const struct cmd_entry cmd_export_entry = {
	.name = "export",
	.usage = "export JOB [REV] --to DIR [--force]",
	.summary = "write a snapshot's plain files into a directory",
	.help = "Writes the snapshot's files (default: the newest) and its MANIFEST.json into\n"
		"DIR, decrypted if the snapshot is encrypted (this needs [repository] key_file):\n"
		"the layout `git archive` gives of a plain snapshot, so the README's git +\n"
		"sqlite3 recipe works from there. DIR is built beside it and renamed into place\n"
		"when complete. A DIR that is not empty is refused without --force, which\n"
		"replaces it whole. Files are 0600, directories 0700: they hold the data.\n"
		"Exit status: 0 exported; 1 the snapshot could not be read (changed, damaged,\n"
		"no key or another key); 2 bad arguments, unknown job or revision, DIR not\n"
		"empty.\n",
	.exec = cmd_export,
};
