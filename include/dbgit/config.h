/*
 * config: dbgit.toml, read through toml++ (config_toml.cpp turns the
 * document into a cJSON tree) and validated here into plain structs.
 *
 * Every error names the file and either the line and column (syntax) or the
 * key (unknown key, wrong type, missing key, duplicate job) and returns
 * ERR_USAGE, so that the command exits 2 having done nothing.
 */
#ifndef DBGIT_CONFIG_H
#define DBGIT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

struct cJSON;

/* restic's forget policy. A zero field is "not set". */
struct keep_policy {
	int set;    /* any rule given */
	int last, hourly, daily, weekly, monthly, yearly;
	int64_t within; /* seconds; 0 = not set */
};

struct remote_cfg {
	char *name;
	char *url;
	char *ssh_key;             /* private key file; NULL = ssh-agent */
	char *ssh_pubkey;          /* optional; default ssh_key + ".pub" when present */
	char *passphrase_env;      /* name of an env var holding the key passphrase */
	char *passphrase_file;     /* file holding the key passphrase */
	char *known_hosts;         /* default ~/.ssh/known_hosts */
	char *host_key_policy;     /* "strict" (default) or "accept-new" */
	int timeout;               /* seconds for connect and each transfer step */
	int retries;               /* push attempts before giving up */
	size_t max_push_size;      /* bytes one push may send; a bigger one goes in steps */
};

struct job_cfg {
	char *name;
	char *engine; /* "sqlite", ... */
	char *branch; /* default backup/<name> */
	/* sqlite */
	char *path;
	char *format; /* "sql" (default), "binary", "both" */
	char **exclude_tables;
	size_t n_exclude;
	/* Tables whose schema is kept but whose rows are left out (sessions,
	 * caches): the restored database has them, empty. */
	char **exclude_table_data;
	size_t n_exclude_data;
	int busy_timeout_ms;
	char *verify; /* "full" (default) or "none" */
	/* server engines */
	char *host;
	int port;
	char *socket;
	char *database;
	char *user;
	char *password_file;
	char *command; /* engine = "command" */
	/* engine = "mongodb" */
	char *uri;            /* mongodb:// URI without a password */
	char *auth_database;  /* --authenticationDatabase */
	char **exclude_collections;
	size_t n_exclude_coll;
	char **options;
	size_t n_options;
	struct keep_policy keep; /* job override; .set == 0 means use default */
	size_t max_blob_size;    /* bytes */
	/* Shrink guard: a snapshot with fewer rows than (1 - shrink_limit)
	 * of the previous one, in total or in one table, is committed but
	 * fails the run. 0 = not set here ([defaults], else 0.5). */
	double shrink_limit;
	int allow_shrink; /* an intended purge: no guard */
	int allow_empty;  /* engine "command": an empty dump is a good one */
	/* Not from the config: `restore --table` sets these to restore only
	 * those tables (engines that can; others refuse). */
	char *const *only_tables;
	size_t n_only;
};

#define SHRINK_DEFAULT_LIMIT 0.5

#define HOOKS_DEFAULT_TIMEOUT 300

struct config {
	char *file; /* where it was read from */
	char *repo_path;
	/* [repository] key_file: encryption at rest (crypt.h); NULL = off */
	char *key_file;
	char *author_name;
	char *author_email;
	size_t max_blob_size; /* bytes; default 48 MiB */
	struct keep_policy keep;
	char *hooks_dir;
	int hooks_timeout; /* seconds a hook may run; default HOOKS_DEFAULT_TIMEOUT */
	double shrink_limit;    /* [defaults] shrink_limit; 0 = SHRINK_DEFAULT_LIMIT */
	char *metrics_textfile; /* [metrics] textfile: written after every backup run */
	/* [verify] sample: after each committed snapshot, restore-test this
	 * many random older ones of the job (bit rot found while good copies
	 * still exist); 0 = off. */
	int verify_sample;
	struct remote_cfg *remotes;
	size_t n_remotes;
	struct job_cfg *jobs;
	size_t n_jobs;
};

/* Finds the file (explicit, $DBGIT_CONFIG, ./dbgit.toml,
 * /etc/dbgit/dbgit.toml) and loads it. */
int config_load(struct config **out, const char *explicit_path);
int config_load_file(struct config **out, const char *path);
/* Parses TOML text (for unit tests); file is used in messages. */
int config_parse(struct config **out, const char *file, const char *text);
void config_free(struct config *cfg);

const struct job_cfg *config_job(const struct config *cfg, const char *name);
/* The job's effective retention policy. */
const struct keep_policy *config_job_keep(const struct config *cfg, const struct job_cfg *job);

/* Implemented in C++ (config_toml.cpp): TOML text -> plain cJSON tree.
 * Every table also carries a member named CONFIG_POS_KEY, an object that maps
 * each of its keys to [line, column], so validation can point at the line.
 * On a syntax error returns NULL and writes "line L, column C: what" into
 * err (size errlen). */
#define CONFIG_POS_KEY "\x01pos"
struct cJSON *config_toml_parse(const char *text, size_t len, char *err, size_t errlen);

#endif
