/*
 * config: validates the cJSON tree made from dbgit.toml into struct config.
 *
 * Each table is checked against a list of field descriptors: every key must
 * be known and of the right type, required keys must be present. Messages
 * name the file, the line and the key, e.g.
 *   dbgit.toml:12:1: [[job]] "app": unknown key 'pth'
 */
#include <ctype.h>
#include <pwd.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "dbgit/config.h"
#include "dbgit/engine.h"
#include "dbgit/util.h"

#define DEFAULT_MAX_BLOB (48u * 1024 * 1024)

enum ftype { F_STR, F_INT, F_STRLIST, F_SIZE, F_KEEP, F_DURATION, F_BOOL, F_FRACTION };

struct field {
	const char *key;
	enum ftype type;
	size_t offset;
	int required;
};

struct ctx {
	const char *file;
	const char *where; /* "[[job]] \"app\"" */
};

static void pos_of(const cJSON *table, const char *key, int *line, int *col)
{
	const cJSON *pos = cJSON_GetObjectItemCaseSensitive(table, CONFIG_POS_KEY);
	const cJSON *p = key ? cJSON_GetObjectItemCaseSensitive(pos, key) : NULL;
	*line = p ? (int)cJSON_GetArrayItem(p, 0)->valuedouble : 0;
	*col = p ? (int)cJSON_GetArrayItem(p, 1)->valuedouble : 0;
}

static int bad(const struct ctx *c, const cJSON *table, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int bad(const struct ctx *c, const cJSON *table, const char *key, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	int line, col;
	pos_of(table, key, &line, &col);
	if (line)
		return err_set(ERR_USAGE, "%s:%d:%d: %s: %s", c->file, line, col, c->where, msg);
	return err_set(ERR_USAGE, "%s: %s: %s", c->file, c->where, msg);
}

/* "48M", "1G", "512k" or a plain number of bytes. */
static int parse_size(const cJSON *v, size_t *out)
{
	/* Written so that NaN fails too; 2^53 keeps the conversion defined. */
	const double max = 9007199254740992.0;
	if (cJSON_IsNumber(v)) {
		if (!(v->valuedouble >= 1 && v->valuedouble <= max))
			return -1;
		*out = (size_t)v->valuedouble;
		return 0;
	}
	if (!cJSON_IsString(v))
		return -1;
	char *end;
	double n = strtod(v->valuestring, &end);
	size_t mult = 1;
	switch (toupper((unsigned char)*end)) {
	case 'K': mult = 1024; end++; break;
	case 'M': mult = 1024 * 1024; end++; break;
	case 'G': mult = 1024u * 1024 * 1024; end++; break;
	case '\0': break;
	default: return -1;
	}
	if (*end == 'i' || *end == 'I')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end || !(n >= 1 && n * (double)mult <= max))
		return -1;
	*out = (size_t)(n * (double)mult);
	return 0;
}

static int parse_keep(const struct ctx *c, const cJSON *t, struct keep_policy *k);

