/*
 * Unit tests for the shrink guard (cycle_shrink_check) and its
 * configuration keys (shrink_limit, allow_shrink, [defaults], [metrics]).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dbgit/config.h"
#include "dbgit/cycle.h"
#include "dbgit/manifest.h"
#include "dbgit/util.h"

/* A manifest with tables t0.. of the given row counts. */
static void fake(struct manifest *m, const int64_t *rows, size_t n)
{
	memset(m, 0, sizeof(*m));
	m->tables = calloc(n, sizeof(*m->tables));
	m->n_tables = n;
	for (size_t i = 0; i < n; i++) {
		m->tables[i].name = xasprintf("t%zu", i);
		m->tables[i].rows = rows[i];
	}
}

static int trips(const struct job_cfg *job, const int64_t *was, const int64_t *now, size_t n, char *line)
{
	struct manifest a, b;
	fake(&a, was, n);
	fake(&b, now, n);
	int r = cycle_shrink_check(job, &a, &b, line, 400);
	manifest_free(&a);
	manifest_free(&b);
	return r;
}

static void test_guard(void)
{
	struct job_cfg job = {.name = "app", .shrink_limit = 0.5};
	char line[400];
	const int64_t was[] = {1000, 200, 5};
	const int64_t ten[] = {900, 200, 5}, ninety[] = {100, 200, 5}, tiny[] = {1000, 200, 0};
	CHECK(!trips(&job, was, ten, 3, line) && !line[0], "10%% lost trips: %s", line);
	CHECK(trips(&job, was, ninety, 3, line), "90%% lost does not trip");
	CHECK(strstr(line, "table 't0' fell from 1000 to 100 rows (-90%)") != NULL, "line: %s", line);
	CHECK(strstr(line, "shrink limit of 50%") != NULL, "line: %s", line);
	CHECK(!trips(&job, was, tiny, 3, line), "5 rows lost trips: %s", line);

	job.shrink_limit = 0.95;
	CHECK(!trips(&job, was, ninety, 3, line), "90%% lost trips a 95%% limit: %s", line);
	job.shrink_limit = 0.5;
	job.allow_shrink = 1;
	CHECK(!trips(&job, was, ninety, 3, line), "allow_shrink still trips: %s", line);
	job.allow_shrink = 0;

	/* A table that is gone lost all its rows - unless it is excluded now. */
	struct manifest a, b;
	const int64_t two[] = {1000, 500};
	fake(&a, two, 2);
	fake(&b, two, 1);
	CHECK(cycle_shrink_check(&job, &a, &b, line, sizeof(line)) &&
		      strstr(line, "table 't1' fell from 500 to 0 rows") != NULL,
	      "a dropped table: %s", line);
	char *excl[] = {"t1"};
	job.exclude_tables = excl;
	job.n_exclude = 1;
	CHECK(!cycle_shrink_check(&job, &a, &b, line, sizeof(line)), "an excluded table trips: %s", line);
	job.n_exclude = 0;
	CHECK(!cycle_shrink_check(&job, NULL, &b, line, sizeof(line)), "no previous snapshot trips");
	manifest_free(&a);
	manifest_free(&b);
}

static void test_config(void)
{
	const char *text = "[repository]\npath = \"/r.git\"\n"
			   "[defaults]\nshrink_limit = 0.8\n"
			   "[metrics]\ntextfile = \"/var/lib/node_exporter/dbgit.prom\"\n"
			   "[[job]]\nname = \"a\"\nengine = \"sqlite\"\npath = \"/a.db\"\n"
			   "[[job]]\nname = \"b\"\nengine = \"sqlite\"\npath = \"/b.db\"\nshrink_limit = 0.25\n"
			   "allow_shrink = true\n";
	struct config *cfg = NULL;
	int rc = config_parse(&cfg, "dbgit.toml", text);
	CHECK(rc == 0, "config: %s", err_last());
	if (rc == 0) {
		CHECK(cfg->jobs[0].shrink_limit == 0.8 && !cfg->jobs[0].allow_shrink, "[defaults] shrink_limit %g",
		      cfg->jobs[0].shrink_limit);
		CHECK(cfg->jobs[1].shrink_limit == 0.25 && cfg->jobs[1].allow_shrink, "job shrink_limit %g",
		      cfg->jobs[1].shrink_limit);
		CHECK(cfg->metrics_textfile && !strcmp(cfg->metrics_textfile, "/var/lib/node_exporter/dbgit.prom"),
		      "[metrics] textfile %s", cfg->metrics_textfile);
	}
	config_free(cfg);
	err_clear();
	rc = config_parse(&cfg, "dbgit.toml",
			  "[repository]\npath = \"/r.git\"\n[[job]]\nname = \"a\"\nengine = \"sqlite\"\n"
			  "path = \"/a.db\"\n");
	CHECK(rc == 0 && cfg->jobs[0].shrink_limit == SHRINK_DEFAULT_LIMIT, "default shrink_limit");
	config_free(cfg);
	const char *bad[] = {"shrink_limit = 0", "shrink_limit = 1.5", "shrink_limit = \"half\"",
			     "allow_shrink = 1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *t = xasprintf("[repository]\npath = \"/r.git\"\n[[job]]\nname = \"a\"\nengine = "
				    "\"sqlite\"\npath = \"/a.db\"\n%s\n",
				    bad[i]);
		err_clear();
		cfg = NULL;
		rc = config_parse(&cfg, "dbgit.toml", t);
		CHECK(rc == ERR_USAGE && strstr(err_last(), "dbgit.toml:7:") &&
			      strstr(err_last(), i < 3 ? "'shrink_limit'" : "'allow_shrink'"),
		      "%s: %d %s", bad[i], rc, err_last());
		config_free(cfg);
		free(t);
	}
}

int main(void)
{
	test_guard();
	test_config();
	return CHECK_DONE();
}
