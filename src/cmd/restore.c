/* restore: rebuild a database from a snapshot, atomically. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	/* --table may come several times: taken out before the options that
	 * come once are parsed. */
	char **rest = calloc((size_t)argc + 1, sizeof(*rest));
	const char **tables = calloc((size_t)argc + 1, sizeof(*tables));
	int nrest = 0;
	size_t ntables = 0;
	for (int i = 0; i < argc; i++) {
		if (i > 0 && !strcmp(argv[i], "--table")) {
			if (i + 1 >= argc) {
				free(rest), free(tables);
				return cmd_usage_error(&cmd_restore_entry, "option '--table' needs a value");
			}
			tables[ntables++] = argv[++i];
		} else if (i > 0 && !strncmp(argv[i], "--table=", 8)) {
			tables[ntables++] = argv[i] + 8;
		} else {
			rest[nrest++] = argv[i];
		}
	}
	rc = cmd_parse(&cmd_restore_entry, nrest, rest, opts, pos, 2, &npos);
	free(rest);
	if (rc == 0 && ntables && format)
		rc = cmd_usage_error(&cmd_restore_entry, "--table restores from the SQL copy: no --format");
	for (size_t i = 0; rc == 0 && i < ntables; i++)
		if (!tables[i][0])
			rc = cmd_usage_error(&cmd_restore_entry, "--table needs a table name");
	if (rc != 0) {
		free(tables);
		return rc;
	}
	struct config *cfg = NULL;
	struct store *st = NULL;
	int64_t when = 0;
	if (npos < 1)
		rc = cmd_usage_error(&cmd_restore_entry, "which job?");
	else if (!to)
		rc = cmd_usage_error(&cmd_restore_entry, "--to TARGET is required");
	else if (at && pos[1])
		rc = cmd_usage_error(&cmd_restore_entry, "give REV or --at, not both");
	else if (at && time_parse_at(at, &when) < 0)
		rc = cmd_fail(ERR_USAGE);
	else
		rc = cmd_setup(ctx, &cfg, &st);
	if (rc != 0) {
		free(tables);
		return rc;
	}
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
	rc = ntables ? cycle_restore_tables(cfg, st, job, id, to, force, tables, ntables)
		     : cycle_restore(cfg, st, job, id, to, force, format);
	if (rc < 0)
		goto out;
	/* The target has its name: a stop signal that came since the last
	 * check found the work done. */
	int late = sig_forget();
	if (late)
		log_info("SIG%s came after %s was complete; nothing to stop", sigabbrev_np(late), to);
	if (ntables)
		fprintf(stderr,
			"dbgit: restored %zu table%s of %s snapshot %.12s into %s (checked against its "
			"manifest)\n",
			ntables, ntables == 1 ? "" : "s", job->name, id, to);
	else
		fprintf(stderr, "dbgit: restored %s snapshot %.12s into %s (checked against its manifest)\n",
			job->name, id, to);
out:
	free(tables);
	store_free(st);
	config_free(cfg);
	return rc < 0 ? cmd_fail(rc) : EXIT_OK;
}

const struct cmd_entry cmd_restore_entry = {
	.name = "restore",
	.usage = "restore JOB [REV] --to TARGET [--at TIME] [--force] [--format sql|binary] [--table T]...",
	.summary = "rebuild a database from a snapshot",
	.help = "Rebuilds the snapshot (default: the newest) into a temp file beside TARGET,\n"
		"checks every table against the snapshot's manifest, and only then renames it\n"
		"to TARGET: TARGET is never half written. An existing TARGET is refused\n"
		"without --force; a symlink, device, FIFO or directory at TARGET always is.\n"
		"A replaced file keeps its mode; a new one is 0600. --at TIME picks the\n"
		"newest snapshot at or before TIME, in UTC like `dbgit list` unless TIME\n"
		"gives its offset (2026-11-21T03:00:00Z, 2026-11-21T04:00+01:00); a date\n"
		"alone means the end of that day (2026-11-21 = 2026-11-21T23:59:59Z).\n"
		"--format picks the copy to restore from when the snapshot holds both\n"
		"(default: binary). --table T (again for more tables) restores only\n"
		"those tables - schema, rows, and the indexes and triggers on them, no\n"
		"views - into a new database, reading no other table's files; it needs\n"
		"the snapshot's SQL copy. A snapshot is untrusted input: SQL that could touch\n"
		"anything but the new database (ATTACH, VACUUM INTO, PRAGMAs it does not\n"
		"need, extensions) is refused, naming the file and line.\n"
		"Exit status: 0 restored; 1 the restore failed; 2 bad arguments, unknown job\n"
		"or revision, TARGET exists, or TARGET is not a regular file.\n",
	.exec = cmd_restore,
};
