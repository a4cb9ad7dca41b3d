/*
 * dbgit: consistent, verified database backups kept as commits on a git
 * branch. This file holds the command table and the global options; each
 * command lives in src/cmd/<name>.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbgit/cmd.h"
#include "dbgit/util.h"

static const struct cmd_entry *const commands[] = {
	&cmd_init_entry,    &cmd_backup_entry, &cmd_list_entry,   &cmd_show_entry,
	&cmd_diff_entry,
	&cmd_restore_entry, &cmd_verify_entry, &cmd_rotate_entry,
	&cmd_push_entry,    &cmd_status_entry, &cmd_check_entry,
	&cmd_keygen_entry,  &cmd_export_entry,
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct cmd_entry *find(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (!strcmp(commands[i]->name, name))
			return commands[i];
	return NULL;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: dbgit [--config FILE] [-v|-q] COMMAND [ARGS]\n"
		     "       dbgit help [COMMAND] | --help | --version\n\n"
		     "Consistent, verified database backups as commits in a git repository.\n\n"
		     "Options:\n"
		     "  -c, --config FILE  the configuration (default $DBGIT_CONFIG, ./dbgit.toml,\n"
		     "                     /etc/dbgit/dbgit.toml)\n"
		     "  -v, --verbose      a line per job and the details of a failure (twice: debug)\n"
		     "  -q, --quiet        errors only\n"
		     "  -h, --help         this list\n"
		     "      --version      the versions of dbgit and the libraries it loaded\n\n"
		     "Commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %-8s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(out, "  %-8s %s\n", "help", "describe a command");
	fprintf(out, "\n'dbgit help COMMAND' describes one command; 'man dbgit' and 'man dbgit.toml'\n"
		     "describe all of them and the configuration.\n"
		     "Exit status: 0 ok, 1 a job failed, 2 usage or configuration error,\n"
		     "3 committed locally but a push failed (retried next run), 4 repository locked\n"
		     "by another dbgit, 5 committed locally but a remote refused: a person must act,\n"
		     "128+N stopped by signal N (130 SIGINT, 143 SIGTERM, 129 SIGHUP) after cleaning up.\n");
}

static int help(const char *name)
{
	const struct cmd_entry *e = name ? find(name) : NULL;
	if (!name) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(name, "help")) {
		printf("usage: dbgit help [COMMAND]\n\ndescribe a command\n\n"
		       "Without COMMAND, lists the commands and the global options (as --help).\n");
		return EXIT_OK;
	}
	if (!e) {
		fprintf(stderr, "dbgit: no command '%s' (see 'dbgit help')\n", name);
		return EXIT_USAGE;
	}
	printf("usage: dbgit %s\n\n%s\n", e->usage, e->summary);
	if (e->help)
		printf("\n%s", e->help);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	struct cmd_ctx ctx = {0};
	int i = 1;
	if (sig_install() < 0) {
		fprintf(stderr, "dbgit: %s\n", err_last());
		return EXIT_JOB_FAILED;
	}
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--config") || !strcmp(a, "-c")) {
			if (++i >= argc) {
				fprintf(stderr, "dbgit: --config needs a file\n");
				return EXIT_USAGE;
			}
			ctx.config_path = argv[i];
		} else if (!strncmp(a, "--config=", 9)) {
			ctx.config_path = a + 9;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			log_set_level(log_level() + 1);
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			log_set_level(LOG_ERROR);
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return EXIT_OK;
		} else if (!strcmp(a, "--version")) {
			cmd_version_print(stdout);
			return EXIT_OK;
		} else {
			fprintf(stderr, "dbgit: unknown option '%s' (see 'dbgit --help')\n", a);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	/* -v lines on stdout interleave with warnings on stderr: each line
	 * goes out as it is written, also into a file or a pipe. */
	if (log_level() >= LOG_INFO)
		setvbuf(stdout, NULL, _IOLBF, 0);
	const char *name = argv[i];
	if (!strcmp(name, "help"))
		return help(i + 1 < argc ? argv[i + 1] : NULL);
	const struct cmd_entry *e = find(name);
	if (!e) {
		fprintf(stderr, "dbgit: no command '%s' (see 'dbgit help')\n", name);
		return EXIT_USAGE;
	}
	/* The command's own arguments; "--help" anywhere shows its help. */
	for (int k = i + 1; k < argc; k++)
		if (!strcmp(argv[k], "--help") || !strcmp(argv[k], "-h"))
			return help(name);
	int status = e->exec(&ctx, argc - i, argv + i);
	/* A stop signal: the command has unwound and cleaned up; say so the
	 * way a shell does for a process the signal killed. */
	if (sig_pending()) {
		fprintf(stderr, "dbgit: stopped by SIG%s; nothing half-done is left\n", sigabbrev_np(sig_pending()));
		return sig_exit_status();
	}
	return status;
}