static int apply_fields(const struct ctx *c, const cJSON *table, const struct field *fields,
			void *dst)
{
	if (!cJSON_IsObject(table))
		return err_set(ERR_USAGE, "%s: %s must be a table", c->file, c->where);
	const cJSON *item;
	cJSON_ArrayForEach(item, table)
	{
		if (!strcmp(item->string, CONFIG_POS_KEY))
			continue;
		const struct field *f = fields;
		while (f->key && strcmp(f->key, item->string))
			f++;
		if (!f->key)
			return bad(c, table, item->string, "unknown key '%s'", item->string);
		char *base = (char *)dst + f->offset;
		switch (f->type) {
		case F_STR:
			if (!cJSON_IsString(item))
				return bad(c, table, item->string, "'%s' must be a string", f->key);
			*(char **)base = xstrdup(item->valuestring);
			break;
		case F_INT:
			/* Range first: converting a NaN or a huge double to an
			 * integer is undefined. */
			if (!cJSON_IsNumber(item) || !(item->valuedouble >= 0 && item->valuedouble <= INT_MAX) ||
			    item->valuedouble != (double)(int)item->valuedouble)
				return bad(c, table, item->string,
					   "'%s' must be a whole number from 0 to %d", f->key, INT_MAX);
			*(int *)base = (int)item->valuedouble;
			break;
		case F_SIZE:
			if (parse_size(item, (size_t *)base) < 0)
				return bad(c, table, item->string,
					   "'%s' must be a size such as 48M or a number of bytes", f->key);
			break;
		case F_STRLIST: {
			if (!cJSON_IsArray(item))
				return bad(c, table, item->string, "'%s' must be an array of strings", f->key);
			size_t n = (size_t)cJSON_GetArraySize(item);
			char **list = calloc(n + 1, sizeof(char *));
			size_t i = 0;
			const cJSON *s;
			cJSON_ArrayForEach(s, item)
			{
				if (!cJSON_IsString(s)) {
					for (size_t j = 0; j < i; j++)
						free(list[j]);
					free(list);
					return bad(c, table, item->string,
						   "'%s' must be an array of strings", f->key);
				}
				list[i++] = xstrdup(s->valuestring);
			}
			*(char ***)base = list;
			*(size_t *)(base + sizeof(char **)) = n;
			break;
		}
		case F_KEEP:
			if (parse_keep(c, item, (struct keep_policy *)base) < 0)
				return ERR_USAGE;
			break;
		case F_BOOL:
			if (!cJSON_IsBool(item))
				return bad(c, table, item->string, "'%s' must be true or false", f->key);
			*(int *)base = cJSON_IsTrue(item);
			break;
		case F_FRACTION:
			/* Written "fell by more than this fraction": 0 < x <= 1. */
			if (!cJSON_IsNumber(item) || !(item->valuedouble > 0 && item->valuedouble <= 1))
				return bad(c, table, item->string,
					   "'%s' must be a fraction above 0 and at most 1 (0.5 = half)", f->key);
			*(double *)base = item->valuedouble;
			break;
		case F_DURATION:
			if (!cJSON_IsString(item) || duration_parse(item->valuestring, (int64_t *)base) < 0) {
				err_clear();
				return bad(c, table, item->string,
					   "'%s' must be a duration such as \"30d\" or \"1y6m\"", f->key);
			}
			break;
		}
	}
	for (const struct field *f = fields; f->key; f++)
		if (f->required && !cJSON_GetObjectItemCaseSensitive(table, f->key))
			return bad(c, table, NULL, "missing required key '%s'", f->key);
	return 0;
}

static const struct field keep_fields[] = {
	{"last", F_INT, offsetof(struct keep_policy, last), 0},
	{"hourly", F_INT, offsetof(struct keep_policy, hourly), 0},
	{"daily", F_INT, offsetof(struct keep_policy, daily), 0},
	{"weekly", F_INT, offsetof(struct keep_policy, weekly), 0},
	{"monthly", F_INT, offsetof(struct keep_policy, monthly), 0},
	{"yearly", F_INT, offsetof(struct keep_policy, yearly), 0},
	{"within", F_DURATION, offsetof(struct keep_policy, within), 0},
	{NULL, 0, 0, 0},
};

static int parse_keep(const struct ctx *c, const cJSON *t, struct keep_policy *k)
{
	struct ctx kc = {c->file, "[keep]"};
	char where[300];
	if (strcmp(c->where, "top level")) {
		snprintf(where, sizeof(where), "%s keep", c->where);
		kc.where = where;
	}
	if (apply_fields(&kc, t, keep_fields, k) < 0)
		return ERR_USAGE;
	k->set = 1;
	if (!k->last && !k->hourly && !k->daily && !k->weekly && !k->monthly && !k->yearly &&
	    !k->within)
		return bad(&kc, t, NULL, "the policy keeps nothing: set at least one of last, hourly, "
				       "daily, weekly, monthly, yearly, within");
	return 0;
}

