/*
 * Unit tests for config_parse: dbgit.toml as a user writes it. A good file
 * yields every value; a bad one yields ERR_USAGE (exit 2 in the commands)
 * and one line that names the file, the line and the key at fault, so the
 * user can fix it without guessing. Run under LeakSanitizer, the error
 * paths also show they free what they built.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbgit/config.h"
#include "dbgit/engine.h"
#include "dbgit/util.h"

#include "check.h"

static int streq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

/* The DESIGN example, less the postgres job (tested on its own below),
 * plus the keys the example leaves out. Line numbers matter to the error
 * cases that edit it. */
static const char good[] = "[repository]\n"					       /* 1 */
			   "path = \"/var/lib/dbgit/backups.git\"\n"		       /* 2 */
			   "author = \"dbgit <backup@example.org>\"\n"		       /* 3 */
			   "max_blob_size = \"32M\"\n"				       /* 4 */
			   "\n"							       /* 5 */
			   "[[remote]]\n"					       /* 6 */
			   "name = \"github\"\n"				       /* 7 */
			   "url = \"git@github.com:example/db-backups.git\"\n"	       /* 8 */
			   "ssh_key = \"/etc/dbgit/id_ed25519\"\n"		       /* 9 */
			   "known_hosts = \"/etc/dbgit/known_hosts\"   # comment\n"    /* 10 */
			   "\n"							       /* 11 */
			   "[[remote]]\n"					       /* 12 */
			   "name = \"nas\"\n"					       /* 13 */
			   "url = \"file:///srv/nas/backups.git\"\n"		       /* 14 */
			   "\n"							       /* 15 */
			   "[keep]                 # default policy\n"		       /* 16 */
			   "last = 7\n"						       /* 17 */
			   "daily = 14\n"					       /* 18 */
			   "weekly = 8\n"					       /* 19 */
			   "monthly = 12\n"					       /* 20 */
			   "\n"							       /* 21 */
			   "[[job]]\n"						       /* 22 */
			   "name = \"app\"\n"					       /* 23 */
			   "engine = \"sqlite\"\n"				       /* 24 */
			   "path = \"/srv/app/app.db\"\n"			       /* 25 */
			   "format = \"sql\"\n"					       /* 26 */
			   "exclude_tables = [\"django_session\", \"cache\"]\n"	       /* 27 */
			   "\n"							       /* 28 */
			   "[[job]]\n"						       /* 29 */
			   "name = \"metrics\"\n"				       /* 30 */
			   "engine = \"sqlite\"\n"				       /* 31 */
			   "path = \"/srv/metrics.db\"\n"			       /* 32 */
			   "format = \"both\"\n"				       /* 33 */
			   "busy_timeout = 200\n"				       /* 34 */
			   "verify = \"none\"\n"				       /* 35 */
			   "branch = \"snapshots/metrics\"\n"			       /* 36 */
			   "max_blob_size = 65536\n"				       /* 37 */
			   "[job.keep]\n"					       /* 38 */
			   "last = 3\n"						       /* 39 */
			   "within = \"30d\"\n"					       /* 40 */
			   "\n"							       /* 41 */
			   "[hooks]\n"						       /* 42 */
			   "dir = \"/etc/dbgit/hooks\"   # pre-backup, post-backup\n"; /* 43 */

