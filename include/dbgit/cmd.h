/*
 * cmd: the command table. Each command lives in src/cmd/<name>.c as one
 * struct cmd_entry; a command parses its arguments and calls the modules.
 * exec returns the process exit status.
 */
#ifndef DBGIT_CMD_H
#define DBGIT_CMD_H

#include <stdio.h>

struct cmd_ctx {
	const char *config_path; /* --config, or NULL */
	int json;                /* --json */
};

struct cmd_entry {
	const char *name;
	const char *usage;
	const char *summary;
	const char *help; /* long help, shown by "dbgit help NAME" */
	int (*exec)(struct cmd_ctx *ctx, int argc, char **argv);
};

extern const struct cmd_entry cmd_init_entry;
extern const struct cmd_entry cmd_backup_entry;
extern const struct cmd_entry cmd_list_entry;
extern const struct cmd_entry cmd_show_entry;
extern const struct cmd_entry cmd_restore_entry;
extern const struct cmd_entry cmd_verify_entry;
extern const struct cmd_entry cmd_diff_entry;
extern const struct cmd_entry cmd_rotate_entry;
extern const struct cmd_entry cmd_push_entry;
extern const struct cmd_entry cmd_status_entry;
extern const struct cmd_entry cmd_check_entry;
extern const struct cmd_entry cmd_keygen_entry;
extern const struct cmd_entry cmd_export_entry;

/* Shared helpers for commands (src/cmd/common.c). */
struct config;
struct store;
/* Loads config and opens the repository; prints the error and returns the
 * exit status on failure (0 on success). */
int cmd_setup(struct cmd_ctx *ctx, struct config **cfg, struct store **st);
/* Prints err_last() as "dbgit: ..." and returns the exit status for code. */
int cmd_fail(int code);
/* Prints "dbgit NAME: what" and the usage line; returns EXIT_USAGE. */
int cmd_usage_error(const struct cmd_entry *e, const char *what);

/* Long options of a command: a flag (value == NULL) sets *flag to 1; an
 * option with a value takes "--name VALUE" or "--name=VALUE". */
struct cmd_opt {
	const char *name; /* "--json" */
	int *flag;
	const char **value;
};
/* Parses argv[1..] (argv[0] is the command name): options anywhere,
 * positionals collected into pos (at most max). Returns 0 or EXIT_USAGE
 * (after printing the error). */
int cmd_parse(const struct cmd_entry *e, int argc, char **argv, const struct cmd_opt *opts,
	      const char **pos, int max, int *npos);
/* Prints a JSON document on stdout (--json). */
/* `dbgit --version`: dbgit's and the loaded libraries' versions, and
 * whether the test-only environment variables are compiled in. */
void cmd_version_print(FILE *out);

struct cJSON;
void cmd_print_json(const struct cJSON *json);

/* The job named name, or an error (exit 2) naming it and the known jobs. */
struct job_cfg;
const struct job_cfg *cmd_job(const struct config *cfg, const char *name);

/* What check verifies without writing (sources, hooks folder, remotes'
 * files), one line per problem on stderr, as warnings with warn; the
 * number of problems. For one job (no remotes) with only. */
int cmd_check_config(const struct config *cfg, const struct job_cfg *only, int warn, int quiet);

/* Prints a retention plan (rotate_branch_ex's or rotate_preview's
 * result): a line per snapshot, kept (and by which rules) or dropped. */
struct rotate_result;
/* "512 B", "1.5 KiB", "20.0 MiB": the sizes list and status print. */
void cmd_human_size(double n, char *out, size_t len);
void cmd_print_rotate_plan(const char *branch, const struct rotate_result *r);

#endif