static const struct field repo_fields[] = {
	{"path", F_STR, offsetof(struct config, repo_path), 1},
	{"author", F_STR, offsetof(struct config, author_name), 0},
	{"max_blob_size", F_SIZE, offsetof(struct config, max_blob_size), 0},
	{"key_file", F_STR, offsetof(struct config, key_file), 0},
	{NULL, 0, 0, 0},
};

static const struct field hooks_fields[] = {
	{"dir", F_STR, offsetof(struct config, hooks_dir), 0},
	{"timeout", F_INT, offsetof(struct config, hooks_timeout), 0},
	{NULL, 0, 0, 0},
};

static const struct field defaults_fields[] = {
	{"shrink_limit", F_FRACTION, offsetof(struct config, shrink_limit), 0},
	{NULL, 0, 0, 0},
};

static const struct field metrics_fields[] = {
	{"textfile", F_STR, offsetof(struct config, metrics_textfile), 0},
	{NULL, 0, 0, 0},
};

static const struct field verify_fields[] = {
	{"sample", F_INT, offsetof(struct config, verify_sample), 0},
	{NULL, 0, 0, 0},
};

static const struct field remote_fields[] = {
	{"name", F_STR, offsetof(struct remote_cfg, name), 1},
	{"url", F_STR, offsetof(struct remote_cfg, url), 1},
	{"ssh_key", F_STR, offsetof(struct remote_cfg, ssh_key), 0},
	{"ssh_pubkey", F_STR, offsetof(struct remote_cfg, ssh_pubkey), 0},
	{"passphrase_env", F_STR, offsetof(struct remote_cfg, passphrase_env), 0},
	{"passphrase_file", F_STR, offsetof(struct remote_cfg, passphrase_file), 0},
	{"known_hosts", F_STR, offsetof(struct remote_cfg, known_hosts), 0},
	{"host_key_policy", F_STR, offsetof(struct remote_cfg, host_key_policy), 0},
	{"timeout", F_INT, offsetof(struct remote_cfg, timeout), 0},
	{"retries", F_INT, offsetof(struct remote_cfg, retries), 0},
	{"max_push_size", F_SIZE, offsetof(struct remote_cfg, max_push_size), 0},
	{NULL, 0, 0, 0},
};

static const struct field job_fields[] = {
	{"name", F_STR, offsetof(struct job_cfg, name), 1},
	{"engine", F_STR, offsetof(struct job_cfg, engine), 1},
	{"branch", F_STR, offsetof(struct job_cfg, branch), 0},
	{"path", F_STR, offsetof(struct job_cfg, path), 0},
	{"format", F_STR, offsetof(struct job_cfg, format), 0},
	{"exclude_tables", F_STRLIST, offsetof(struct job_cfg, exclude_tables), 0},
	{"exclude_table_data", F_STRLIST, offsetof(struct job_cfg, exclude_table_data), 0},
	{"busy_timeout", F_INT, offsetof(struct job_cfg, busy_timeout_ms), 0},
	{"verify", F_STR, offsetof(struct job_cfg, verify), 0},
	{"host", F_STR, offsetof(struct job_cfg, host), 0},
	{"port", F_INT, offsetof(struct job_cfg, port), 0},
	{"socket", F_STR, offsetof(struct job_cfg, socket), 0},
	{"database", F_STR, offsetof(struct job_cfg, database), 0},
	{"user", F_STR, offsetof(struct job_cfg, user), 0},
	{"password_file", F_STR, offsetof(struct job_cfg, password_file), 0},
	{"command", F_STR, offsetof(struct job_cfg, command), 0},
	{"options", F_STRLIST, offsetof(struct job_cfg, options), 0},
	{"uri", F_STR, offsetof(struct job_cfg, uri), 0},
	{"auth_database", F_STR, offsetof(struct job_cfg, auth_database), 0},
	{"exclude_collections", F_STRLIST, offsetof(struct job_cfg, exclude_collections), 0},
	{"keep", F_KEEP, offsetof(struct job_cfg, keep), 0},
	{"max_blob_size", F_SIZE, offsetof(struct job_cfg, max_blob_size), 0},
	{"shrink_limit", F_FRACTION, offsetof(struct job_cfg, shrink_limit), 0},
	{"allow_shrink", F_BOOL, offsetof(struct job_cfg, allow_shrink), 0},
	{"allow_empty", F_BOOL, offsetof(struct job_cfg, allow_empty), 0},
	{NULL, 0, 0, 0},
};