static void test_good(void)
{
	struct config *cfg = NULL;
	err_clear();
	int rc = config_parse(&cfg, "dbgit.toml", good);
	CHECK(rc == 0 && cfg, "the example config does not parse: %s", err_last());
	if (!cfg)
		return;
	CHECK(streq(cfg->file, "dbgit.toml"), "file %s", cfg->file);
	CHECK(streq(cfg->repo_path, "/var/lib/dbgit/backups.git"), "repository.path %s", cfg->repo_path);
	CHECK(streq(cfg->author_name, "dbgit") && streq(cfg->author_email, "backup@example.org"),
	      "author split into '%s' '%s'", cfg->author_name, cfg->author_email);
	CHECK(cfg->max_blob_size == 32u * 1024 * 1024, "max_blob_size \"32M\" = %zu", cfg->max_blob_size);

	CHECK(cfg->n_remotes == 2, "%zu remotes", cfg->n_remotes);
	if (cfg->n_remotes == 2) {
		const struct remote_cfg *r = &cfg->remotes[0];
		CHECK(streq(r->name, "github") && streq(r->url, "git@github.com:example/db-backups.git"),
		      "remote 0 %s %s", r->name, r->url);
		CHECK(streq(r->ssh_key, "/etc/dbgit/id_ed25519"), "ssh_key %s", r->ssh_key);
		CHECK(streq(r->known_hosts, "/etc/dbgit/known_hosts"), "known_hosts %s", r->known_hosts);
		CHECK(streq(r->host_key_policy, "strict"), "default host_key_policy %s", r->host_key_policy);
		r = &cfg->remotes[1];
		CHECK(streq(r->name, "nas") && !r->ssh_key, "remote 1 %s", r->name);
		/* Documented default: ~/.ssh/known_hosts. */
		const char *home = getenv("HOME");
		char want[512];
		snprintf(want, sizeof(want), "%s/.ssh/known_hosts", home ? home : "");
		CHECK(streq(r->known_hosts, want), "default known_hosts %s, want %s", r->known_hosts, want);
	}

	CHECK(cfg->keep.set && cfg->keep.last == 7 && cfg->keep.daily == 14 && cfg->keep.weekly == 8 &&
		  cfg->keep.monthly == 12 && !cfg->keep.hourly && !cfg->keep.yearly && !cfg->keep.within,
	      "[keep] %d %d %d %d", cfg->keep.last, cfg->keep.daily, cfg->keep.weekly, cfg->keep.monthly);
	CHECK(streq(cfg->hooks_dir, "/etc/dbgit/hooks"), "hooks dir %s", cfg->hooks_dir);

	CHECK(cfg->n_jobs == 2, "%zu jobs", cfg->n_jobs);
	const struct job_cfg *app = config_job(cfg, "app");
	const struct job_cfg *met = config_job(cfg, "metrics");
	CHECK(app && met && !config_job(cfg, "billing"), "config_job lookups");
	if (app) {
		CHECK(streq(app->engine, "sqlite") && streq(app->path, "/srv/app/app.db"), "app %s %s",
		      app->engine, app->path);
		CHECK(streq(app->format, "sql"), "app format %s", app->format);
		CHECK(app->n_exclude == 2 && streq(app->exclude_tables[0], "django_session") &&
			  streq(app->exclude_tables[1], "cache"),
		      "exclude_tables (%zu)", app->n_exclude);
		/* Defaults a user relies on without writing them. */
		CHECK(streq(app->branch, "backup/app"), "default branch %s", app->branch);
		CHECK(streq(app->verify, "full"), "default verify %s", app->verify);
		CHECK(app->busy_timeout_ms > 0, "default busy_timeout %d", app->busy_timeout_ms);
		CHECK(app->max_blob_size == 32u * 1024 * 1024, "job inherits max_blob_size: %zu",
		      app->max_blob_size);
		CHECK(config_job_keep(cfg, app) == &cfg->keep, "app uses the default [keep]");
	}
	if (met) {
		CHECK(streq(met->format, "both") && streq(met->verify, "none") && met->busy_timeout_ms == 200,
		      "metrics %s %s %d", met->format, met->verify, met->busy_timeout_ms);
		CHECK(streq(met->branch, "snapshots/metrics"), "branch %s", met->branch);
		CHECK(met->max_blob_size == 65536, "job max_blob_size %zu", met->max_blob_size);
		const struct keep_policy *k = config_job_keep(cfg, met);
		CHECK(k == &met->keep && k->last == 3 && k->within == 30 * 86400 && !k->daily,
		      "[job.keep] override: last %d within %lld", k->last, (long long)k->within);
	}
	config_free(cfg);

	/* Minimal: repository path only. */
	err_clear();
	rc = config_parse(&cfg, "min.toml", "[repository]\npath = \"/r.git\"\n");
	CHECK(rc == 0 && cfg && cfg->n_jobs == 0 && cfg->max_blob_size == 48u * 1024 * 1024 &&
		  !cfg->keep.set && cfg->author_name && cfg->author_email,
	      "minimal config: %s", rc ? err_last() : "defaults wrong");
	config_free(cfg);
}

