/*
 * Unit tests for rotate_branch and store_reclaim on a real (bare, scratch)
 * repository built with libgit2: the rewritten history keeps trees,
 * messages and dates, older commits keep their ids, dropped objects go,
 * shared ones and other branches stay, and git fsck agrees.
 */
#include <dirent.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbgit/rotate.h"
#include "dbgit/store.h"
#include "dbgit/util.h"

static int passed, failed;

#define CHECK(name, cond)                                                                 \
	do {                                                                              \
		if (cond) {                                                               \
			passed++;                                                         \
			printf("ok - %s\n", name);                                        \
		} else {                                                                  \
			failed++;                                                         \
			printf("not ok - %s (%s:%d) %s\n", name, __FILE__, __LINE__, err_last()); \
		}                                                                         \
	} while (0)

#define N 10
#define DAY 86400
#define BRANCH "refs/heads/backup/app"
#define OTHER "refs/heads/backup/other"

static git_oid blob(git_repository *r, const char *text)
{
	git_oid id;
	if (git_blob_create_from_buffer(&id, r, text, strlen(text)) < 0) {
		fprintf(stderr, "blob: %s\n", git_error_last()->message);
		exit(2);
	}
	return id;
}

/* A snapshot: MANIFEST.json, a chunk shared by every snapshot and one of
 * its own. */
static git_oid snapshot(git_repository *r, const char *ref, int i, int64_t when,
			const git_oid *parent, const git_oid *shared, const git_oid *extra)
{
	char text[256];
	git_treebuilder *tb = NULL;
	git_oid tree_id, id, b;
	git_tree *tree = NULL;
	git_commit *par = NULL;
	git_signature *author = NULL, *committer = NULL;

	git_treebuilder_new(&tb, r, NULL);
	snprintf(text, sizeof(text), "{\"format\":1,\"job\":\"%s\",\"n\":%d}\n", ref, i);
	b = blob(r, text);
	git_treebuilder_insert(NULL, tb, "MANIFEST.json", &b, GIT_FILEMODE_BLOB);
	git_treebuilder_insert(NULL, tb, "0000.sql", shared, GIT_FILEMODE_BLOB);
	snprintf(text, sizeof(text), "INSERT INTO t VALUES(%d, 'only in snapshot %d of %s');\n", i, i,
		 ref);
	b = blob(r, text);
	git_treebuilder_insert(NULL, tb, "0001.sql", &b, GIT_FILEMODE_BLOB);
	if (extra)
		git_treebuilder_insert(NULL, tb, "0002.sql", extra, GIT_FILEMODE_BLOB);
	git_treebuilder_write(&tree_id, tb);
	git_treebuilder_free(tb);
	git_tree_lookup(&tree, r, &tree_id);
	if (parent)
		git_commit_lookup(&par, r, parent);
	/* Distinct author and committer, time zones and dates: all must
	 * survive the rewrite. */
	git_signature_new(&author, "dbgit", "backup@example.org", when, 120);
	git_signature_new(&committer, "cron", "root@example.org", when + 7, -300);
	snprintf(text, sizeof(text), "app: snapshot %d\n\nrows: %d\n", i, i * 10);
	const git_commit *parents[1] = {par};
	if (git_commit_create(&id, r, ref, author, committer, NULL, text, tree, par ? 1 : 0,
			      parents) < 0) {
		fprintf(stderr, "commit: %s\n", git_error_last()->message);
		exit(2);
	}
	git_signature_free(author);
	git_signature_free(committer);
	git_commit_free(par);
	git_tree_free(tree);
	return id;
}