/* "Name <email>" */
static int split_author(struct config *cfg)
{
	if (!cfg->author_name) {
		cfg->author_name = xstrdup("dbgit");
		cfg->author_email = xstrdup("dbgit@localhost");
		return 0;
	}
	char *lt = strchr(cfg->author_name, '<');
	char *gt = lt ? strchr(lt, '>') : NULL;
	if (!lt || !gt)
		return -1;
	*gt = '\0';
	cfg->author_email = xstrdup(lt + 1);
	while (lt > cfg->author_name && lt[-1] == ' ')
		lt--;
	*lt = '\0';
	return cfg->author_name[0] && cfg->author_email[0] ? 0 : -1;
}

static int valid_name(const char *s)
{
	size_t n = strlen(s);
	/* Also a valid git ref component: no "..", no trailing "." or ".lock". */
	if (!n || *s == '.' || *s == '-' || s[n - 1] == '.' || strstr(s, "..") ||
	    (n >= 5 && !strcmp(s + n - 5, ".lock")))
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
			return 0;
	return 1;
}

/* A branch name git accepts under refs/heads/ (git check-ref-format). */
static int valid_branch(const char *b)
{
	if (!*b || *b == '/' || b[strlen(b) - 1] == '/' || strstr(b, "//") || strstr(b, "@{") ||
	    !strcmp(b, "@"))
		return 0;
	for (const char *p = b; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || strchr(" ~^:?*[\\", *p))
			return 0;
	char *copy = xstrdup(b), *save = NULL;
	int ok = 1;
	for (char *c = strtok_r(copy, "/", &save); c && ok; c = strtok_r(NULL, "/", &save)) {
		size_t n = strlen(c);
		if (*c == '.' || c[n - 1] == '.' || strstr(c, "..") || (n >= 5 && !strcmp(c + n - 5, ".lock")))
			ok = 0;
	}
	free(copy);
	return ok;
}

static int check_job(const struct ctx *c, const cJSON *t, struct job_cfg *job)
{
	if (!valid_name(job->name))
		return bad(c, t, "name", "job name '%s' may use only letters, digits, '.', '_', '-'",
			   job->name);
	const struct engine *e = engine_find(job->engine);
	if (!e)
		return bad(c, t, "engine", "unknown engine '%s' (known: sqlite, command, postgres, mysql, mongodb)",
			   job->engine);
	if (job->format && strcmp(job->format, "sql") && strcmp(job->format, "binary") &&
	    strcmp(job->format, "both"))
		return bad(c, t, "format", "format must be \"sql\", \"binary\" or \"both\", not '%s'",
			   job->format);
	if (job->verify && strcmp(job->verify, "full") && strcmp(job->verify, "none"))
		return bad(c, t, "verify", "verify must be \"full\" or \"none\", not '%s'", job->verify);
	if (!job->format)
		job->format = xstrdup("sql");
	if (!job->verify)
		job->verify = xstrdup("full");
	if (job->branch && !valid_branch(job->branch))
		return bad(c, t, "branch", "'%s' is not a valid git branch name", job->branch);
	if (!job->branch)
		job->branch = xasprintf("backup/%s", job->name);
	if (!cJSON_GetObjectItemCaseSensitive(t, "busy_timeout"))
		job->busy_timeout_ms = 5000;
	if (e->check && e->check(job) < 0) {
		char msg[600];
		snprintf(msg, sizeof(msg), "%s", err_last());
		err_clear();
		const char *key = strchr(msg, '\'') ? NULL : NULL;
		return bad(c, t, key, "%s", msg);
	}
	return 0;
}

