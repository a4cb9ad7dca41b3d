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
		"without --force; a symlink, device, FIFO or directory at TARGET always is.\n"
		"A replaced file keeps its mode; a new one is 0600. --at TIME picks the\n"
		"newest snapshot at or before TIME (2026-11-21, 2026-11-21T03:00:00Z).\n"
		"--format picks the copy to restore from when the snapshot holds both\n"
		"(default: binary). A snapshot is untrusted input: SQL that could touch\n"
		"anything but the new database (ATTACH, VACUUM INTO, PRAGMAs it does not\n"
		"need, extensions) is refused, naming the file and line.\n"
		"Exit status: 0 restored; 1 the restore failed; 2 bad arguments, unknown job\n"
		"or revision, TARGET exists, or TARGET is not a regular file.\n",
	.exec = cmd_restore,
};
