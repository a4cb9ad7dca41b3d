/*
 * push: sends the job branches (all jobs, or the named one) to every
 * configured remote - what `dbgit backup` does at its end, on its own, for
 * snapshots a failed push left behind. A remote that fails does not stop
 * the others. Exit 0, 3 if a push failed (retry later), 5 if a remote
 * refused in a way only a person can fix (host key, key, a branch moved by
 * someone else, permission, repository missing), 2 for a configuration
 * error, 4 if another dbgit holds the repository.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbgit/cmd.h"
#include "dbgit/config.h"
#include "dbgit/cycle.h"
#include "dbgit/remote.h"
#include "dbgit/store.h"
#include "dbgit/util.h"

static int push_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_push_entry = {
	.name = "push",
	.usage = "push [JOB] [--force]",
	.summary = "push job branches to every remote",
	.help = "Pushes the branch of the named job, or of every job, to every [[remote]]\n"
		"(over SSH, or to a local path or file:// URL). New snapshots travel as a\n"
		"fast-forward carrying only the objects the remote lacks. A branch whose\n"
		"history was rewritten here (rotation) replaces the remote's only while the\n"
		"remote still holds what dbgit pushed there last (the lease, kept as\n"
		"refs/dbgit/remotes/<remote>/<branch>); a branch someone else moved is\n"
		"never overwritten.\n"
		"\n"
		"  --force     overwrite the remote branch even if someone else moved it\n"
		"\n"
		"Host keys are checked against known_hosts (default ~/.ssh/known_hosts);\n"
		"an unknown key is refused unless host_key_policy = \"accept-new\", a changed\n"
		"key always, a key marked @revoked always. Network failures are retried\n"
		"(retries, default 3) with backoff; timeout (default 30 s) bounds every\n"
		"silent stretch. Refusals no retry fixes are not retried.\n"
		"\n"
		"Exit status: 0 pushed (or nothing to push), 3 a push failed and is retried\n"
		"next run, 5 a remote refused in a way only you can fix (host key changed,\n"
		"unknown or revoked; key refused or passphrase wrong; branch moved by\n"
		"someone else; permission denied; repository missing), 2 usage or\n"
		"configuration error (e.g. a key file others can read), 4 the repository\n"
		"is locked by another dbgit.\n",
	.exec = push_exec,
};

static void print_state(struct store *st, const struct remote_cfg *r, const char *const *refs,
			size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char tip[41];
		if (snap_tip(st, refs[i], tip) < 0 || !tip[0])
			continue;
		enum remote_sync s;
		if (remote_sync_state(st, r, refs[i], &s) < 0)
			continue;
		const char *b = strncmp(refs[i], "refs/heads/", 11) ? refs[i] : refs[i] + 11;
		printf("%s: %s %s (%.7s)\n", r->name, b, remote_sync_name(s), tip);
	}
	err_clear();
}

static int push_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	int force = 0, status = EXIT_OK;
	const char *name = NULL;
	struct config *cfg = NULL;
	struct store *st = NULL;
	char **refs = NULL;
	size_t n = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--force") || !strcmp(argv[i], "-f"))
			force = 1;
		else if (!strcmp(argv[i], "--"))
			continue;
		else if (argv[i][0] == '-')
			return cmd_usage_error(&cmd_push_entry, argv[i]);
		else if (!name)
			name = argv[i];
		else
			return cmd_usage_error(&cmd_push_entry, "only one JOB");
	}

	if ((status = cmd_setup(ctx, &cfg, &st)) != 0)
		return status;
	if (name && !config_job(cfg, name)) {
		err_set(ERR_USAGE, "no job named '%s' in %s", name, cfg->file);
		status = cmd_fail(ERR_USAGE);
		goto out;
	}
	if (cfg->n_remotes == 0) {
		log_warn("no [[remote]] in %s: nothing to push to", cfg->file);
		goto out;
	}
	/* The lease refs must not move under a backup that rotates. */
	if (store_lock(st) < 0) {
		status = cmd_fail(err_code());
		goto out;
	}

	refs = calloc(cfg->n_jobs ? cfg->n_jobs : 1, sizeof(*refs));
	for (size_t j = 0; refs && j < cfg->n_jobs; j++) {
		if (name && strcmp(name, cfg->jobs[j].name))
			continue;
		char ref[512];
		cycle_branch_ref(&cfg->jobs[j], ref, sizeof(ref));
		refs[n++] = xstrdup(ref);
	}

	int worst = 0;
	for (size_t i = 0; i < cfg->n_remotes; i++) {
		const struct remote_cfg *r = &cfg->remotes[i];
		err_clear();
		int rc = remote_push(st, cfg, r, (const char *const *)refs, n, force);
		if (rc < 0) {
			int s = cmd_fail(rc);
			/* The same order as backup's (remote_push_all). */
			if (worst == 0 || remote_err_rank(rc) > remote_err_rank(worst)) {
				worst = rc;
				status = s;
			}
			continue;
		}
		print_state(st, r, (const char *const *)refs, n);
	}
out:
	remote_secrets_wipe();
	for (size_t i = 0; i < n; i++)
		free(refs[i]);
	free(refs);
	store_free(st);
	config_free(cfg);
	return status;
}
