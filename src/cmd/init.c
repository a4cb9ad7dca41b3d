/* init: create the backup repository (bare, private) and check the config. */
#include <stdio.h>
#include <sys/stat.h>

#include "dbgit/cmd.h"
#include "dbgit/config.h"
#include "dbgit/store.h"
#include "dbgit/util.h"

static int cmd_init(struct cmd_ctx *ctx, int argc, char **argv)
{
	const char *pos[1];
	int npos;
	int rc = cmd_parse(&cmd_init_entry, argc, argv, NULL, pos, 0, &npos);
	if (rc)
		return rc;
	struct config *cfg;
	if ((rc = cmd_setup(ctx, &cfg, NULL)) != 0)
		return rc;
	int created;
	if ((rc = store_init(cfg->repo_path, &created)) < 0) {
		config_free(cfg);
		return cmd_fail(rc);
	}
	/* A repository made by git (git init --bare, a clone) is as open as
	 * the umask left it, and every snapshot in it is the database. */
	struct stat sb;
	if (!created && stat(cfg->repo_path, &sb) == 0 && (sb.st_mode & 077))
		log_warn("repository %s is open to group or others (mode %04o) and holds every snapshot; "
			 "chmod 700 %s",
			 cfg->repo_path, (unsigned)(sb.st_mode & 07777), cfg->repo_path);
	printf("%s repository %s (%zu job%s, %zu remote%s)\n", created ? "created" : "using existing",
	       cfg->repo_path, cfg->n_jobs, cfg->n_jobs == 1 ? "" : "s", cfg->n_remotes,
	       cfg->n_remotes == 1 ? "" : "s");
	/* What a syntax check cannot see - a database, key, known_hosts or
	 * hooks folder that is not there, a local remote that is no
	 * repository - is said now, not at 3 am. */
	int problems = cmd_check_config(cfg, NULL, 1, 1);
	if (problems)
		fprintf(stderr, "dbgit: %d problem%s above: fix, then `dbgit check`\n", problems,
			problems == 1 ? "" : "s");
	config_free(cfg);
	return EXIT_OK;
}

const struct cmd_entry cmd_init_entry = {
	.name = "init",
	.usage = "init",
	.summary = "create the backup repository and check the configuration",
	.help = "Creates the repository named by [repository] path as a bare git repository,\n"
		"readable by its owner only, unless it exists already. Checks the whole\n"
		"configuration first; a configuration error exits 2 and creates nothing.\n"
		"Then warns, one line each, about what `dbgit check` would report: a\n"
		"source that cannot be read, a hooks folder, key, passphrase or known_hosts\n"
		"file that is missing or too open, a local remote that is not a repository.\n",
	.exec = cmd_init,
};
