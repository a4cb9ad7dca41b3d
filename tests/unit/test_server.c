/*
 * test_server: what the server engines share (src/engine/server.c). Folder
 * names keep the safe bytes and %XX the rest, so two names never meet;
 * scratch database names fit both servers' limits and only a path makes
 * one; the keyed merge of diff --stat counts added, removed and changed
 * rows exactly (a side may be absent); the schema diff names what came,
 * went and changed; the tool picked is the first one in PATH.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/engine/server.h"
#include "check.h"

static void test_names(void)
{
	char *a = server_sanitize("odd `name \"x\"/..");
	CHECK(!strcmp(a, "odd%20%60name%20%22x%22%2F.."), "sanitize: %s", a);
	char *b = server_sanitize(".hidden");
	CHECK(!strcmp(b, "%2Ehidden"), "a leading dot: %s", b);
	char *c = server_sanitize("");
	CHECK(!strcmp(c, "%"), "empty: %s", c);
	free(a), free(b), free(c);

	struct job_cfg job;
	memset(&job, 0, sizeof(job));
	job.name = "A-very.long_job-name-that-goes-on-and-on";
	char *s = server_scratch_name(&job, "/tmp/x/verify.db");
	CHECK(strlen(s) <= 63, "scratch name too long: %s", s);
	CHECK(!strncmp(s, "dbgit_a_very_long_job_name_th", 29), "scratch name: %s", s);
	for (const char *p = s; *p; p++)
		CHECK((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_', "byte %c in %s", *p, s);
	char *u = server_scratch_name(&job, "userdb");
	CHECK(!strcmp(u, "userdb"), "a database name stays: %s", u);
	free(s), free(u);

	job.exclude_tables = (char *[]){"t1", "s.t2"};
	job.n_exclude = 2;
	CHECK(server_excluded(&job, "t1", 0), "exact name");
	CHECK(!server_excluded(&job, "x.t1", 0), "unqualified engine: no schema part");
	CHECK(server_excluded(&job, "x.t1", 1), "qualified: the bare name matches");
	CHECK(server_excluded(&job, "s.t2", 1), "qualified: the full name matches");
}

struct side {
	const char *const *lines;
	size_t i;
};

static int next(void *p, struct buf *line, int *have)
{
	struct side *s = p;
	buf_clear(line);
	*have = s->lines[s->i] != NULL;
	if (*have)
		buf_puts(line, s->lines[s->i++]);
	return 0;
}

static const cJSON *find(const cJSON *tables, const char *name)
{
	const cJSON *t;
	cJSON_ArrayForEach (t, tables)
		if (!strcmp(cJSON_GetObjectItem(t, "name")->valuestring, name))
			return t;
	return NULL;
}

static int num(const cJSON *t, const char *k)
{
	return t ? cJSON_GetObjectItem(t, k)->valueint : -1;
}

static void test_merge(void)
{
	static const char *const old[] = {"41\tx", "4142\tz", "42\ty", "43\tq", NULL};
	static const char *const new[] = {"40\tn", "41\tx", "4142\tZ", "43\tq", "44\tm", NULL};
	static const char *const same[] = {"41\tx", NULL};
	cJSON *tables = cJSON_CreateArray();
	struct side a = {old, 0}, b = {new, 0};
	CHECK(server_compare_keyed(next, &a, &b, "t", tables) == 0, "merge");
	const cJSON *t = find(tables, "t");
	CHECK(num(t, "added") == 2 && num(t, "removed") == 1 && num(t, "changed") == 1, "t: +%d -%d ~%d",
	      num(t, "added"), num(t, "removed"), num(t, "changed"));
	struct side c = {old, 0};
	server_compare_keyed(next, &c, NULL, "gone", tables);
	CHECK(num(find(tables, "gone"), "removed") == 4, "a table gone: every row removed");
	struct side d = {new, 0};
	server_compare_keyed(next, NULL, &d, "new", tables);
	CHECK(num(find(tables, "new"), "added") == 5, "a new table: every row added");
	struct side e = {same, 0}, f = {same, 0};
	server_compare_keyed(next, &e, &f, "same", tables);
	CHECK(!find(tables, "same"), "an unchanged table is not listed");
	cJSON_Delete(tables);

	cJSON *sa = cJSON_CreateArray(), *sb = cJSON_CreateArray(), *out = cJSON_CreateArray();
	server_add_schema(sa, "table", "t", "t", "a", 1);
	server_add_schema(sa, "view", "v", "v", "b", 1);
	server_add_schema(sb, "table", "t", "t", "A", 1);
	server_add_schema(sb, "trigger", "t", "t", "c", 1);
	server_schema_diff(sa, sb, out);
	char *j = cJSON_PrintUnformatted(out);
	CHECK(!strcmp(j, "[\"~ table t\",\"- view v\",\"+ trigger t\"]"), "schema diff: %s", j);
	free(j);
	cJSON_Delete(sa), cJSON_Delete(sb), cJSON_Delete(out);
}

static void test_pick(void)
{
	char dir[] = "/tmp/test_server.XXXXXX";
	if (!mkdtemp(dir))
		exit(2);
	char *tool = xasprintf("%s/second", dir);
	FILE *f = fopen(tool, "w");
	fclose(f);
	chmod(tool, 0755);
	char *old = getenv("PATH") ? xstrdup(getenv("PATH")) : NULL;
	setenv("PATH", dir, 1);
	const char *const names[] = {"first", "second", NULL};
	CHECK(!strcmp(server_pick_tool(names), "second"), "the one that exists");
	const char *const none[] = {"first", "third", NULL};
	CHECK(!strcmp(server_pick_tool(none), "first"), "none: the first, for the error");
	if (old)
		setenv("PATH", old, 1);
	free(old);
	unlink(tool);
	rmdir(dir);
	free(tool);
}

int main(void)
{
	test_names();
	test_merge();
	test_pick();
	return CHECK_DONE();
}