static int same_commit_data(git_repository *r, const git_oid *a, const git_oid *b)
{
	git_commit *ca = NULL, *cb = NULL;
	if (git_commit_lookup(&ca, r, a) < 0 || git_commit_lookup(&cb, r, b) < 0)
		return 0;
	const git_signature *aa = git_commit_author(ca), *ba = git_commit_author(cb);
	const git_signature *ac = git_commit_committer(ca), *bc = git_commit_committer(cb);
	int ok = git_oid_equal(git_commit_tree_id(ca), git_commit_tree_id(cb)) &&
		 strcmp(git_commit_message_raw(ca), git_commit_message_raw(cb)) == 0 &&
		 strcmp(aa->name, ba->name) == 0 && strcmp(aa->email, ba->email) == 0 &&
		 aa->when.time == ba->when.time && aa->when.offset == ba->when.offset &&
		 strcmp(ac->name, bc->name) == 0 && strcmp(ac->email, bc->email) == 0 &&
		 ac->when.time == bc->when.time && ac->when.offset == bc->when.offset;
	git_commit_free(ca);
	git_commit_free(cb);
	return ok;
}

/* The blob "only in snapshot i". */
static int has_own_blob(git_repository *r, const char *ref, int i)
{
	char text[256];
	git_oid id;
	git_odb *odb = NULL;
	snprintf(text, sizeof(text), "INSERT INTO t VALUES(%d, 'only in snapshot %d of %s');\n", i, i,
		 ref);
	git_odb_hash(&id, text, strlen(text), GIT_OBJECT_BLOB);
	git_repository_odb(&odb, r);
	int ok = git_odb_exists(odb, &id);
	git_odb_free(odb);
	return ok;
}

static int count_files(const char *dir, const char *suffix)
{
	int n = 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		size_t a = strlen(de->d_name), b = strlen(suffix);
		if (de->d_name[0] != '.' && a >= b && strcmp(de->d_name + a - b, suffix) == 0)
			n++;
	}
	if (d)
		closedir(d);
	return n;
}

static int loose_objects(const char *repo)
{
	int n = 0;
	for (int i = 0; i < 256; i++) {
		char *sub = xasprintf("%s/objects/%02x", repo, i);
		n += count_files(sub, "");
		free(sub);
	}
	return n;
}

static int fsck_ok(const char *repo)
{
	if (system("git --version >/dev/null 2>&1") != 0)
		return 1; /* no git here: the scenario tests cover it */
	char *cmd = xasprintf("git --git-dir='%s' fsck --full --no-dangling --strict >/dev/null 2>&1",
			      repo);
	int rc = system(cmd);
	free(cmd);
	return rc == 0;
}