/* "~" and "~/x" mean $HOME (or, where HOME is unset as under some crons,
 * the home the password database gives this user), "~user/x" that user's
 * home: what a shell would make of them, not a directory named "~" beside
 * the config file. what names the key in messages. */
static int expand_home(const char *file, const char *what, char **path)
{
	const char *p = *path;
	const char *rest = strchr(p, '/');
	size_t nlen = rest ? (size_t)(rest - p - 1) : strlen(p + 1);
	const char *home = NULL;
	if (nlen == 0) {
		home = getenv("HOME");
		if (!home || !*home) {
			const struct passwd *pw = getpwuid(getuid());
			home = pw ? pw->pw_dir : NULL;
		}
		if (!home || home[0] != '/')
			return err_set(ERR_USAGE, "%s: %s '%s': HOME is not set, so '~' means nothing", file,
				       what, p);
	} else {
		char *user = xasprintf("%.*s", (int)nlen, p + 1);
		const struct passwd *pw = getpwnam(user);
		free(user);
		home = pw ? pw->pw_dir : NULL;
		if (!home || home[0] != '/')
			return err_set(ERR_USAGE, "%s: %s '%s': no user '%.*s' with a home directory here",
				       file, what, p, (int)nlen, p + 1);
	}
	/* "/" as a home must not turn "~/x" into "//x". */
	size_t hlen = strlen(home);
	while (hlen > 1 && home[hlen - 1] == '/')
		hlen--;
	char *abs = xasprintf("%.*s%s", (int)hlen, home, rest ? (hlen == 1 ? rest + 1 : rest) : "");
	free(*path);
	*path = abs;
	return 0;
}

/* A relative path in the file is relative to the file's directory, not to
 * wherever cron happens to start dbgit; "~" is a home directory. */
static int resolve(const char *file, const char *what, char **path)
{
	if (!*path || (*path)[0] == '/' || !(*path)[0])
		return 0;
	if ((*path)[0] == '~')
		return expand_home(file, what, path);
	const char *slash = strrchr(file, '/');
	char *abs;
	if (slash)
		abs = xasprintf("%.*s/%s", (int)(slash - file), file, *path);
	else
		abs = xstrdup(*path);
	if (abs[0] != '/') {
		char cwd[4096];
		if (getcwd(cwd, sizeof(cwd))) {
			char *full = xasprintf("%s/%s", cwd, abs);
			free(abs);
			abs = full;
		}
	}
	free(*path);
	*path = abs;
	return 0;
}

static int resolve_paths(struct config *cfg)
{
	const char *f = cfg->file;
	char what[300];
	if (resolve(f, "[repository] path", &cfg->repo_path) < 0 ||
	    resolve(f, "[repository] key_file", &cfg->key_file) < 0 ||
	    resolve(f, "[hooks] dir", &cfg->hooks_dir) < 0 ||
	    resolve(f, "[metrics] textfile", &cfg->metrics_textfile) < 0)
		return ERR_USAGE;
	for (size_t i = 0; i < cfg->n_remotes; i++) {
		struct remote_cfg *r = &cfg->remotes[i];
		snprintf(what, sizeof(what), "[[remote]] \"%s\"", r->name);
		if (resolve(f, what, &r->ssh_key) < 0 || resolve(f, what, &r->ssh_pubkey) < 0 ||
		    resolve(f, what, &r->passphrase_file) < 0 || resolve(f, what, &r->known_hosts) < 0)
			return ERR_USAGE;
	}
	for (size_t i = 0; i < cfg->n_jobs; i++) {
		snprintf(what, sizeof(what), "[[job]] \"%s\"", cfg->jobs[i].name);
		if (resolve(f, what, &cfg->jobs[i].path) < 0 || resolve(f, what, &cfg->jobs[i].password_file) < 0)
			return ERR_USAGE;
	}
	return 0;
}

