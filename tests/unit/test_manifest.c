/*
 * Unit tests for the manifest module: today's MANIFEST.json parses into
 * the typed struct; every kind of hostile manifest is refused with a
 * one-line message naming the snapshot and the field; what the writer
 * writes, the reader reads back; the schema comparison names the object.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dbgit/engine.h"
#include "dbgit/manifest.h"
#include "dbgit/util.h"

#define WHAT "snapshot 1a2b3c4d5e6f: MANIFEST.json"
#define SUM  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define BLOB "c26888e063f3282ad09b8fd2ea218a1c112382b8"

/* A manifest of today's shape, as dbgit 0.1 wrote it. */
static const char *good =
    "{\"format_version\": 1, \"job\": \"app\", \"engine\": \"sqlite\", \"source\": \"/srv/app.db\",\n"
    " \"dbgit_version\": \"0.1.0\", \"started\": \"2026-11-21T23:20:13Z\",\n"
    " \"formats\": [\"sql\", \"binary\"],\n"
    " \"tables\": [{\"name\": \"orders\", \"rows\": 4, \"checksum\": \"" SUM "\"},\n"
    "            {\"name\": \"customers\", \"rows\": 9007199254740992, \"checksum\": \"" SUM "\"}],\n"
    " \"foreign_key_violations\": 0, \"user_version\": 42, \"application_id\": -5,\n"
    " \"sqlite_version\": \"3.40.1\",\n"
    " \"files\": [{\"path\": \"0-begin-000000.sql\", \"size\": 77, \"blob\": \"" BLOB "\"},\n"
    "           {\"path\": \"1-table/orders/1-rows-000000.sql\", \"size\": 10, \"blob\": \"" BLOB "\"}],\n"
    " \"size\": 87, \"new_blobs\": 2, \"finished\": \"2026-11-21T23:20:14Z\",\n"
    " \"verification\": {\"mode\": \"full\", \"result\": \"passed\"}}";

/* good with the first occurrence of from replaced by to. */
static char *variant(const char *from, const char *to)
{
	const char *at = strstr(good, from);
	if (!at) {
		fprintf(stderr, "test bug: %s not in the good manifest\n", from);
		exit(2);
	}
	return xasprintf("%.*s%s%s", (int)(at - good), good, to, at + strlen(from));
}

/* text must be refused with a message that contains want. */
static void refused(const char *label, const char *text, size_t len, const char *want)
{
	struct manifest m;
	err_clear();
	int rc = manifest_parse(&m, text, len, WHAT);
	CHECK(rc < 0, "%s: accepted", label);
	CHECK(strstr(err_last(), want) != NULL, "%s: message '%s' lacks '%s'", label, err_last(), want);
	CHECK(!strchr(err_last(), '\n'), "%s: message is not one line", label);
	CHECK(!strncmp(err_last(), WHAT, strlen(WHAT)), "%s: message '%s' does not name the snapshot", label,
	      err_last());
	manifest_free(&m);
}

static void refused_variant(const char *from, const char *to, const char *want)
{
	char *text = variant(from, to);
	refused(to, text, strlen(text), want);
	free(text);
}