/* The DESIGN example's postgres job: parses once the engine exists; until
 * then it is refused with a message naming the engine and its line. */
static void test_postgres_job(void)
{
	static const char text[] = "[repository]\n"
				   "path = \"/r.git\"\n"
				   "[[job]]\n"
				   "name = \"billing\"\n"
				   "engine = \"postgres\"\n"
				   "host = \"127.0.0.1\"\n"
				   "database = \"billing\"\n"
				   "user = \"backup\"\n"
				   "password_file = \"/etc/dbgit/billing.pass\"\n";
	struct config *cfg = NULL;
	err_clear();
	int rc = config_parse(&cfg, "pg.toml", text);
	if (engine_find("postgres")) {
		const struct job_cfg *j = cfg ? config_job(cfg, "billing") : NULL;
		CHECK(rc == 0 && j && streq(j->host, "127.0.0.1") && streq(j->database, "billing") &&
			  streq(j->user, "backup") && streq(j->password_file, "/etc/dbgit/billing.pass"),
		      "postgres job: %s", rc ? err_last() : "values wrong");
	} else {
		CHECK(rc == ERR_USAGE && strstr(err_last(), "pg.toml:5:") && strstr(err_last(), "postgres"),
		      "unknown engine message: %s", err_last());
	}
	config_free(cfg);
}

/* Parses text, which must fail with ERR_USAGE and a message holding every
 * one of the NULL-terminated fragments. */
static void expect_bad(const char *what, const char *text, ...)
{
	struct config *cfg = NULL;
	err_clear();
	int rc = config_parse(&cfg, "bad.toml", text);
	CHECK(rc == ERR_USAGE && err_code() == ERR_USAGE && cfg == NULL,
	      "%s: rc %d, err_code %d, cfg %p (%s)", what, rc, err_code(), (void *)cfg, err_last());
	const char *msg = err_last();
	CHECK(!strchr(msg, '\n'), "%s: message spans lines: %s", what, msg);
	CHECK(!strncmp(msg, "bad.toml", 8), "%s: message does not start with the file: %s", what, msg);
	va_list ap;
	va_start(ap, text);
	const char *frag;
	while ((frag = va_arg(ap, const char *)))
		CHECK(strstr(msg, frag) != NULL, "%s: message lacks '%s': %s", what, frag, msg);
	va_end(ap);
	config_free(cfg);
}

/* good with line number `line` (1-based) replaced by repl ("" drops it). */
static char *edit_line(int line, const char *repl)
{
	struct buf b = BUF_INIT;
	const char *p = good;
	for (int n = 1; *p; n++) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
		if (n == line) {
			buf_puts(&b, repl);
			if (*repl)
				buf_puts(&b, "\n");
		} else {
			buf_add(&b, p, len);
		}
		p += len;
	}
	return b.data;
}

static void expect_bad_edit(const char *what, int line, const char *repl, const char *frag1,
			    const char *frag2)
{
	char *text = edit_line(line, repl);
	expect_bad(what, text, frag1, frag2, (const char *)NULL);
	free(text);
}