/* "backup/a" and "backup/a/b" cannot both be branches. */
static int nested(const char *outer, const char *inner)
{
	size_t n = strlen(outer);
	return !strncmp(outer, inner, n) && inner[n] == '/';
}

int config_parse(struct config **out, const char *file, const char *text)
{
	*out = NULL;
	char perr[512];
	cJSON *root = config_toml_parse(text, strlen(text), perr, sizeof(perr));
	if (!root)
		return err_set(ERR_USAGE, "%s: %s", file, perr);
	struct config *cfg = calloc(1, sizeof(*cfg));
	cfg->file = xstrdup(file);
	struct ctx c = {file, "top level"};
	int rc = 0;
	const cJSON *item;
	const cJSON *repo = NULL, *remotes = NULL, *jobs = NULL;
	cJSON_ArrayForEach(item, root)
	{
		const char *k = item->string;
		if (!strcmp(k, CONFIG_POS_KEY))
			continue;
		if (!strcmp(k, "repository"))
			repo = item;
		else if (!strcmp(k, "remote"))
			remotes = item;
		else if (!strcmp(k, "job"))
			jobs = item;
		else if (!strcmp(k, "keep")) {
			if ((rc = parse_keep(&c, item, &cfg->keep)) < 0)
				goto done;
		} else if (!strcmp(k, "hooks")) {
			struct ctx hc = {file, "[hooks]"};
			if ((rc = apply_fields(&hc, item, hooks_fields, cfg)) < 0)
				goto done;
			/* 0 would read as "no limit", which is what the limit is for. */
			if (cJSON_GetObjectItemCaseSensitive(item, "timeout") && cfg->hooks_timeout < 1) {
				rc = bad(&hc, item, "timeout", "timeout must be at least 1 (seconds)");
				goto done;
			}
		} else if (!strcmp(k, "defaults")) {
			struct ctx dc = {file, "[defaults]"};
			if ((rc = apply_fields(&dc, item, defaults_fields, cfg)) < 0)
				goto done;
		} else if (!strcmp(k, "metrics")) {
			struct ctx mc = {file, "[metrics]"};
			if ((rc = apply_fields(&mc, item, metrics_fields, cfg)) < 0)
				goto done;
		} else if (!strcmp(k, "verify")) {
			struct ctx vc = {file, "[verify]"};
			if ((rc = apply_fields(&vc, item, verify_fields, cfg)) < 0)
				goto done;
			if (cfg->verify_sample < 0 || cfg->verify_sample > 1000) {
				rc = bad(&vc, item, "sample",
					 "sample must be between 0 and 1000 (snapshots)");
				goto done;
			}
		} else {
			rc = bad(&c, root, k, "unknown section or key '%s'", k);
			goto done;
		}
	}
	if (!repo) {
		rc = err_set(ERR_USAGE, "%s: missing [repository] section with its 'path'", file);
		goto done;
	}
	struct ctx rcx = {file, "[repository]"};
	if ((rc = apply_fields(&rcx, repo, repo_fields, cfg)) < 0)
		goto done;
	if (split_author(cfg) < 0) {
		rc = bad(&rcx, repo, "author", "author must look like \"Name <email>\"");
		goto done;
	}
	if (!cfg->max_blob_size)
		cfg->max_blob_size = DEFAULT_MAX_BLOB;
	if (!cfg->hooks_timeout)
		cfg->hooks_timeout = HOOKS_DEFAULT_TIMEOUT;

	if (remotes) {
		if (!cJSON_IsArray(remotes)) {
			rc = bad(&c, root, "remote", "remotes are written [[remote]]");
			goto done;
		}
		cfg->n_remotes = (size_t)cJSON_GetArraySize(remotes);
		cfg->remotes = calloc(cfg->n_remotes + 1, sizeof(*cfg->remotes));
		size_t i = 0;
		cJSON_ArrayForEach(item, remotes)
		{
			char where[300];
			const cJSON *nm = cJSON_GetObjectItemCaseSensitive(item, "name");
			snprintf(where, sizeof(where), "[[remote]] %s%s%s", cJSON_IsString(nm) ? "\"" : "#",
				 cJSON_IsString(nm) ? nm->valuestring : "", cJSON_IsString(nm) ? "\"" : "");
			if (!cJSON_IsString(nm))
				snprintf(where, sizeof(where), "[[remote]] #%zu", i + 1);
			struct ctx rc2 = {file, where};
			struct remote_cfg *r = &cfg->remotes[i];
			if ((rc = apply_fields(&rc2, item, remote_fields, r)) < 0)
				goto done;
			if (!valid_name(r->name)) {
				rc = bad(&rc2, item, "name", "remote name '%s' may use only letters, digits, '.', '_', '-'", r->name);
				goto done;
			}
			for (size_t j = 0; j < i; j++)
				if (!strcmp(cfg->remotes[j].name, r->name)) {
					rc = bad(&rc2, item, "name", "remote name '%s' is used twice", r->name);
					goto done;
				}
			if (r->host_key_policy && strcmp(r->host_key_policy, "strict") &&
			    strcmp(r->host_key_policy, "accept-new")) {
				rc = bad(&rc2, item, "host_key_policy",
					 "host_key_policy must be \"strict\" or \"accept-new\"");
				goto done;
			}
			if (!r->host_key_policy)
				r->host_key_policy = xstrdup("strict");
			if (!r->known_hosts) {
				const char *home = getenv("HOME");
				r->known_hosts = xasprintf("%s/.ssh/known_hosts", home ? home : "");
			}
			if (!r->timeout)
				r->timeout = 30;
			if (!r->retries)
				r->retries = 3;
			/* GitHub refuses a push over 2 GB. */
			if (!r->max_push_size)
				r->max_push_size = (size_t)3 << 29;
			i++;
		}
	}

	if (jobs && !cJSON_IsArray(jobs)) {
		rc = bad(&c, root, "job", "jobs are written [[job]]");
		goto done;
	}
	cfg->n_jobs = jobs ? (size_t)cJSON_GetArraySize(jobs) : 0;
	cfg->jobs = calloc(cfg->n_jobs + 1, sizeof(*cfg->jobs));
	size_t i = 0;
	cJSON_ArrayForEach(item, jobs)
	{
		char where[300];
		const cJSON *nm = cJSON_GetObjectItemCaseSensitive(item, "name");
		if (cJSON_IsString(nm))
			snprintf(where, sizeof(where), "[[job]] \"%s\"", nm->valuestring);
		else
			snprintf(where, sizeof(where), "[[job]] #%zu", i + 1);
		struct ctx jc = {file, where};
		struct job_cfg *job = &cfg->jobs[i];
		if ((rc = apply_fields(&jc, item, job_fields, job)) < 0)
			goto done;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(cfg->jobs[j].name, job->name)) {
				rc = bad(&jc, item, "name", "job name '%s' is used twice", job->name);
				goto done;
			}
		if ((rc = check_job(&jc, item, job)) < 0)
			goto done;
		if (!job->max_blob_size)
			job->max_blob_size = cfg->max_blob_size;
		if (!job->shrink_limit)
			job->shrink_limit = cfg->shrink_limit ? cfg->shrink_limit : SHRINK_DEFAULT_LIMIT;
		i++;
	}
	for (size_t a = 0; a < cfg->n_jobs; a++)
		for (size_t b = a + 1; b < cfg->n_jobs; b++)
			if (!strcmp(cfg->jobs[a].branch, cfg->jobs[b].branch) ||
			    nested(cfg->jobs[a].branch, cfg->jobs[b].branch) ||
			    nested(cfg->jobs[b].branch, cfg->jobs[a].branch)) {
				/* git cannot hold both "x" and "x/y" as branches either. */
				rc = err_set(ERR_USAGE, "%s: jobs '%s' and '%s' write clashing branches '%s' and '%s'",
					     file, cfg->jobs[a].name, cfg->jobs[b].name, cfg->jobs[a].branch,
					     cfg->jobs[b].branch);
				goto done;
			}
