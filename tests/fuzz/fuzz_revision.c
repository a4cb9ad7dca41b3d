/*
 * fuzz_revision: the REV and --at TIME of restore, show, diff and verify
 * come from the command line and name things in a repository that may have
 * come back from a shared remote. Whatever the string, snap_resolve and
 * snap_resolve_time give 0 and a commit of the job's branch, or a negative
 * error with a message; never a crash, never another branch's commit.
 *
 * The repository is built once, through the store's own writer: a bare
 * repository in a temp dir, branch backup/app with four snapshots a day
 * apart, a side branch backup/other whose commits are not app's, and tags
 * on a blob, a tree and a commit.
 */
#include <git2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbgit/store.h"
#include "dbgit/util.h"

#define APP   "refs/heads/backup/app"
#define OTHER "refs/heads/backup/other"
#define N_APP 4
#define DAY   86400
#define T0    INT64_C(1795000000) /* 2026-11-18 */

static struct store *st;
static char *dir;
static char app_ids[N_APP][41];

static void die(const char *what)
{
	fprintf(stderr, "fuzz_revision: setting up: %s: %s\n", what, err_last());
	exit(1);
}

/* One snapshot: a data file and a manifest, committed on branch. */
static void snapshot(const char *branch, int i, int64_t when, char out[41])
{
	struct snap_writer *w;
	char tree[41], parent[41], data[64], manifest[256], msg[64];
	if (snap_writer_new(&w, st, 1 << 20) < 0)
		die("writer");
	struct dump_sink *sink = snap_writer_sink(w);
	int n = snprintf(data, sizeof(data), "INSERT INTO t VALUES(%d);\n", i);
	if (sink->open(sink, "1-table/t/1-rows.sql", CHUNK_LINES) < 0 ||
	    sink->write(sink, data, (size_t)n) < 0 || sink->close(sink) < 0)
		die("writing a file");
	snprintf(manifest, sizeof(manifest),
		 "{\"format\":%d,\"job\":\"app\",\"engine\":\"sqlite\",\"started\":%lld,\"tables\":[]}",
		 MANIFEST_FORMAT, (long long)when);
	if (snap_writer_tree(w, manifest, tree) < 0)
		die("tree");
	snap_writer_free(w);
	if (snap_tip(st, branch, parent) < 0)
		die("tip");
	snprintf(msg, sizeof(msg), "snapshot %d\n", i);
	if (snap_commit(st, branch, parent, tree, msg, "fuzz", "fuzz@example.invalid", when, out) < 0)
		die("commit");
}

static void tag(const char *name, const char *spec)
{
	git_repository *repo = store_git(st);
	git_object *obj;
	git_oid id;
	if (git_revparse_single(&obj, repo, spec) < 0 ||
	    git_tag_create_lightweight(&id, repo, name, obj, 0) < 0)
		die(name);
	git_object_free(obj);
}

static void cleanup(void)
{
	store_free(st);
	fs_rmtree(dir);
	free(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	int created;
	if (fs_mkdtemp(&dir, "fuzz-rev") < 0)
		die("temp dir");
	char *path = xasprintf("%s/repo.git", dir);
	if (store_init(path, &created) < 0 || store_open(&st, path) < 0)
		die(path);
	free(path);
	atexit(cleanup);
	for (int i = 0; i < N_APP; i++)
		snapshot(APP, i, T0 + i * DAY, app_ids[i]);
	char other[41];
	for (int i = 0; i < 2; i++)
		snapshot(OTHER, 10 + i, T0 + i * DAY + 3600, other);
	tag("blob", APP ":MANIFEST.json");
	tag("tree", APP "^{tree}");
	tag("old", APP "~2");
	tag("foreign", OTHER);
	return 0;
}

static void check(int rc, const char *out, const char *what, const char *input)
{
	if (rc < 0) {
		if (!err_last()[0]) {
			fprintf(stderr, "fuzz_revision: %s('%s') failed without a message\n", what, input);
			abort();
		}
		return;
	}
	for (int i = 0; i < N_APP; i++)
		if (!strcmp(out, app_ids[i]))
			return;
	fprintf(stderr, "fuzz_revision: %s('%s') gave %.41s, not a snapshot of %s\n", what, input, out, APP);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *rev = malloc(size + 1);
	memcpy(rev, data, size);
	rev[size] = '\0';
	char out[41] = "";
	err_clear();
	check(snap_resolve(st, APP, rev, out), out, "snap_resolve", rev);
	int64_t t;
	err_clear();
	if (time_parse(rev, &t) == 0) {
		out[0] = '\0';
		check(snap_resolve_time(st, APP, t, out), out, "snap_resolve_time", rev);
	}
	if (size >= 8) {
		/* Any instant, as --at TIME might give after parsing. */
		memcpy(&t, data, 8);
		out[0] = '\0';
		err_clear();
		check(snap_resolve_time(st, APP, t, out), out, "snap_resolve_time", "(raw time)");
	}
	free(rev);
	return 0;
}