static void test_bad(void)
{
	/* Syntax: the parser's line and column. */
	expect_bad("unclosed table header", "[repository]\npath = \"/r.git\"\n\n[[job]\nname = \"a\"\n",
		   "line 4", "column", (const char *)NULL);
	expect_bad("unterminated string", "[repository]\npath = \"/r.git\nauthor = \"x\"\n", "line 2",
		   (const char *)NULL);
	expect_bad("duplicate key", "[repository]\npath = \"/a\"\npath = \"/b\"\n", "line 3",
		   (const char *)NULL);

	/* Unknown keys: the key and its line. */
	expect_bad_edit("typo in a job key", 25, "pth = \"/srv/app/app.db\"", "bad.toml:25:", "'pth'");
	expect_bad_edit("unknown key in [repository]", 4, "max_blob = \"32M\"", "bad.toml:4:", "'max_blob'");
	expect_bad_edit("unknown key in [[remote]]", 9, "sshkey = \"/k\"", "bad.toml:9:", "'sshkey'");
	expect_bad_edit("unknown key in [keep]", 18, "dayly = 14", "bad.toml:18:", "'dayly'");
	expect_bad_edit("unknown key in [hooks]", 43, "directory = \"/h\"", "bad.toml:43:", "'directory'");
	expect_bad_edit("unknown section", 42, "[hook]", "bad.toml:42:", "'hook'");

	/* Wrong types. */
	expect_bad_edit("busy_timeout as a string", 34, "busy_timeout = \"fast\"",
			"bad.toml:34:", "'busy_timeout'");
	expect_bad_edit("negative busy_timeout", 34, "busy_timeout = -5", "bad.toml:34:", "'busy_timeout'");
	expect_bad_edit("path as a number", 25, "path = 42", "bad.toml:25:", "'path'");
	expect_bad_edit("exclude_tables as a string", 27, "exclude_tables = \"django_session\"",
			"bad.toml:27:", "'exclude_tables'");
	expect_bad_edit("exclude_tables with a number", 27, "exclude_tables = [\"a\", 2]",
			"bad.toml:27:", "'exclude_tables'");
	expect_bad_edit("keep.last as a float", 17, "last = 7.5", "bad.toml:17:", "'last'");
	expect_bad_edit("bad size", 4, "max_blob_size = \"32X\"", "bad.toml:4:", "'max_blob_size'");
	expect_bad_edit("zero size", 37, "max_blob_size = 0", "bad.toml:37:", "'max_blob_size'");
	expect_bad_edit("bad duration", 40, "within = \"thirty days\"", "bad.toml:40:", "'within'");
	expect_bad_edit("author without email", 3, "author = \"dbgit\"", "bad.toml:3:", "author");
	expect_bad_edit("[[job]] written [job]", 22, "[job]", "job", NULL);

	/* Bad values. */
	expect_bad_edit("format csv", 26, "format = \"csv\"", "bad.toml:26:", "csv");
	expect_bad_edit("verify maybe", 35, "verify = \"maybe\"", "bad.toml:35:", "maybe");
	expect_bad_edit("unknown engine", 24, "engine = \"oracle\"", "bad.toml:24:", "oracle");
	expect_bad_edit("job name with a slash", 23, "name = \"a/b\"", "bad.toml:23:", "a/b");
	expect_bad_edit("host_key_policy", 10, "host_key_policy = \"yolo\"",
			"bad.toml:10:", "host_key_policy");

	/* Missing required keys: the key and where it is missing. */
	expect_bad_edit("repository without path", 2, "", "'path'", "[repository]");
	expect_bad("no [repository]", "[[job]]\nname = \"a\"\nengine = \"sqlite\"\npath = \"/a.db\"\n",
		   "[repository]", (const char *)NULL);
	expect_bad_edit("job without name", 23, "", "'name'", "[[job]]");
	expect_bad_edit("job without engine", 24, "", "'engine'", "\"app\"");
	expect_bad_edit("sqlite job without path", 25, "", "'path'", "\"app\"");
	expect_bad_edit("remote without url", 8, "", "'url'", "github");

	/* Duplicates. */
	expect_bad_edit("duplicate job name", 30, "name = \"app\"", "bad.toml:30:", "'app'");
	expect_bad_edit("duplicate remote name", 13, "name = \"github\"", "bad.toml:13:", "'github'");
	expect_bad_edit("two jobs one branch", 36, "branch = \"backup/app\"", "backup/app", "metrics");

	/* A retention policy that keeps nothing would delete every snapshot. */
	expect_bad("[keep] with zeros", "[repository]\npath = \"/r\"\n[keep]\nlast = 0\ndaily = 0\n",
		   "[keep]", "keeps nothing", (const char *)NULL);
	expect_bad("empty [keep]", "[repository]\npath = \"/r\"\n[keep]\n", "[keep]", "keeps nothing",
		   (const char *)NULL);
	char *text = edit_line(40, "");
	char *zero = strstr(text, "last = 3");
	zero[7] = '0';
	expect_bad("[job.keep] keeping nothing", text, "keeps nothing", "metrics", (const char *)NULL);
	free(text);
}

static void test_load_file(void)
{
	struct config *cfg = NULL;
	err_clear();
	int rc = config_load_file(&cfg, "/nonexistent/dbgit.toml");
	CHECK(rc == ERR_USAGE && cfg == NULL &&
		  strstr(err_last(), "cannot read config /nonexistent/dbgit.toml: No such file"),
	      "missing config file: rc %d: %s", rc, err_last());
	config_free(cfg);
}