done:
	cJSON_Delete(root);
	if (rc < 0) {
		config_free(cfg);
		return rc;
	}
	if ((rc = resolve_paths(cfg)) < 0) {
		config_free(cfg);
		return rc;
	}
	*out = cfg;
	return 0;
}

int config_load_file(struct config **out, const char *path)
{
	char *text = NULL;
	if (fs_read_small(path, &text, 4 * 1024 * 1024) < 0) {
		/* Copied first: err_reset formats into the buffer err_last()
		 * points at. */
		char why[600];
		snprintf(why, sizeof(why), "%s", err_last());
		return err_reset(ERR_USAGE, "cannot read config %s", why);
	}
	int rc = config_parse(out, path, text);
	free(text);
	return rc;
}

int config_load(struct config **out, const char *explicit_path)
{
	if (explicit_path)
		return config_load_file(out, explicit_path);
	const char *env = getenv("DBGIT_CONFIG");
	if (env && *env)
		return config_load_file(out, env);
	if (fs_exists("dbgit.toml"))
		return config_load_file(out, "dbgit.toml");
	if (fs_exists("/etc/dbgit/dbgit.toml"))
		return config_load_file(out, "/etc/dbgit/dbgit.toml");
	return err_set(ERR_USAGE, "no configuration: give --config FILE, set DBGIT_CONFIG, or "
				  "create ./dbgit.toml or /etc/dbgit/dbgit.toml (see dbgit.toml.example)");
}