static void test_good(void)
{
	struct manifest m;
	err_clear();
	int rc = manifest_parse(&m, good, strlen(good), WHAT);
	CHECK(rc == 0, "today's manifest refused: %s", err_last());
	if (rc < 0)
		return;
	CHECK(m.format_version == 1, "format_version");
	CHECK(!strcmp(m.job, "app") && !strcmp(m.engine, "sqlite"), "job, engine");
	CHECK(m.n_formats == 2 && !strcmp(m.formats[1], "binary"), "formats");
	CHECK(m.n_tables == 2 && m.tables[0].rows == 4, "tables");
	CHECK(m.tables[1].rows == 9007199254740992LL, "2^53 rows: %lld", (long long)m.tables[1].rows);
	CHECK(!strcmp(m.tables[0].checksum, SUM), "checksum");
	CHECK(m.n_files == 2 && m.files[1].size == 10 && !strcmp(m.files[1].blob, BLOB), "files");
	CHECK(m.size == 87 && m.new_blobs == 2, "size, new_blobs");
	CHECK(m.has_user_version && m.user_version == 42, "user_version");
	CHECK(m.has_application_id && m.application_id == -5, "application_id");
	CHECK(m.has_fk && m.foreign_key_violations == 0, "foreign_key_violations");
	CHECK(!m.has_schema && !m.has_exclusions, "older manifests have no schema nor exclusions");
	CHECK(!strcmp(m.verify_result, "passed") && !strcmp(m.verify_mode, "full"), "verification");
	CHECK(!strcmp(manifest_pick_format(&m, NULL), "binary"), "binary is restored by default");
	CHECK(!strcmp(manifest_pick_format(&m, "sql"), "sql"), "sql when asked");
	CHECK(manifest_pick_format(&m, "stream") == NULL, "no stream copy");
	CHECK(!strcmp(manifest_job_format(&m), "both"), "sql + binary = both");
	manifest_free(&m);
}

