/* common: what every command does the same way - load the config, open the
 * repository, parse options, report errors. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "dbgit/cmd.h"
#include "dbgit/rotate.h"
#include "dbgit/config.h"
#include "dbgit/crypt.h"
#include "dbgit/remote.h"
#include "dbgit/store.h"
#include "dbgit/util.h"

int cmd_fail(int code)
{
	fprintf(stderr, "dbgit: %s\n", err_last());
	return err_exit_status(code ? code : err_code());
}

int cmd_setup(struct cmd_ctx *ctx, struct config **cfg, struct store **st)
{
	*cfg = NULL;
	if (st)
		*st = NULL;
	int rc = config_load(cfg, ctx->config_path);
	if (rc < 0)
		return cmd_fail(rc);
	/* Before any hook or dump tool can inherit a key passphrase. */
	rc = remote_secrets_take(*cfg);
	if (rc < 0) {
		config_free(*cfg);
		*cfg = NULL;
		return cmd_fail(rc);
	}
	if (!st)
		return 0;
	/* What a run killed before it could clean up left in $TMPDIR. */
	fs_sweep_scratch();
	rc = store_open(st, (*cfg)->repo_path);
	/* The key is read once, here: every command then reads encrypted
	 * snapshots and backup writes them. */
	struct crypt_key *key = NULL;
	if (rc == 0 && (*cfg)->key_file && (rc = crypt_key_load(&key, (*cfg)->key_file)) == 0)
		store_set_key(*st, key);
	if (rc < 0) {
		store_free(*st);
		*st = NULL;
		config_free(*cfg);
		*cfg = NULL;
		return cmd_fail(rc);
	}
	return 0;
}

int cmd_usage_error(const struct cmd_entry *e, const char *what)
{
	fprintf(stderr, "dbgit %s: %s\nusage: dbgit %s\n", e->name, what, e->usage);
	return EXIT_USAGE;
}

int cmd_parse(const struct cmd_entry *e, int argc, char **argv, const struct cmd_opt *opts,
	      const char **pos, int max, int *npos)
{
	*npos = 0;
	int only_pos = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (only_pos || a[0] != '-' || !a[1]) {
			if (*npos >= max) {
				char msg[300];
				snprintf(msg, sizeof(msg), "unexpected argument '%s'", a);
				return cmd_usage_error(e, msg);
			}
			pos[(*npos)++] = a;
			continue;
		}
		if (!strcmp(a, "--")) {
			only_pos = 1;
			continue;
		}
		const struct cmd_opt *o = opts;
		size_t alen = strcspn(a, "=");
		while (o && o->name && (strlen(o->name) != alen || strncmp(o->name, a, alen)))
			o++;
		if (!o || !o->name) {
			char msg[300];
			snprintf(msg, sizeof(msg), "unknown option '%s'", a);
			return cmd_usage_error(e, msg);
		}
		if (o->flag) {
			if (a[alen] == '=') {
				char msg[300];
				snprintf(msg, sizeof(msg), "option '%s' takes no value", o->name);
				return cmd_usage_error(e, msg);
			}
			*o->flag = 1;
		} else if (a[alen] == '=') {
			*o->value = a + alen + 1;
		} else if (i + 1 < argc) {
			*o->value = argv[++i];
		} else {
			char msg[300];
			snprintf(msg, sizeof(msg), "option '%s' needs a value", o->name);
			return cmd_usage_error(e, msg);
		}
	}
	return 0;
}

const struct job_cfg *cmd_job(const struct config *cfg, const char *name)
{
	const struct job_cfg *job = config_job(cfg, name);
	if (job)
		return job;
	char known[512] = "";
	for (size_t i = 0; i < cfg->n_jobs; i++) {
		size_t l = strlen(known);
		snprintf(known + l, sizeof(known) - l, "%s%s", i ? ", " : "", cfg->jobs[i].name);
	}
	err_set(ERR_USAGE, "unknown job '%s' in %s (jobs: %s)", name, cfg->file, cfg->n_jobs ? known : "none");
	return NULL;
}

void cmd_print_json(const struct cJSON *json)
{
	char *text = cJSON_Print(json);
	printf("%s\n", text ? text : "null");
	free(text);
}

/* Local time, the clock the retention buckets use, so that "daily" reads
 * right. */
static void plan_time(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (localtime_r(&tt, &tm))
		strftime(out, 32, "%Y-%m-%d %H:%M:%S %z", &tm);
	else
		snprintf(out, 32, "@%lld", (long long)t);
}

void cmd_print_rotate_plan(const char *branch, const struct rotate_result *r)
{
	if (strncmp(branch, "refs/heads/", 11) == 0)
		branch += 11;
	if (!r->n_plan) {
		printf("%s: no snapshots\n", branch);
		return;
	}
	printf("%s: %zu snapshot%s, would keep %zu, drop %zu\n", branch, r->total, r->total == 1 ? "" : "s",
	       r->kept, r->total - r->kept);
	for (size_t i = 0; i < r->n_plan; i++) {
		const struct rotate_entry *e = &r->plan[i];
		char when[32];
		plan_time(e->time, when);
		const char *id = e->id[0] ? e->id : "(new)";
		if (e->keep)
			printf("  keep  %.12s  %s  (%s)\n", id, when, e->reasons);
		else
			printf("  drop  %.12s  %s\n", id, when);
	}
	fflush(stdout);
}

void cmd_human_size(double n, char *out, size_t len)
{
	const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	int u = 0;
	while (n >= 1024 && u < 4) {
		n /= 1024;
		u++;
	}
	snprintf(out, len, u ? "%.1f %s" : "%.0f %s", n, unit[u]);
}