int main(void)
{
	char *dir = NULL, *repo_path;
	struct store *st = NULL;
	int created;

	setenv("TZ", "UTC", 1);
	tzset();
	if (fs_mkdtemp(&dir, "rotate") < 0) {
		fprintf(stderr, "%s\n", err_last());
		return 2;
	}
	repo_path = xasprintf("%s/backups.git", dir);
	if (store_init(repo_path, &created) < 0 || store_open(&st, repo_path) < 0) {
		fprintf(stderr, "%s\n", err_last());
		return 2;
	}
	git_repository *r = store_git(st);

	/* Snapshot 0 in 2023; 1..9 on consecutive days of 2024. */
	git_oid ids[N], shared = blob(r, "CREATE TABLE t(a, b);\n");
	int64_t t0 = 1704103200; /* 2024-01-01 10:00 UTC */
	for (int i = 0; i < N; i++) {
		int64_t when = i == 0 ? t0 - 200 * DAY : t0 + (i - 1) * DAY;
		ids[i] = snapshot(r, BRANCH, i, when, i ? &ids[i - 1] : NULL, &shared, NULL);
	}
	/* Another job shares the common chunk and the chunk of app's
	 * snapshot 5, which rotation drops from app. */
	char text5[256];
	snprintf(text5, sizeof(text5), "INSERT INTO t VALUES(%d, 'only in snapshot %d of %s');\n", 5,
		 5, BRANCH);
	git_oid five = blob(r, text5);
	git_oid other = snapshot(r, OTHER, 0, t0, NULL, &shared, &five);
	git_oid other_tip;
	git_reference_name_to_id(&other_tip, r, OTHER);

	/* last 3 + yearly 2: keeps 9, 8, 7 and 0 (the newest of 2023). */
	struct keep_policy p = {.set = 1, .last = 3, .yearly = 2};
	struct rotate_result res;
	git_oid tip;

	fflush(stdout);
	CHECK("dry run succeeds",
	      rotate_branch_ex(st, BRANCH, &p, t0 + 100 * DAY, 1, &res) == 0);
	git_reference_name_to_id(&tip, r, BRANCH);
	CHECK("dry run moves nothing", git_oid_equal(&tip, &ids[N - 1]) && !res.rewritten &&
					       res.total == N && res.kept == 4);
	CHECK("dry run returns the plan as data, newest first",
	      res.n_plan == N && res.plan[0].keep && !res.plan[3].keep && res.plan[N - 1].keep &&
		      strstr(res.plan[0].reasons, "last") != NULL);
	rotate_result_free(&res);

	CHECK("rotate succeeds", rotate_branch_ex(st, "backup/app", &p, t0 + 100 * DAY, 0, &res) == 0);
	CHECK("rotate reports the rewrite", res.rewritten && res.total == N && res.kept == 4);
	git_reference_name_to_id(&tip, r, BRANCH);
	char hex[41];
	git_oid_tostr(hex, sizeof(hex), &tip);
	CHECK("new tip reported", strcmp(hex, res.new_tip) == 0);

	/* Walk the new branch. */
	git_oid chain[N];
	int n = 0;
	git_commit *c = NULL;
	git_commit_lookup(&c, r, &tip);
	while (c && n < N) {
		chain[n++] = *git_commit_id(c);
		git_commit *parent = NULL;
		if (git_commit_parentcount(c) == 0 || git_commit_parent(&parent, c, 0) < 0)
			parent = NULL;
		git_commit_free(c);
		c = parent;
	}
	git_commit_free(c);
	CHECK("four snapshots remain", n == 4);
	CHECK("the oldest keeps its id", n == 4 && git_oid_equal(&chain[3], &ids[0]));
	CHECK("kept snapshots keep tree, message, author, committer and dates",
	      n == 4 && same_commit_data(r, &chain[0], &ids[9]) &&
		      same_commit_data(r, &chain[1], &ids[8]) && same_commit_data(r, &chain[2], &ids[7]));
	CHECK("rebuilt snapshots are new commits", n == 4 && !git_oid_equal(&chain[0], &ids[9]));

	git_reflog *log = NULL;
	int found = 0;
	if (git_reflog_read(&log, r, BRANCH) == 0 && git_reflog_entrycount(log) > 0) {
		const git_reflog_entry *e = git_reflog_entry_byindex(log, 0);
		found = git_oid_equal(git_reflog_entry_id_old(e), &ids[9]) &&
			strstr(git_reflog_entry_message(e), "dbgit rotate") != NULL;
	}
	git_reflog_free(log);
	CHECK("the reflog names the old tip", found);

	rotate_result_free(&res);
	CHECK("rotating again changes nothing",
	      rotate_branch_ex(st, BRANCH, &p, t0 + 100 * DAY, 0, &res) == 0 && !res.rewritten);
	rotate_result_free(&res);
	CHECK("a missing branch is nothing to do",
	      rotate_branch_ex(st, "refs/heads/backup/none", &p, t0, 0, &res) == 0 && res.total == 0);
	struct keep_policy empty = {0};
	err_clear();
	rotate_result_free(&res);
	CHECK("an empty policy is refused",
	      rotate_branch_ex(st, BRANCH, &empty, t0, 0, &res) == ERR_USAGE);
	rotate_result_free(&res);
	err_clear();

	/* Reclaim. */
	CHECK("dropped blobs exist before reclaim", has_own_blob(r, BRANCH, 3));
	struct reclaim_result rr;
	CHECK("reclaim succeeds", store_reclaim_ex(st, &rr) == 0);
	char *packdir = xasprintf("%s/objects/pack", repo_path);
	CHECK("one pack, no loose objects",
	      count_files(packdir, ".pack") == 1 && count_files(packdir, ".idx") == 1 &&
		      loose_objects(repo_path) == 0);
	CHECK("a blob only a dropped snapshot used is gone",
	      !has_own_blob(r, BRANCH, 3) && !has_own_blob(r, BRANCH, 1) && !has_own_blob(r, BRANCH, 6));
	CHECK("a dropped snapshot's blob that another job uses stays", has_own_blob(r, BRANCH, 5));
	CHECK("blobs of kept snapshots stay", has_own_blob(r, BRANCH, 0) && has_own_blob(r, BRANCH, 7) &&
						      has_own_blob(r, BRANCH, 9));
	git_oid now_other;
	git_reference_name_to_id(&now_other, r, OTHER);
	CHECK("the other job's branch is untouched",
	      git_oid_equal(&now_other, &other_tip) && git_oid_equal(&other, &other_tip) &&
		      has_own_blob(r, OTHER, 0));
	log = NULL;
	found = 1;
	if (git_reflog_read(&log, r, BRANCH) == 0) {
		for (size_t i = 0; i < git_reflog_entrycount(log); i++)
			if (git_oid_equal(git_reflog_entry_id_new(git_reflog_entry_byindex(log, i)),
					  &ids[9]))
				found = 0;
	}
	git_reflog_free(log);
	CHECK("reflog entries of dropped commits are expired", found && rr.reflog_dropped > 0);
	CHECK("git fsck --full accepts the repository", fsck_ok(repo_path));
	CHECK("the object count is plausible", rr.objects > 0);

	/* The handle still reads everything after the packs changed. */
	git_commit *head = NULL;
	git_tree *tree = NULL;
	int readable = git_commit_lookup(&head, r, &tip) == 0 && git_commit_tree(&tree, head) == 0;
	git_tree_free(tree);
	git_commit_free(head);
	CHECK("the open repository still reads the new pack", readable);

	CHECK("reclaim again is harmless", store_reclaim_ex(st, &rr) == 0 &&
						    count_files(packdir, ".pack") == 1 &&
						    fsck_ok(repo_path));

	/* Leftovers of a killed run are swept. */
	char *junk = xasprintf("%s/pack_git2_deadbeef", packdir);
	char *orphan =
		xasprintf("%s/pack-0123456789012345678901234567890123456789.pack", packdir);
	FILE *f = fopen(junk, "w");
	if (f)
		fclose(f);
	f = fopen(orphan, "w");
	if (f)
		fclose(f);
	CHECK("leftovers of a killed run are swept",
	      store_reclaim_ex(st, &rr) == 0 && !fs_exists(junk) && !fs_exists(orphan) &&
		      count_files(packdir, ".pack") == 1 && fsck_ok(repo_path));
	free(junk);
	free(orphan);
	free(packdir);

	store_free(st);

	/* A repository without refs is left alone, not emptied. */
	char *bare = xasprintf("%s/norefs.git", dir);
	struct store *st2 = NULL;
	if (store_init(bare, &created) == 0 && store_open(&st2, bare) == 0) {
		git_oid lone = blob(store_git(st2), "a lone blob\n");
		git_odb *odb = NULL;
		git_repository_odb(&odb, store_git(st2));
		CHECK("a repository without refs is not emptied",
		      store_reclaim_ex(st2, &rr) == 0 && git_odb_exists(odb, &lone) &&
			      loose_objects(bare) == 1);
		git_odb_free(odb);
	} else {
		CHECK("a scratch repository opens", 0);
	}
	store_free(st2);
	free(bare);
	fs_rmtree(dir);
	free(dir);
	free(repo_path);
	git_libgit2_shutdown();
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