static void test_refused(void)
{
	refused("not JSON", "{\"format_version\": 1,", 21, "is not valid JSON");
	refused("empty", "", 0, "is not valid JSON");
	refused("an array", "[1, 2]", 6, "is not a JSON object");
	refused("a string", "\"MANIFEST\"", 10, "is not a JSON object");
	refused("null", "null", 4, "is not a JSON object");

	/* Wrong types, ranges. */
	refused_variant("\"rows\": 4", "\"rows\": \"4\"", "tables[0].rows is not a number");
	refused_variant("\"rows\": 4", "\"rows\": -1", "tables[0].rows is not a non-negative integer");
	refused_variant("\"rows\": 4", "\"rows\": 4.5", "tables[0].rows is not a non-negative integer");
	refused_variant("\"rows\": 4", "\"rows\": 1e300", "tables[0].rows is not a non-negative integer");
	refused_variant("\"rows\": 4", "\"rows\": 9007199254740994",
			"tables[0].rows is not a non-negative integer");
	refused_variant("\"rows\": 4", "\"rows\": null", "tables[0].rows is not a number");
	refused_variant("\"rows\": 9007199254740992", "\"rows\": true", "tables[1].rows is not a number");
	refused_variant("\"name\": \"orders\"", "\"name\": 3", "tables[0].name is not a string");
	refused_variant("\"name\": \"orders\"", "\"name\": \"a\\nb\"",
			"tables[0].name holds a control character");
	refused_variant("\"name\": \"customers\"", "\"name\": \"orders\"", "tables lists \"orders\" twice");
	refused_variant("\"tables\": [", "\"tables\": [17, ", "tables[0] is not an object");
	refused_variant("\"user_version\": 42", "\"user_version\": 4294967296",
			"user_version is not an integer in range");
	refused_variant("\"size\": 87", "\"size\": -87", "size is not a non-negative integer");
	refused_variant("\"size\": 77", "\"size\": 1e20", "files[0].size is not a non-negative integer");
	refused_variant("\"verification\": {", "\"verification\": 1, \"x\": {",
			"verification is not an object");
	refused_variant("\"job\": \"app\"", "\"job\": [\"app\"]", "job is not a string");

	/* Hex. */
	refused_variant("\"checksum\": \"" SUM "\"", "\"checksum\": \"xyz\"",
			"tables[0].checksum is not 64 lowercase hex digits");
	refused_variant("e3b0c442", "E3B0C442", "tables[0].checksum is not 64 lowercase hex digits");
	refused_variant("\"blob\": \"" BLOB "\"", "\"blob\": \"" BLOB "0\"",
			"files[0].blob is not 40 lowercase hex digits");
	refused_variant("\"blob\": \"" BLOB "\"", "\"blob\": 1",
			"files[0].blob is not 40 lowercase hex digits");

	/* Paths. */
	static const char *const paths[] = {"../x", "a/../b", "/etc/passwd", "a//b",	   "a/",
					    "",	    ".",      "./a",	     "a/\\u0001b", "a/.."};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		char *to = xasprintf("\"path\": \"%s\"", paths[i]);
		refused_variant("\"path\": \"0-begin-000000.sql\"", to,
				"files[0].path is not a relative path");
		free(to);
	}
	char *long_path = calloc(1, MANIFEST_MAX_PATH + 20);
	memset(long_path, 'a', MANIFEST_MAX_PATH + 1);
	char *to = xasprintf("\"path\": \"%s\"", long_path);
	refused_variant("\"path\": \"0-begin-000000.sql\"", to, "files[0].path is not a relative path");
	free(to);
	free(long_path);
	refused_variant("\"path\": \"1-table/orders/1-rows-000000.sql\"", "\"path\": \"0-begin-000000.sql\"",
			"files lists \"0-begin-000000.sql\" twice");

	/* Names this dbgit does not know. */
	refused_variant("\"formats\": [\"sql\", \"binary\"]", "\"formats\": [\"sql\", \"exe\"]",
			"formats[1] \"exe\" is not known to this dbgit");
	refused_variant("\"formats\": [\"sql\", \"binary\"]", "\"formats\": [\"sql\", \"sql\"]",
			"formats lists \"sql\" twice");
	refused_variant("\"formats\": [\"sql\", \"binary\"]", "\"formats\": []", "formats is empty");
	refused_variant("\"formats\": [\"sql\", \"binary\"]", "\"formats\": \"sql\"",
			"formats is not an array");
	refused_variant("\"engine\": \"sqlite\"", "\"engine\": \"oracle\"",
			"engine \"oracle\" is not known to this dbgit");
	refused_variant("\"format_version\": 1", "\"format_version\": 2",
			"format_version 2 is newer than this dbgit reads");
	refused_variant("\"format_version\": 1", "\"format_version\": 0",
			"format_version is not an integer in range");

	/* Missing required fields. */
	refused_variant("\"format_version\": 1, ", "", "format_version is missing");
	refused_variant("\"job\": \"app\", ", "", "job is missing");
	refused_variant("\"engine\": \"sqlite\", ", "", "engine is missing");
	refused_variant(" \"formats\": [\"sql\", \"binary\"],\n", "", "formats is missing");
	refused_variant("\"tables\": [", "\"tablez\": [", "tables is missing");
	refused_variant("\"files\": [", "\"filez\": [", "files is missing");

	/* Schema objects. */
	refused_variant("\"sqlite_version\"",
			"\"schema\": [{\"type\": \"bomb\", \"name\": \"x\", \"sha256\": \"" SUM
			"\"}], \"sqlite_version\"",
			"schema[0].type is not table, index, view, trigger or function");
	refused_variant(
	    "\"sqlite_version\"",
	    "\"schema\": [{\"type\": \"index\", \"name\": \"x\", \"sha256\": \"0\"}], \"sqlite_version\"",
	    "schema[0].sha256 is not 64 lowercase hex digits");
	refused_variant("\"sqlite_version\"", "\"exclude_tables\": [1], \"sqlite_version\"",
			"exclude_tables[0] is not a string");

	/* Deep nesting: refused before cJSON recurses into it. */
	size_t deep = 100000;
	char *d = malloc(deep * 2 + 1);
	memset(d, '[', deep);
	memset(d + deep, ']', deep);
	refused("deep", d, deep * 2, "is nested deeper than");
	/* Brackets in strings are not nesting. */
	char *s = xasprintf("{\"format_version\": 1, \"job\": \"%.*s\"}", 200,
			    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
			    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[");
	refused("brackets in a string", s, strlen(s), "engine is missing");
	free(s);
	free(d);

	/* Huge: refused by size, whatever it holds. */
	size_t huge = MANIFEST_MAX_TEXT + 1;
	char *h = malloc(huge);
	memset(h, ' ', huge);
	refused("huge", h, huge, "is larger than 16 MiB");
	free(h);
}

static void test_unknown_keys_kept(void)
{
	char *text = variant("\"size\": 87", "\"future\": {\"a\": [1]}, \"size\": 87");
	struct manifest m, back;
	CHECK(manifest_parse(&m, text, strlen(text), WHAT) == 0, "unknown key refused: %s", err_last());
	char *again = manifest_text(&m);
	CHECK(manifest_parse(&back, again, strlen(again), WHAT) == 0, "written text refused: %s", err_last());
	CHECK(back.extra && cJSON_GetObjectItemCaseSensitive(back.extra, "future"), "unknown key not kept");
	CHECK(back.n_tables == 2 && back.tables[1].rows == 9007199254740992LL, "rows round trip");
	CHECK(back.user_version == 42 && back.application_id == -5, "PRAGMAs round trip");
	manifest_free(&m);
	manifest_free(&back);
	free(again);
	free(text);
}

/* The writer: init + findings + files, text, parsed back. */
static void test_writer(void)
{
	struct manifest m;
	manifest_init(&m, "app", "sqlite", "/srv/app.db", 1763767213);
	cJSON *info = cJSON_Parse(
	    "{\"formats\": [\"sql\"], \"tables\": [{\"name\": \"t\", \"rows\": 3, \"checksum\": \"" SUM
	    "\"}], \"schema\": [{\"type\": \"index\", \"name\": \"i\", \"tbl_name\": \"t\", \"sha256\": "
	    "\"" SUM "\"}], \"user_version\": 1, \"stream_bytes\": 5}");
	struct manifest_file *files = calloc(2, sizeof(*files));
	files[0].path = xstrdup("a.sql");
	files[0].size = 5;
	files[1].path = xstrdup("b.sql");
	files[1].size = 6;
	strcpy(files[0].blob, BLOB);
	strcpy(files[1].blob, BLOB);
	CHECK(manifest_add_findings(&m, info, "findings") == 0, "findings refused: %s", err_last());
	CHECK(manifest_take_files(&m, files, 2, 1) == 0, "files refused: %s", err_last());
	char *ex[] = {"sessions"};
	manifest_set_exclusions(&m, ex, 1);
	manifest_set_string(&m.verify_mode, "full");
	manifest_set_string(&m.verify_result, "passed");
	char *text = manifest_text(&m);
	struct manifest back;
	CHECK(manifest_parse(&back, text, strlen(text), WHAT) == 0, "what the writer writes is refused: %s",
	      err_last());
	CHECK(back.size == 11, "size is the sum of the files: %lld", (long long)back.size);
	CHECK(back.has_schema && back.n_schema == 1 && !strcmp(back.schema[0].tbl_name, "t"), "schema");
	CHECK(back.has_exclusions && back.n_exclusions == 1 && !strcmp(back.exclusions[0], "sessions"),
	      "exclusions");
	CHECK(back.extra && cJSON_GetObjectItemCaseSensitive(back.extra, "stream_bytes"),
	      "engine's extra kept");
	CHECK(!strcmp(back.started, "2025-11-21T23:20:13Z"), "started: %s", back.started);
	manifest_free(&back);
	free(text);

	/* Bad findings (an engine bug) are refused too. */
	cJSON *badinfo =
	    cJSON_Parse("{\"tables\": [{\"name\": \"t\", \"rows\": -3, \"checksum\": \"" SUM "\"}]}");
	err_clear();
	CHECK(manifest_add_findings(&m, badinfo, "job 'app': what the engine reported") < 0,
	      "bad findings taken");
	CHECK(strstr(err_last(), "tables[0].rows") != NULL, "bad findings: %s", err_last());
	cJSON_Delete(badinfo);
	cJSON_Delete(info);
	manifest_free(&m);

	/* What the writer made is checked as a manifest read back is: a path
	 * out of the snapshot, a repeated path. */
	static const char *const bad_paths[][2] = {{"a.sql", "../b.sql"}, {"a.sql", "a.sql"}};
	static const char *const bad_what[] = {"files[1].path", "lists \"a.sql\" twice"};
	for (size_t k = 0; k < 2; k++) {
		manifest_init(&m, "app", "sqlite", "/srv/app.db", 1763767213);
		files = calloc(2, sizeof(*files));
		for (size_t i = 0; i < 2; i++) {
			files[i].path = xstrdup(bad_paths[k][i]);
			strcpy(files[i].blob, BLOB);
		}
		err_clear();
		CHECK(manifest_take_files(&m, files, 2, 0) < 0, "bad files taken (%s)", bad_what[k]);
		CHECK(strstr(err_last(), bad_what[k]) != NULL, "bad files: %s", err_last());
		manifest_free(&m);
	}
}

static void findings(struct manifest *m, const char *json)
{
	cJSON *doc = cJSON_Parse(json);
	if (manifest_from_json(m, doc, MANIFEST_FINDINGS, "findings") < 0) {
		fprintf(stderr, "test bug: %s\n", err_last());
		exit(2);
	}
	cJSON_Delete(doc);
}

#define OBJ(type, name, sum) "{\"type\": \"" type "\", \"name\": \"" name "\", \"sha256\": \"" sum "\"}"
#define SUM2		     "0000000000000000000000000000000000000000000000000000000000000000"

static void test_compare(void)
{
	struct manifest src, got, none;
	findings(
	    &src,
	    "{\"schema\": [" OBJ("table", "orders", SUM) ", " OBJ("index", "orders_customer", SUM) ", " OBJ(
		"trigger", "t",
		SUM) "], \"tables\": [{\"name\": \"orders\", \"rows\": 2, \"checksum\": \"" SUM "\"}]}");
	findings(&got,
		 "{\"schema\": [" OBJ("trigger", "t", SUM2) ", " OBJ("table", "orders", SUM) ", " OBJ(
		     "view", "v",
		     SUM) "], \"tables\": [{\"name\": \"orders\", \"rows\": 1, \"checksum\": \"" SUM "\"}]}");
	findings(&none, "{\"tables\": []}");
	struct buf p = BUF_INIT;
	int n = manifest_compare_schema(&src, &got, &p);
	CHECK(n == 3, "3 schema differences, got %d: %s", n, buf_cstr(&p));
	CHECK(strstr(buf_cstr(&p), "index orders_customer: in the source, missing from the snapshot\n") !=
		  NULL,
	      "lost index: %s", buf_cstr(&p));
	CHECK(strstr(buf_cstr(&p), "trigger t: different definition\n") != NULL, "changed trigger");
	CHECK(strstr(buf_cstr(&p), "view v: in the snapshot but not in the source\n") != NULL, "extra view");
	buf_clear(&p);
	CHECK(manifest_compare_schema(&none, &got, &p) == 0, "no schema in the manifest: no comparison");
	CHECK(manifest_compare_schema(&src, &src, &p) == 0 && p.len == 0, "same schema");
	n = engine_compare_tables(&src, &got, &p);
	CHECK(n == 1 && strstr(buf_cstr(&p), "table orders: 2 rows in the source, 1 in the snapshot") != NULL,
	      "tables: %s", buf_cstr(&p));
	buf_clear(&p);
	n = engine_compare_tables(&src, &none, &p);
	CHECK(n == 1 && strstr(buf_cstr(&p), "table orders: missing from the snapshot") != NULL,
	      "missing table");
	buf_free(&p);
	manifest_free(&src);
	manifest_free(&got);
	manifest_free(&none);
}

int main(void)
{
	test_good();
	test_refused();
	test_unknown_keys_kept();
	test_writer();
	test_compare();
	return CHECK_DONE();
}