/* Relative paths are relative to the config file, not to the directory
 * cron starts in; busy_timeout = 0 means "do not wait", not the default. */
static void test_relative_paths(void)
{
	struct config *cfg = NULL;
	const char *text = "[repository]\npath = \"backups.git\"\n"
			   "[hooks]\ndir = \"hooks\"\n"
			   "[[remote]]\nname = \"nas\"\nurl = \"/mnt/nas/db.git\"\nssh_key = \"keys/id\"\n"
			   "known_hosts = \"../kh\"\n"
			   "[[job]]\nname = \"app\"\nengine = \"sqlite\"\npath = \"data/app.db\"\n"
			   "busy_timeout = 0\n";
	int rc = config_parse(&cfg, "/etc/dbgit/dbgit.toml", text);
	CHECK(rc == 0 && cfg, "relative paths config: %s", err_last());
	if (!cfg)
		return;
	CHECK(streq(cfg->repo_path, "/etc/dbgit/backups.git"), "repository.path %s", cfg->repo_path);
	CHECK(streq(cfg->hooks_dir, "/etc/dbgit/hooks"), "hooks.dir %s", cfg->hooks_dir);
	CHECK(streq(cfg->remotes[0].ssh_key, "/etc/dbgit/keys/id"), "ssh_key %s", cfg->remotes[0].ssh_key);
	CHECK(streq(cfg->remotes[0].known_hosts, "/etc/dbgit/../kh"), "known_hosts %s",
	      cfg->remotes[0].known_hosts);
	CHECK(streq(cfg->remotes[0].url, "/mnt/nas/db.git"), "url untouched %s", cfg->remotes[0].url);
	CHECK(streq(cfg->jobs[0].path, "/etc/dbgit/data/app.db"), "job path %s", cfg->jobs[0].path);
	CHECK(cfg->jobs[0].busy_timeout_ms == 0, "busy_timeout = 0 kept: %d", cfg->jobs[0].busy_timeout_ms);
	config_free(cfg);
}

/* "~" in a path means a home directory, as in a shell, not a folder named
 * "~" beside the config file: "~" and "~/x" are $HOME, "~user/x" that
 * user's home; an unknown user is a configuration error naming the key. */
static void test_home_paths(void)
{
	const char *saved = getenv("HOME");
	char *old_home = saved ? xstrdup(saved) : NULL;
	setenv("HOME", "/home/tester", 1);
	struct config *cfg = NULL;
	const char *text = "[repository]\npath = \"~/backups.git\"\n"
			   "[hooks]\ndir = \"~\"\n"
			   "[[remote]]\nname = \"nas\"\nurl = \"/mnt/nas/db.git\"\nssh_key = \"~root/.ssh/id\"\n"
			   "known_hosts = \"~root\"\n"
			   "[[job]]\nname = \"app\"\nengine = \"sqlite\"\npath = \"~/data/app.db\"\n"
			   "[[job]]\nname = \"tilde\"\nengine = \"sqlite\"\npath = \"data/~app.db\"\n";
	int rc = config_parse(&cfg, "/etc/dbgit/dbgit.toml", text);
	CHECK(rc == 0 && cfg, "~ config: %s", err_last());
	const struct passwd *root = getpwnam("root");
	if (cfg && root) {
		char *want = xasprintf("%s/.ssh/id", strcmp(root->pw_dir, "/") ? root->pw_dir : "");
		CHECK(streq(cfg->repo_path, "/home/tester/backups.git"), "~/backups.git: %s", cfg->repo_path);
		CHECK(streq(cfg->hooks_dir, "/home/tester"), "~: %s", cfg->hooks_dir);
		CHECK(streq(cfg->jobs[0].path, "/home/tester/data/app.db"), "~/data/app.db: %s", cfg->jobs[0].path);
		CHECK(streq(cfg->remotes[0].ssh_key, want), "~root/.ssh/id: %s, want %s", cfg->remotes[0].ssh_key,
		      want);
		CHECK(streq(cfg->remotes[0].known_hosts, root->pw_dir), "~root: %s", cfg->remotes[0].known_hosts);
		/* Only a leading ~ is a home. */
		CHECK(streq(cfg->jobs[1].path, "/etc/dbgit/data/~app.db"), "data/~app.db: %s", cfg->jobs[1].path);
		free(want);
	}
	config_free(cfg);

	/* A home of "/" gives "/x", not "//x". */
	setenv("HOME", "/", 1);
	cfg = NULL;
	rc = config_parse(&cfg, "h.toml", "[repository]\npath = \"~/r.git\"\n");
	CHECK(rc == 0 && cfg && streq(cfg->repo_path, "/r.git"), "HOME=/: %s", cfg ? cfg->repo_path : err_last());
	config_free(cfg);

	expect_bad("~ of an unknown user",
		   "[repository]\npath = \"/r.git\"\n"
		   "[[job]]\nname = \"app\"\nengine = \"sqlite\"\npath = \"~no-such-user-dbgit/app.db\"\n",
		   "[[job]] \"app\"", "'~no-such-user-dbgit/app.db'", "no user 'no-such-user-dbgit'", NULL);

	if (old_home)
		setenv("HOME", old_home, 1);
	else
		unsetenv("HOME");
	free(old_home);
}

