/*
 * check: can tonight's backup run? Reaches each job's source as a dump
 * would (the engine's probe) and opens the repository, writing nothing;
 * one line per problem, naming the job, and exit 1 if any.
 */
#include <stdio.h>
#include <string.h>

#include "dbgit/cmd.h"
#include "dbgit/config.h"
#include "dbgit/crypt.h"
#include "dbgit/engine.h"
#include "dbgit/remote.h"
#include "dbgit/store.h"
#include "dbgit/util.h"

/* One problem, one line naming the job or remote once. */
static void report(const char *prefix, const char *name, int warn)
{
	const char *why = err_last();
	if (name && strncmp(why, prefix, strlen(prefix)))
		fprintf(stderr, "dbgit: %s%s'%s': %s\n", warn ? "warning: " : "", prefix, name, why);
	else
		fprintf(stderr, "dbgit: %s%s\n", warn ? "warning: " : "", why);
	err_clear();
}

int cmd_check_config(const struct config *cfg, const struct job_cfg *only, int warn, int quiet)
{
	int broken = 0;
	for (size_t i = 0; i < cfg->n_jobs; i++) {
		const struct job_cfg *job = &cfg->jobs[i];
		if (only && job != only)
			continue;
		const struct engine *eng = engine_find(job->engine);
		if (!eng->probe) {
			if (!quiet)
				printf("%s: source not checked (engine \"%s\")\n", job->name, job->engine);
			continue;
		}
		if (eng->probe(job) < 0) {
			report("job ", job->name, warn);
			broken++;
		} else if (!quiet) {
			printf("%s: source ok\n", job->name);
		}
	}
	if (cfg->hooks_dir && !fs_is_dir(cfg->hooks_dir)) {
		fprintf(stderr, "dbgit: %s[hooks] dir %s is not a directory: no hook would run\n",
			warn ? "warning: " : "", cfg->hooks_dir);
		broken++;
	}
	/* init warns before the first backup would fail on it. */
	struct crypt_key *key = NULL;
	if (cfg->key_file && crypt_key_load(&key, cfg->key_file) < 0) {
		fprintf(stderr, "dbgit: %s%s\n", warn ? "warning: " : "", err_last());
		err_clear();
		broken++;
	} else if (key && !quiet) {
		printf("key %s: ok (key id %s)\n", cfg->key_file, key->id);
	}
	crypt_key_free(key);
	for (size_t i = 0; i < cfg->n_remotes; i++) {
		const struct remote_cfg *r = &cfg->remotes[i];
		if (remote_probe(r) < 0) {
			report("remote ", r->name, warn);
			broken++;
		} else if (!quiet) {
			printf("remote %s: key and known_hosts ok\n", r->name);
		}
	}
	return broken;
}

static int cmd_check(struct cmd_ctx *ctx, int argc, char **argv)
{
	const struct cmd_opt opts[] = {{NULL, NULL, NULL}};
	const char *pos[1] = {NULL};
	int npos, rc;
	if ((rc = cmd_parse(&cmd_check_entry, argc, argv, opts, pos, 1, &npos)) != 0)
		return rc;
	struct config *cfg;
	struct store *st;
	/* Opening the repository is its check: a missing or damaged one fails here. */
	if ((rc = cmd_setup(ctx, &cfg, &st)) != 0)
		return rc;
	const struct job_cfg *only = npos ? cmd_job(cfg, pos[0]) : NULL;
	if (npos && !only) {
		store_free(st);
		config_free(cfg);
		return cmd_fail(ERR_USAGE);
	}
	int broken = cmd_check_config(cfg, only, 0, 0);
	int locked = 0;
	if (store_check_writable(st, &locked) < 0) {
		report("repository ", NULL, 0);
		broken++;
	} else {
		if (locked)
			fprintf(stderr, "dbgit: warning: repository %s: another dbgit holds its lock now (a backup running?)\n",
				store_path(st));
		printf("repository %s: ok (writable)\n", store_path(st));
	}
	/* Each remote reached as tonight's push would reach it. One that
	 * failed the checks above (its key, its known_hosts) is not tried:
	 * its line is already there. */
	for (size_t i = 0; i < cfg->n_remotes; i++) {
		const struct remote_cfg *r = &cfg->remotes[i];
		if (remote_probe(r) < 0) {
			err_clear();
			continue;
		}
		if (remote_check(st, r) < 0) {
			const char *why = err_last();
			char prefix[300];
			snprintf(prefix, sizeof(prefix), "remote %s: ", r->name);
			if (!strncmp(why, prefix, strlen(prefix)))
				why += strlen(prefix);
			fprintf(stderr, "dbgit: check: remote %s: %s\n", r->name, why);
			err_clear();
			broken++;
		} else {
			printf("remote %s: reached, logged in, repository answers\n", r->name);
		}
	}
	store_free(st);
	config_free(cfg);
	return broken ? EXIT_JOB_FAILED : EXIT_OK;
}

const struct cmd_entry cmd_check_entry = {
	.name = "check",
	.usage = "check [JOB]",
	.summary = "reach each job's source, the repository and each remote, writing nothing",
	.help = "Opens the repository and, for each job (or JOB), reaches its source as a\n"
		"backup would: a SQLite file is opened and its schema read; a PostgreSQL\n"
		"server is connected to with the job's user and password_file, and pg_dump\n"
		"is found. The hooks folder must exist; each remote's URL, key and passphrase\n"
		"files (mode, owner) and known_hosts are checked, and a local remote must be a\n"
		"git repository. Then each remote is connected to as a push would (same key,\n"
		"same host-key check against known_hosts, same timeout), its branches listed\n"
		"and the connection closed: an unknown or changed host key, a refused key, a\n"
		"missing repository or a host that does not answer is a line\n"
		"'check: remote NAME: ...'. The repository must be writable (a file is made\n"
		"and removed in its objects folder); a lock held by a running dbgit is only a\n"
		"warning. A [repository] key_file must be a key file only its owner may read.\n"
		"Nothing stays written. Exit 1 names each broken job, remote or folder.\n",
	.exec = cmd_check,
};
