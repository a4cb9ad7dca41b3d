/* restore: rebuild a database from a snapshot, atomically. */
#include <stdio.h>

#include "dbgit/cmd.h"
#include "dbgit/config.h"
#include "dbgit/cycle.h"
#include "dbgit/store.h"
#include "dbgit/util.h"

static int cmd_restore(struct cmd_ctx *ctx, int argc, char **argv)
{
	int force = 0;
	const char *to = NULL, *at = NULL, *format = NULL;
	const struct cmd_opt opts[] = {
		{"--to", NULL, &to},       {"--at", NULL, &at}, {"--force", &force, NULL},
		{"--format", NULL, &format}, {NULL, NULL, NULL},
	};
	const char *pos[2] = {NULL, NULL};
	int npos, rc;
	if ((rc = cmd_parse(&cmd_restore_entry, argc, argv, opts, pos, 2, &npos)) != 0)
		return rc;
	if (npos < 1)
		return cmd_usage_error(&cmd_restore_entry, "which job?");
	if (!to)
		return cmd_usage_error(&cmd_restore_entry, "--to TARGET is required");
	if (at && pos[1])
		return cmd_usage_error(&cmd_restore_entry, "give REV or --at, not both");
	int64_t when = 0;
	if (at && time_parse(at, &when) < 0)
		return cmd_fail(ERR_USAGE);
	struct config *cfg;
	struct store *st;
	if ((rc = cmd_setup(ctx, &cfg, &st)) != 0)
		return rc;
	const struct job_cfg *job = cmd_job(cfg, pos[0]);
	char ref[512], id[41];
	if (!job) {
		rc = ERR_USAGE;
		goto out;
	}
	cycle_branch_ref(job, ref, sizeof(ref));
	rc = at ? snap_resolve_time(st, ref, when, id) : snap_resolve(st, ref, pos[1], id);
	if (rc < 0)
		goto out;
	if ((rc = cycle_restore(cfg, st, job, id, to, force, format)) < 0)
		goto out;
	fprintf(stderr, "dbgit: restored %s snapshot %.12s into %s (checked against its manifest)\n",
		job->name, id, to);
out:
	store_free(st);
	config_free(cfg);
	return rc < 0 ? cmd_fail(rc) : EXIT_OK;
}

const struct cmd_entry cmd_restore_entry = {
	.name = "restore",
	.usage = "restore JOB [REV] --to TARGET [--at TIME] [--force] [--format sql|binary]",
	.summary = "rebuild a database from a snapshot",
	.help = "Rebuilds the snapshot (default: the newest) into a temp file beside TARGET,\n"
		"checks every table against the snapshot's manifest, and only then renames it\n"
		"to TARGET: TARGET is never half written. An existing TARGET is refused\n"
		"without --force. --at TIME picks the newest snapshot at or before TIME\n"
		"(2026-11-21, 2026-11-21T03:00:00Z). --format picks the copy to restore from\n"
		"when the snapshot holds both (default: binary).\n"
		"Exit status: 0 restored; 1 the restore failed; 2 bad arguments, unknown job\n"
		"or revision, or TARGET exists.\n",
	.exec = cmd_restore,
};