static void free_list(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_remotes; i++) {
		struct remote_cfg *r = &cfg->remotes[i];
		free(r->name), free(r->url), free(r->ssh_key), free(r->ssh_pubkey);
		free(r->passphrase_env), free(r->passphrase_file), free(r->known_hosts);
		free(r->host_key_policy);
	}
	for (size_t i = 0; i < cfg->n_jobs; i++) {
		struct job_cfg *j = &cfg->jobs[i];
		free(j->name), free(j->engine), free(j->branch), free(j->path), free(j->format);
		free_list(j->exclude_tables, j->n_exclude);
		free_list(j->exclude_table_data, j->n_exclude_data);
		free_list(j->options, j->n_options);
		free(j->verify), free(j->host), free(j->socket), free(j->database), free(j->user);
		free(j->password_file), free(j->command);
		free(j->uri), free(j->auth_database);
		free_list(j->exclude_collections, j->n_exclude_coll);
	}
	free(cfg->remotes);
	free(cfg->jobs);
	free(cfg->file), free(cfg->repo_path), free(cfg->author_name), free(cfg->author_email);
	free(cfg->key_file);
	free(cfg->hooks_dir);
	free(cfg->metrics_textfile);
	free(cfg);
}

const struct job_cfg *config_job(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_jobs; i++)
		if (!strcmp(cfg->jobs[i].name, name))
			return &cfg->jobs[i];
	return NULL;
}

const struct keep_policy *config_job_keep(const struct config *cfg, const struct job_cfg *job)
{
	return job->keep.set ? &job->keep : &cfg->keep;
}