/* Job and branch names git would refuse are configuration errors (exit 2),
 * not a failure of every nightly backup. */
static void test_branch_names(void)
{
	static const char *const bad_jobs[] = {"a..b", "x.lock", "a.", NULL};
	for (int i = 0; bad_jobs[i]; i++) {
		struct config *cfg = NULL;
		char text[512];
		snprintf(text, sizeof(text),
			 "[repository]\npath = \"/r.git\"\n[[job]]\nname = \"%s\"\nengine = \"sqlite\"\n"
			 "path = \"/a.db\"\n",
			 bad_jobs[i]);
		err_clear();
		int rc = config_parse(&cfg, "n.toml", text);
		CHECK(rc == ERR_USAGE && strstr(err_last(), "n.toml:4:") && strstr(err_last(), bad_jobs[i]),
		      "job name '%s': %s", bad_jobs[i], err_last());
		config_free(cfg);
	}
	static const char *const bad_branches[] = {"has space", "a~1", "a:b", "x/.hidden", "end/", "a..b", "q?", NULL};
	for (int i = 0; bad_branches[i]; i++) {
		struct config *cfg = NULL;
		char text[512];
		snprintf(text, sizeof(text),
			 "[repository]\npath = \"/r.git\"\n[[job]]\nname = \"a\"\nengine = \"sqlite\"\n"
			 "path = \"/a.db\"\nbranch = \"%s\"\n",
			 bad_branches[i]);
		err_clear();
		int rc = config_parse(&cfg, "n.toml", text);
		CHECK(rc == ERR_USAGE && strstr(err_last(), "n.toml:7:") && strstr(err_last(), "not a valid git branch"),
		      "branch '%s': %s", bad_branches[i], err_last());
		config_free(cfg);
	}
	struct config *cfg = NULL;
	err_clear();
	int rc = config_parse(&cfg, "n.toml",
			      "[repository]\npath = \"/r.git\"\n"
			      "[[job]]\nname = \"a\"\nengine = \"sqlite\"\npath = \"/a.db\"\n"
			      "[[job]]\nname = \"b\"\nengine = \"sqlite\"\npath = \"/b.db\"\nbranch = \"backup/a/b\"\n");
	CHECK(rc == ERR_USAGE && strstr(err_last(), "clashing branches 'backup/a' and 'backup/a/b'"),
	      "nested branches: %s", err_last());
	config_free(cfg);
	cfg = NULL;
	err_clear();
	rc = config_parse(&cfg, "n.toml",
			  "[repository]\npath = \"/r.git\"\n"
			  "[[job]]\nname = \"a\"\nengine = \"sqlite\"\npath = \"/a.db\"\nbranch = \"backups/prod-db_1.x\"\n");
	CHECK(rc == 0, "a good branch name is refused: %s", err_last());
	config_free(cfg);
}

int main(void)
{
	test_good();
	test_postgres_job();
	test_bad();
	test_load_file();
	test_relative_paths();
	test_home_paths();
	test_branch_names();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
