/*
 * reclaim: gives back the space of snapshots no branch holds any more.
 *
 * One pass, in an order that survives kill -9 at any instant:
 *   1. sweep what an earlier killed run left in objects/pack (temp files,
 *      a .pack without its .idx);
 *   2. note the packs and loose objects that exist now: only these are
 *      ever deleted, so nothing written later can be lost;
 *   3. expire reflog entries that name commits no ref reaches (they would
 *      pin dropped snapshots, and git fsck checks them);
 *   4. write ONE new pack of everything reachable from every ref and HEAD,
 *      and fsync the .pack, the .idx and their directory: dbgit's own
 *      writer (packw.c) copies the largest pack's live entries as they
 *      are and leaves the rest out (pack_live); libgit2's packbuilder,
 *      which recomputes every delta, only when a ref names something
 *      other than a commit or packw doubts the pack (write_pack);
 *   5. check, reading the new pack alone, that every reachable commit,
 *      tree and blob is in it; on any doubt stop before deleting;
 *   6. (after syncing the file system once more, so that the reflogs of
 *      step 3 and every ref read in step 2 are durable: see the protocol
 *      in store_internal.h) drop the optional caches that name objects (multi-pack-index,
 *      commit-graph, info/packs), then the old packs (.idx first, so no
 *      reader picks a pack whose .pack is gone), then the noted loose
 *      objects.
 * Until step 6 the old objects are all there; from step 6 on, every
 * reachable object is in the new, synced pack. So a repository that is
 * killed anywhere is one that `git fsck --full` accepts, and the next run
 * finishes the job. Concurrent writers are excluded by the repository lock
 * (store_lock), which the caller holds.
 *
 * The nightly pack (store_maintain) is in proportion to the change. The
 * full reclaim above is the only thing that gives space back, and it
 * reads every snapshot's trees and rewrites the pack: needed after a
 * rotation dropped snapshots, wasted on a night that only added some.
 * Such a night extends the largest pack instead
 * (packw.c: its entries copied as they are, the night's chunks added, each
 * previous version re-stored as a delta against its new version). An
 * earlier policy merged packs geometrically with the packbuilder; at 1%
 * uniform churn every merge still recomputed every delta and each pack
 * held its own full copy of the chunks that changed (97.8 MB after 10
 * nights at 1,000,000 rows where one pack holds 62.5 MB). The append takes
 * exactly the noted loose objects and the objects of the other packs,
 * reachable or not, and deletes them only after its pack is written,
 * fsynced and checked to give back every one of them: nothing leaves the
 * repository, objects only move into a synced pack, so it needs no ref to
 * be durable first, and a kill anywhere leaves duplicates at worst, which
 * the next night packs away. When the largest pack cannot be extended
 * (packw doubts it) the full reclaim runs instead.
 *
 * Naming blobs for the packer (lineage_name) needs each blob's first line.
 * A cache (blob id -> hash, <gitdir>/dbgit-lineage, validated on read)
 * keeps the names of earlier runs, so a reclaim reads only blobs it has
 * not named before instead of inflating every blob of every snapshot.
 *
 * Test hooks: DBGIT_TEST_PAUSE_RECLAIM=<stage> (reflog, packed, deleting;
 * merged, merge-deleting for the nightly pack) makes reclaim announce
 * "reclaim paused at <stage>" on stderr and sleep, so a test can kill it
 * there. DBGIT_TEST_LOOSE_MIN=<bytes> replaces store_wants_pack's 32 MiB.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <git2/sys/odb_backend.h>
#include <git2/sys/repository.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbgit/rotate.h"
#include "dbgit/store.h"
#include "dbgit/util.h"
#include "packw.h"
#include "store_internal.h"

static void pause_at(const char *stage)
{
	TEST_PAUSE("DBGIT_TEST_PAUSE_RECLAIM", "reclaim", stage);
	(void)stage;
}

/* A set of object ids (open addressing; ids are uniform already). */
struct oidset {
	git_oid *slot;
	unsigned char *used;
	size_t cap, len;
};

static size_t oid_hash(const git_oid *id)
{
	size_t h;
	memcpy(&h, id->id, sizeof(h));
	return h;
}

static int oidset_grow(struct oidset *s)
{
	size_t ncap = s->cap ? s->cap * 2 : 1024;
	git_oid *slot = calloc(ncap, sizeof(*slot));
	unsigned char *used = calloc(ncap, 1);
	if (!slot || !used) {
		free(slot);
		free(used);
		return err_set(ERR_GENERIC, "out of memory");
	}
	for (size_t i = 0; i < s->cap; i++) {
		if (!s->used[i])
			continue;
		size_t j = oid_hash(&s->slot[i]) & (ncap - 1);
		while (used[j])
			j = (j + 1) & (ncap - 1);
		used[j] = 1;
		slot[j] = s->slot[i];
	}
	free(s->slot);
	free(s->used);
	s->slot = slot;
	s->used = used;
	s->cap = ncap;
	return 0;
}

static int oidset_has(const struct oidset *s, const git_oid *id)
{
	if (!s->cap)
		return 0;
	for (size_t j = oid_hash(id) & (s->cap - 1); s->used[j]; j = (j + 1) & (s->cap - 1))
		if (git_oid_equal(&s->slot[j], id))
			return 1;
	return 0;
}

/* 1 if added, 0 if present, negative on error. */
static int oidset_add(struct oidset *s, const git_oid *id)
{
	if (oidset_has(s, id))
		return 0;
	if ((s->len + 1) * 2 > s->cap && oidset_grow(s) < 0)
		return -1;
	size_t j = oid_hash(id) & (s->cap - 1);
	while (s->used[j])
		j = (j + 1) & (s->cap - 1);
	s->used[j] = 1;
	s->slot[j] = *id;
	s->len++;
	return 1;
}

static void oidset_free(struct oidset *s)
{
	free(s->slot);
	free(s->used);
	memset(s, 0, sizeof(*s));
}

struct strlist {
	char **v;
	size_t n, cap;
};

static int strlist_add(struct strlist *l, char *s)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 64;
		char **nv = realloc(l->v, ncap * sizeof(*nv));
		if (!nv) {
			free(s);
			return err_set(ERR_GENERIC, "out of memory");
		}
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n++] = s;
	return 0;
}

static void strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && strcmp(s + a - b, suf) == 0;
}

static int is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[n] == '\0';
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(ERR_GENERIC, "cannot open %s: %s", path, strerror(errno));
	int rc = 0;
	if (fsync(fd) < 0 && errno != EINVAL)
		rc = err_set(ERR_GENERIC, "cannot fsync %s: %s", path, strerror(errno));
	close(fd);
	return rc;
}

/* Bytes on disk under dir, as du counts them. */
static uint64_t disk_usage(const char *dir)
{
	uint64_t total = 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char *p = xasprintf("%s/%s", dir, de->d_name);
		struct stat sb;
		if (lstat(p, &sb) == 0)
			total += S_ISDIR(sb.st_mode) ? disk_usage(p) : (uint64_t)sb.st_blocks * 512;
		free(p);
	}
	if (d)
		closedir(d);
	return total;
}

/* Step 1: what a killed run may have left. Never an .idx with its .pack. */
static void sweep_pack_dir(const char *packdir)
{
	DIR *d = opendir(packdir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *name = de->d_name;
		int garbage = strncmp(name, "pack_git2_", 10) == 0 || strncmp(name, "tmp_", 4) == 0 ||
			      has_suffix(name, ".lock");
		if (!garbage && strncmp(name, "pack-", 5) == 0 && has_suffix(name, ".pack")) {
			char *idx = xasprintf("%s/%.*s.idx", packdir, (int)(strlen(name) - 5), name);
			garbage = !fs_exists(idx);
			free(idx);
		}
		if (garbage) {
			char *p = xasprintf("%s/%s", packdir, name);
			log_debug("reclaim: removing leftover %s", p);
			unlink(p);
			free(p);
		}
	}
	closedir(d);
}

/* Step 2: the old packs (base names "pack-<hex>") and the loose objects. */
static int note_existing(const char *objdir, const char *packdir, struct strlist *packs,
			 struct strlist *loose)
{
	DIR *d = opendir(packdir);
	struct dirent *de;
	if (d) {
		while ((de = readdir(d))) {
			if (strncmp(de->d_name, "pack-", 5) == 0 && has_suffix(de->d_name, ".idx")) {
				char *base = xasprintf("%.*s", (int)(strlen(de->d_name) - 4), de->d_name);
				if (strlist_add(packs, base) < 0) {
					closedir(d);
					return -1;
				}
			}
		}
		closedir(d);
	}
	for (int i = 0; i < 256; i++) {
		char *sub = xasprintf("%s/%02x", objdir, i);
		d = opendir(sub);
		while (d && (de = readdir(d))) {
			if (strlen(de->d_name) == GIT_OID_HEXSZ - 2 && is_hex(de->d_name, GIT_OID_HEXSZ - 2) &&
			    strlist_add(loose, xasprintf("%s/%s", sub, de->d_name)) < 0) {
				closedir(d);
				free(sub);
				return -1;
			}
		}
		if (d)
			closedir(d);
		free(sub);
	}
	return 0;
}

/* What every ref (and HEAD) holds: commits to walk, other objects (tags,
 * trees, blobs a ref names directly) to insert as they are. */
struct roots {
	git_oid *commits;
	size_t n_commits;
	git_oid *others;
	size_t n_others;
	struct strlist names; /* every ref name, plus HEAD, for the reflogs */
};

static int push_oid(git_oid **v, size_t *n, const git_oid *id)
{
	/* doubling: the live set of a reclaim is every object of the history */
	if ((*n & (*n - 1)) != 0 && *n >= 16) {
		(*v)[(*n)++] = *id;
		return 0;
	}
	git_oid *nv = realloc(*v, (*n < 16 ? 16 : *n * 2) * sizeof(*nv));
	if (!nv)
		return err_set(ERR_GENERIC, "out of memory");
	nv[(*n)++] = *id;
	*v = nv;
	return 0;
}

static int add_root(git_repository *repo, struct roots *r, const git_oid *target)
{
	git_object *obj = NULL, *peeled = NULL;
	if (git_object_lookup(&obj, repo, target, GIT_OBJECT_ANY) < 0)
		return store_git_error("reading a ref's target");
	int rc = 0;
	if (git_object_type(obj) == GIT_OBJECT_COMMIT) {
		rc = push_oid(&r->commits, &r->n_commits, target);
	} else {
		rc = push_oid(&r->others, &r->n_others, target);
		if (rc == 0 && git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT) == 0)
			rc = push_oid(&r->commits, &r->n_commits, git_object_id(peeled));
		git_error_clear();
	}
	git_object_free(peeled);
	git_object_free(obj);
	return rc;
}

static int collect_roots(git_repository *repo, struct roots *r)
{
	git_reference_iterator *it = NULL;
	git_reference *ref;
	int rc = 0, e;
	if (git_reference_iterator_new(&it, repo) < 0)
		return store_git_error("listing refs");
	while ((e = git_reference_next(&ref, it)) == 0) {
		git_reference *res = NULL;
		rc = strlist_add(&r->names, xstrdup(git_reference_name(ref)));
		if (rc == 0 && git_reference_resolve(&res, ref) == 0)
			rc = add_root(repo, r, git_reference_target(res));
		git_error_clear();
		git_reference_free(res);
		git_reference_free(ref);
		if (rc < 0)
			break;
	}
	git_reference_iterator_free(it);
	if (rc == 0 && e != GIT_ITEROVER)
		return store_git_error("listing refs");
	if (rc < 0)
		return rc;
	/* HEAD: usually an unborn symbolic ref in a bare repository; when it
	 * is detached it is a root of its own. */
	git_reference *head = NULL, *res = NULL;
	if (git_reference_lookup(&head, repo, "HEAD") == 0) {
		rc = strlist_add(&r->names, xstrdup("HEAD"));
		if (rc == 0 && git_reference_resolve(&res, head) == 0)
			rc = add_root(repo, r, git_reference_target(res));
	}
	git_error_clear();
	git_reference_free(res);
	git_reference_free(head);
	return rc;
}

static void roots_free(struct roots *r)
{
	free(r->commits);
	free(r->others);
	strlist_free(&r->names);
}

/* Every commit reachable from the roots. */
static int reachable_commits(git_repository *repo, const struct roots *r, struct oidset *set)
{
	git_revwalk *walk = NULL;
	git_oid id;
	int e;
	if (git_revwalk_new(&walk, repo) < 0)
		return store_git_error("walking history");
	for (size_t i = 0; i < r->n_commits; i++)
		if (git_revwalk_push(walk, &r->commits[i]) < 0) {
			git_revwalk_free(walk);
			return store_git_error("walking history");
		}
	while ((e = git_revwalk_next(&id, walk)) == 0)
		if (oidset_add(set, &id) < 0) {
			git_revwalk_free(walk);
			return -1;
		}
	git_revwalk_free(walk);
	if (e != GIT_ITEROVER)
		return store_git_error("walking history");
	return 0;
}

static int is_live(const struct roots *r, const struct oidset *live, const git_oid *id)
{
	if (git_oid_is_zero(id) || oidset_has(live, id))
		return 1;
	for (size_t i = 0; i < r->n_others; i++)
		if (git_oid_equal(&r->others[i], id))
			return 1;
	return 0;
}

/* Step 3. An entry stays only if both of its ids are reachable. */
static int expire_reflogs(git_repository *repo, const struct roots *r, const struct oidset *live,
			  size_t *dropped)
{
	for (size_t i = 0; i < r->names.n; i++) {
		git_reflog *log = NULL;
		if (git_reflog_read(&log, repo, r->names.v[i]) < 0) {
			git_error_clear();
			continue;
		}
		int changed = 0;
		for (size_t k = git_reflog_entrycount(log); k-- > 0;) {
			const git_reflog_entry *ent = git_reflog_entry_byindex(log, k);
			const git_oid *o = git_reflog_entry_id_old(ent);
			const git_oid *nw = git_reflog_entry_id_new(ent);
			int ok = is_live(r, live, o) && is_live(r, live, nw);
			if (!ok && git_reflog_drop(log, k, 0) == 0) {
				changed = 1;
				(*dropped)++;
			}
		}
		int rc = 0;
		if (changed && git_reflog_write(log) < 0)
			rc = store_git_error(r->names.v[i]);
		git_reflog_free(log);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Step 5: reading the new pack alone, every tree and blob of every live
 * commit is there. */
static int check_tree(git_repository *pack, git_odb *odb, const git_oid *tree_id,
		      struct oidset *seen)
{
	int added = oidset_add(seen, tree_id);
	if (added <= 0)
		return added;
	git_tree *tree = NULL;
	if (git_tree_lookup(&tree, pack, tree_id) < 0)
		return -1;
	int rc = 0;
	for (size_t i = 0, n = git_tree_entrycount(tree); i < n && rc == 0; i++) {
		const git_tree_entry *ent = git_tree_entry_byindex(tree, i);
		switch (git_tree_entry_type(ent)) {
		case GIT_OBJECT_TREE:
			rc = check_tree(pack, odb, git_tree_entry_id(ent), seen);
			break;
		case GIT_OBJECT_BLOB:
			if (oidset_add(seen, git_tree_entry_id(ent)) == 1 &&
			    !git_odb_exists(odb, git_tree_entry_id(ent)))
				rc = -1;
			break;
		default: /* a submodule commit lives elsewhere */
			break;
		}
	}
	git_tree_free(tree);
	return rc;
}

static int check_new_pack(const char *idx_path, const struct oidset *live, const struct roots *r)
{
	git_odb_backend *be = NULL;
	git_odb *odb = NULL;
	git_repository *pack = NULL;
	struct oidset seen = {0};
	int rc = -1;
	if (git_odb_backend_one_pack(&be, idx_path) < 0 || git_odb_new(&odb) < 0)
		goto out;
	if (git_odb_add_backend(odb, be, 1) < 0)
		goto out;
	be = NULL; /* owned by odb */
	if (git_repository_wrap_odb(&pack, odb) < 0)
		goto out;
	for (size_t i = 0; i < r->n_others; i++)
		if (!git_odb_exists(odb, &r->others[i]))
			goto out;
	for (size_t i = 0; i < live->cap; i++) {
		if (!live->used[i])
			continue;
		git_commit *c = NULL;
		if (git_commit_lookup(&c, pack, &live->slot[i]) < 0)
			goto out;
		int e = check_tree(pack, odb, git_commit_tree_id(c), &seen);
		git_commit_free(c);
		if (e < 0)
			goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		err_set(ERR_GENERIC, "reclaim: the new pack %s lacks reachable objects; nothing deleted",
			idx_path);
	if (be)
		be->free(be);
	oidset_free(&seen);
	git_repository_free(pack);
	git_odb_free(odb);
	return rc;
}

/* What goes into one pack: the packer and the names it is given. */
struct packctx {
	git_packbuilder *pb;
	git_repository *repo;
	struct oidset seen;        /* trees and blobs visited */
	struct lcache *cache;      /* names known before this run */
	struct lcache *out;        /* names to keep for the next run */
	size_t named, read;        /* blobs named; of them, read to name them */
};

/* The name a blob goes into the packer with. The packer looks for delta
 * bases among neighbours in (name hash, size) order, and its name hash is
 * made from the name's last characters: so a chunk is named after its
 * logical file and the hash of its first line. Chunk boundaries are
 * content-defined, so a chunk's first line is the same in every snapshot
 * the chunk appears in, changed or not, whatever its number there: the
 * versions of one chunk become neighbours, and a small delta window finds
 * them (pack.windowMemory, set by pack_begin). The hash is a function of
 * the blob's content, hence of its id: the cache returns what reading the
 * blob would, and only blobs not named before are read. */
static char *lineage_name(struct packctx *cx, const git_oid *id, const char *path)
{
	char *logical = chunk_logical_name(path);
	uint64_t h = 0;
	cx->named++;
	if (!lcache_get(cx->cache, id, &h)) {
		git_blob *b = NULL;
		if (git_blob_lookup(&b, cx->repo, id) < 0) {
			git_error_clear();
			return logical;
		}
		h = lineage_line_hash(git_blob_rawcontent(b), (size_t)git_blob_rawsize(b));
		git_blob_free(b);
		cx->read++;
	}
	if (lcache_put(cx->out, id, h) < 0)
		err_clear(); /* only a smaller cache */
	char *name = xasprintf("%s#%016llx", logical, (unsigned long long)h);
	free(logical);
	return name;
}

/* Adds a tree and everything below it to the pack, once, each blob under
 * its lineage_name. */
static int insert_tree(struct packctx *cx, const git_oid *id, const char *prefix)
{
	if (oidset_has(&cx->seen, id))
		return 0;
	if (oidset_add(&cx->seen, id) < 0)
		return ERR_GENERIC;
	git_tree *tree = NULL;
	if (git_tree_lookup(&tree, cx->repo, id) < 0 || git_packbuilder_insert(cx->pb, id, prefix) < 0) {
		git_tree_free(tree);
		return store_git_error("reclaim: collecting objects");
	}
	int rc = 0;
	size_t n = git_tree_entrycount(tree);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const git_oid *eid = git_tree_entry_id(e);
		char *path = xasprintf("%s%s", prefix, git_tree_entry_name(e));
		if (git_tree_entry_type(e) == GIT_OBJECT_TREE) {
			char *sub = xasprintf("%s/", path);
			rc = insert_tree(cx, eid, sub);
			free(sub);
		} else if (git_tree_entry_type(e) == GIT_OBJECT_BLOB && !oidset_has(&cx->seen, eid)) {
			if (oidset_add(&cx->seen, eid) < 0) {
				rc = ERR_GENERIC;
			} else {
				char *name = lineage_name(cx, eid, path);
				if (git_packbuilder_insert(cx->pb, eid, name) < 0)
					rc = store_git_error("reclaim: collecting objects");
				free(name);
			}
		}
		free(path);
	}
	git_tree_free(tree);
	return rc;
}

/* Every commit the walk yields, newest first, with its tree. */
static int insert_history(struct packctx *cx, git_revwalk *walk)
{
	git_oid id;
	int rc = 0, e;
	while (rc == 0 && (e = git_revwalk_next(&id, walk)) == 0) {
		git_commit *c = NULL;
		if ((rc = sig_check()) < 0)
			break;
		if (git_commit_lookup(&c, cx->repo, &id) < 0 || git_packbuilder_insert(cx->pb, &id, NULL) < 0)
			rc = store_git_error("reclaim: collecting objects");
		else
			rc = insert_tree(cx, git_commit_tree_id(c), "");
		git_commit_free(c);
	}
	if (rc == 0 && e != GIT_ITEROVER)
		rc = store_git_error("reclaim: walking history");
	return rc;
}

/* Packing a large repository takes minutes: a stop signal aborts it (the
 * half-written temp pack is libgit2's to remove, or step 1's next time). */
static int stop_on_signal(int stage, uint32_t current, uint32_t total, void *payload)
{
	(void)stage, (void)current, (void)total, (void)payload;
	return sig_pending() ? GIT_EUSER : 0;
}

/* A packer for repo, with the lineage cache loaded into cache. */
static int pack_begin(struct packctx *cx, git_repository *repo, struct lcache *cache)
{
	memset(cx, 0, sizeof(*cx));
	cx->repo = repo;
	cx->cache = cache;
	cx->out = cache;
	/* A small delta window: lineage_name makes a chunk's other versions its
	 * nearest neighbours, so a wide window mostly tries bases that cannot
	 * help (measured: 100 MB database, 24 s -> 17 s; 4 nights of a 15 MB
	 * one, 1.8% larger). The packer reads it from the repository's config;
	 * a value the user set is kept. */
	git_config *cfg = NULL;
	int64_t wm;
	if (git_repository_config(&cfg, repo) == 0) {
		if (git_config_get_int64(&wm, cfg, "pack.windowMemory") == GIT_ENOTFOUND)
			git_config_set_int64(cfg, "pack.windowMemory", 1024 * 1024);
		git_config_free(cfg);
	}
	git_error_clear();
	if (git_packbuilder_new(&cx->pb, repo) < 0)
		return store_git_error("reclaim: starting a pack");
	git_packbuilder_set_threads(cx->pb, 0);
	git_packbuilder_set_callbacks(cx->pb, stop_on_signal, NULL);
	return 0;
}

static void pack_end(struct packctx *cx)
{
	git_packbuilder_free(cx->pb);
	oidset_free(&cx->seen);
	memset(cx, 0, sizeof(*cx));
}

/* Writes the pack into packdir, fsyncs the .pack, the .idx and the
 * directory, and returns its base name ("pack-<hex>"). */
static int pack_write(struct packctx *cx, const char *packdir, size_t *objects, char **base)
{
	*base = NULL;
	if (git_packbuilder_write(cx->pb, packdir, 0, NULL, NULL) < 0)
		return sig_pending() ? sig_check() : store_git_error("reclaim: writing the pack");
	*objects = git_packbuilder_object_count(cx->pb);
	char *b = xasprintf("pack-%s", git_packbuilder_name(cx->pb));
	char *pack = xasprintf("%s/%s.pack", packdir, b);
	char *idx = xasprintf("%s/%s.idx", packdir, b);
	int rc = fsync_path(pack);
	if (rc == 0)
		rc = fsync_path(idx);
	if (rc == 0)
		rc = fsync_path(packdir);
	free(pack);
	free(idx);
	if (rc < 0)
		free(b);
	else
		*base = b;
	return rc;
}

/* Step 4. Writes the pack of everything reachable into packdir and
 * returns its base name, or NULL in *base if nothing is reachable. The
 * lineage cache keeps exactly the blobs named here: every live blob. */
static int write_pack(git_repository *repo, const char *packdir, const struct roots *r,
		      struct reclaim_result *res, char **base)
{
	struct packctx cx;
	struct lcache cache = {0}, fresh = {0};
	git_revwalk *walk = NULL;
	int rc = 0;
	*base = NULL;
	res->objects = 0;
	if (r->n_commits == 0 && r->n_others == 0)
		return 0;
	char *cpath = lcache_path(repo);
	lcache_load(&cache, cpath);
	if ((rc = pack_begin(&cx, repo, &cache)) < 0)
		goto out;
	cx.out = &fresh;
	if (git_revwalk_new(&walk, repo) < 0) {
		rc = store_git_error("reclaim: walking history");
		goto out;
	}
	for (size_t i = 0; i < r->n_commits; i++)
		if (git_revwalk_push(walk, &r->commits[i]) < 0) {
			rc = store_git_error("reclaim: walking history");
			goto out;
		}
	if ((rc = insert_history(&cx, walk)) < 0)
		goto out;
	for (size_t i = 0; i < r->n_others; i++)
		if (git_packbuilder_insert_recur(cx.pb, &r->others[i], NULL) < 0) {
			rc = store_git_error("reclaim: collecting objects");
			goto out;
		}
	res->names = cx.named;
	res->names_read = cx.read;
	if ((rc = pack_write(&cx, packdir, &res->objects, base)) < 0)
		goto out;
	lcache_save(&fresh, cpath);
out:
	git_revwalk_free(walk);
	pack_end(&cx);
	lcache_free(&cache);
	lcache_free(&fresh);
	free(cpath);
	return rc;
}

static void remove_pack(const char *packdir, const char *base)
{
	/* .idx first: without it neither git nor libgit2 opens the pack. */
	static const char *const ext[] = {".idx", ".pack", ".rev", ".bitmap", ".mtimes", ".promisor"};
	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		char *p = xasprintf("%s/%s%s", packdir, base, ext[i]);
		if (unlink(p) < 0 && errno != ENOENT)
			log_warn("reclaim: cannot remove %s: %s", p, strerror(errno));
		free(p);
	}
}

/* Adds tree id and everything below it to *v (once: seen). */
static int collect_tree(git_repository *repo, const git_oid *id, struct oidset *seen, git_oid **v, size_t *n)
{
	if (oidset_has(seen, id))
		return 0;
	if (oidset_add(seen, id) < 0 || push_oid(v, n, id) < 0)
		return -1;
	git_tree *t = NULL;
	if (git_tree_lookup(&t, repo, id) < 0)
		return store_git_error("reclaim: reading a tree");
	int rc = 0;
	for (size_t i = 0, cnt = git_tree_entrycount(t); rc == 0 && i < cnt; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(t, i);
		const git_oid *eid = git_tree_entry_id(e);
		if (git_tree_entry_type(e) == GIT_OBJECT_TREE)
			rc = collect_tree(repo, eid, seen, v, n);
		else if (git_tree_entry_type(e) == GIT_OBJECT_BLOB && !oidset_has(seen, eid))
			rc = oidset_add(seen, eid) < 0 || push_oid(v, n, eid) < 0 ? -1 : 0;
	}
	git_tree_free(t);
	return rc;
}

/* Step 4 with dbgit's own writer (packw.c): the largest pack's live
 * entries copied as they are (what no ref reaches is left out, unless a
 * live entry is a delta against it), the live objects of the other packs
 * and the loose ones added; no delta is computed again. Every commit is
 * in live (reachable_commits), so its trees and blobs are everything a
 * ref reaches when no ref names anything but commits. */
static int pack_live(struct store *st, const char *packdir, const struct strlist *packs, const struct oidset *live,
		     struct reclaim_result *res, char **new_base)
{
	git_repository *repo = store_git(st);
	struct oidset seen = {0};
	git_oid *v = NULL;
	size_t n = 0;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < live->cap; i++) {
		if (!live->used[i])
			continue;
		git_commit *c = NULL;
		if (push_oid(&v, &n, &live->slot[i]) < 0)
			rc = -1;
		else if (git_commit_lookup(&c, repo, &live->slot[i]) < 0)
			rc = store_git_error("reclaim: reading a snapshot");
		else
			rc = collect_tree(repo, git_commit_tree_id(c), &seen, &v, &n);
		git_commit_free(c);
	}
	/* the base: the largest pack that is not kept */
	const char *base = NULL;
	uint64_t best = 0;
	for (size_t i = 0; rc == 0 && i < packs->n; i++) {
		char *p = xasprintf("%s/%s.keep", packdir, packs->v[i]);
		int keep = fs_exists(p);
		free(p);
		if (keep)
			continue;
		p = xasprintf("%s/%s.pack", packdir, packs->v[i]);
		struct stat sb;
		if (stat(p, &sb) == 0 && (!base || (uint64_t)sb.st_size > best)) {
			base = packs->v[i];
			best = (uint64_t)sb.st_size;
		}
		free(p);
	}
	struct packw_result pr;
	if (rc == 0)
		rc = packw_write(repo, packdir, base, v, n, v, n, &st->lines, new_base, &pr);
	if (rc == 0) {
		res->objects = pr.objects;
		log_debug("reclaim: %zu objects copied, %zu left out, %zu added", pr.copied, pr.dropped, pr.added);
	}
	free(v);
	oidset_free(&seen);
	return rc;
}

int store_reclaim_ex(struct store *st, struct reclaim_result *res)
{
	git_repository *repo = store_git(st);
	git_buf objbuf = {0};
	struct strlist old_packs = {0}, loose = {0};
	struct roots roots = {0};
	struct oidset live = {0};
	char *objdir = NULL, *packdir = NULL, *new_base = NULL;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	if (git_repository_item_path(&objbuf, repo, GIT_REPOSITORY_ITEM_OBJECTS) < 0)
		return store_git_error("reclaim: locating objects");
	objdir = xstrdup(objbuf.ptr);
	git_buf_dispose(&objbuf);
	size_t ol = strlen(objdir);
	if (ol > 1 && objdir[ol - 1] == '/')
		objdir[ol - 1] = '\0';
	packdir = xasprintf("%s/pack", objdir);
	mkdir(packdir, 0700);
	res->bytes_before = disk_usage(objdir);

	sweep_pack_dir(packdir);
	if ((rc = note_existing(objdir, packdir, &old_packs, &loose)) < 0)
		goto out;
	if ((rc = collect_roots(repo, &roots)) < 0 || (rc = reachable_commits(repo, &roots, &live)) < 0)
		goto out;
	if (roots.n_commits == 0 && roots.n_others == 0) {
		/* No ref at all: an empty or damaged repository. Emptying it
		 * would be "correct" and never what anyone wants. */
		log_warn("reclaim: no refs in %s; nothing reclaimed", store_path(st));
		res->bytes_after = res->bytes_before;
		goto out;
	}
	if ((rc = sig_check()) < 0 || (rc = expire_reflogs(repo, &roots, &live, &res->reflog_dropped)) < 0)
		goto out;
	pause_at("reflog");

	rc = roots.n_others == 0 ? pack_live(st, packdir, &old_packs, &live, res, &new_base) : PACKW_FALLBACK;
	if (rc == PACKW_FALLBACK) {
		/* refs naming trees, blobs or tags, or a pack packw doubts:
		 * libgit2's packbuilder, which takes whatever the refs reach */
		log_debug("%s", err_last());
		err_clear();
		rc = write_pack(repo, packdir, &roots, res, &new_base);
	}
	if (rc < 0)
		goto out;
	if (new_base) {
		char *idx = xasprintf("%s/%s.idx", packdir, new_base);
		rc = check_new_pack(idx, &live, &roots);
		free(idx);
		if (rc < 0)
			goto out;
	}
	pause_at("packed");
	/* The last moment to stop with nothing deleted; then the refs and
	 * reflogs that decided what is live must be on disk before anything
	 * they do not reach goes. */
	if ((rc = sig_check()) < 0 || (rc = store_sync(st)) < 0)
		goto out;

	/* Optional caches that may name objects or packs about to go. */
	static const char *const caches[] = {"pack/multi-pack-index", "info/commit-graph",
					     "info/packs"};
	for (size_t i = 0; i < sizeof(caches) / sizeof(caches[0]); i++) {
		char *p = xasprintf("%s/%s", objdir, caches[i]);
		unlink(p);
		free(p);
	}
	char *graphs = xasprintf("%s/info/commit-graphs", objdir);
	fs_rmtree(graphs);
	free(graphs);

	for (size_t i = 0; i < old_packs.n; i++) {
		if (new_base && strcmp(old_packs.v[i], new_base) == 0)
			continue; /* the same objects packed the same way */
		char *keep = xasprintf("%s/%s.keep", packdir, old_packs.v[i]);
		int kept = fs_exists(keep);
		free(keep);
		if (!kept)
			remove_pack(packdir, old_packs.v[i]);
	}
	pause_at("deleting");
	for (size_t i = 0; i < loose.n; i++)
		if (unlink(loose.v[i]) < 0 && errno != ENOENT)
			log_warn("reclaim: cannot remove %s: %s", loose.v[i], strerror(errno));
	for (int i = 0; i < 256; i++) {
		char *sub = xasprintf("%s/%02x", objdir, i);
		rmdir(sub); /* only if empty */
		free(sub);
	}

	/* The repository handle still has the old packs open: give it a
	 * fresh object database so later steps (push) read the new pack. */
	git_odb *odb = NULL;
	if (git_odb_open(&odb, objdir) == 0) {
		if (git_repository_set_odb(repo, odb) < 0)
			git_error_clear();
		git_odb_free(odb);
	} else {
		git_error_clear();
	}
	res->bytes_after = disk_usage(objdir);
	log_info("reclaim: %zu objects in one pack, %llu -> %llu KiB; %zu blobs named, %zu of them read",
		 res->objects, (unsigned long long)(res->bytes_before / 1024),
		 (unsigned long long)(res->bytes_after / 1024), res->names, res->names_read);

out:
	oidset_free(&live);
	roots_free(&roots);
	strlist_free(&old_packs);
	strlist_free(&loose);
	free(new_base);
	free(packdir);
	free(objdir);
	return rc;
}

int store_reclaim(struct store *st)
{
	struct reclaim_result res;
	return store_reclaim_ex(st, &res);
}

static uint64_t dir_bytes(const char *dir, int packs)
{
	DIR *d = opendir(dir);
	uint64_t total = 0;
	struct dirent *e;
	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		size_t len = strlen(e->d_name);
		if (packs && (len < 5 || strcmp(e->d_name + len - 5, ".pack")))
			continue;
		char *path = xasprintf("%s/%s", dir, e->d_name);
		struct stat sb;
		if (stat(path, &sb) == 0)
			total += (uint64_t)sb.st_size;
		free(path);
	}
	closedir(d);
	return total;
}

/* The least loose data worth a pack: 32 MiB, or 1/32 of what is packed
 * if that is less (the nightly pack copies the pack: keep that copy
 * within 32 times the new data), but never under 1 MiB. The test build
 * may set it (DBGIT_TEST_LOOSE_MIN, bytes) so a test need not write
 * 32 MiB a night. */
static uint64_t loose_min(uint64_t packed)
{
#ifdef DBGIT_TEST_HOOKS
	const char *v = getenv("DBGIT_TEST_LOOSE_MIN");
	if (v && *v)
		return strtoull(v, NULL, 10);
#endif
	uint64_t least = 32ull * 1024 * 1024;
	if (packed / 32 < least)
		least = packed / 32;
	return least < 1024 * 1024 ? 1024 * 1024 : least;
}

int store_wants_pack(struct store *st)
{
	const char *gitdir = git_repository_path(store_git(st));
	uint64_t loose = 0;
	for (int i = 0; i < 256; i++) {
		char *dir = xasprintf("%s/objects/%02x", gitdir, i);
		loose += dir_bytes(dir, 0);
		free(dir);
	}
	char *packdir = xasprintf("%s/objects/pack", gitdir);
	uint64_t packed = dir_bytes(packdir, 1);
	free(packdir);
	if (loose < loose_min(packed))
		return 0;
	if (packed > 0)
		return 1;
	/* A single snapshot gains little from a pack (there is nothing to
	 * delta against) and packing it would double a first backup's time. */
	git_revwalk *walk = NULL;
	git_oid id;
	int commits = 0;
	if (git_revwalk_new(&walk, store_git(st)) == 0 && git_revwalk_push_glob(walk, "refs/heads/*") == 0)
		while (commits < 2 && git_revwalk_next(&id, walk) == 0)
			commits++;
	git_revwalk_free(walk);
	git_error_clear();
	return commits >= 2;
}

struct packinfo {
	char *base;
};

static int want_add(const git_oid *id, void *payload)
{
	return oidset_add(payload, id) < 0 ? -1 : 0;
}

/* Adds every object of the pack at idx_path to want. */
static int pack_objects(const char *idx_path, struct oidset *want)
{
	git_odb_backend *be = NULL;
	git_odb *odb = NULL;
	int rc = -1;
	if (git_odb_new(&odb) == 0 && git_odb_backend_one_pack(&be, idx_path) == 0) {
		if (git_odb_add_backend(odb, be, 1) == 0)
			rc = git_odb_foreach(odb, want_add, want);
		else
			be->free(be);
	}
	git_odb_free(odb);
	if (rc < 0)
		return store_git_error(idx_path);
	return 0;
}

/* The nightly pack: packw_write extends the largest pack with the loose
 * objects and the other packs (see packw.c), then, as the full reclaim's
 * steps 5-6, what it replaces is deleted once the new pack is in place
 * and checked. Nothing leaves the repository: objects only move into a
 * synced pack, so no ref needs to be durable first, and a kill anywhere
 * leaves duplicates at worst, which the next night packs away. */
static int append_pack(struct store *st, const char *objdir, const char *packdir, const struct strlist *loose,
		       const struct packinfo *packs, size_t n_packs, size_t base, struct pack_result *res)
{
	git_repository *repo = store_git(st);
	struct oidset want = {0};
	git_oid *add = NULL;
	char *new_base = NULL;
	size_t n_add = 0;
	int rc = 0;
	size_t ol = strlen(objdir);
	for (size_t i = 0; i < loose->n; i++) {
		/* "<objdir>/xx/<38 hex>", as note_existing built it */
		const char *p = loose->v[i] + ol + 1;
		char hex[GIT_OID_HEXSZ + 1];
		git_oid id;
		memcpy(hex, p, 2);
		memcpy(hex + 2, p + 3, GIT_OID_HEXSZ - 2);
		hex[GIT_OID_HEXSZ] = '\0';
		if (git_oid_fromstr(&id, hex) == 0 && oidset_add(&want, &id) < 0) {
			rc = -1;
			goto out;
		}
	}
	for (size_t i = 0; i < n_packs; i++) {
		if (i == base)
			continue;
		char *idx = xasprintf("%s/%s.idx", packdir, packs[i].base);
		rc = pack_objects(idx, &want);
		free(idx);
		if (rc < 0)
			goto out;
	}
	add = calloc(want.len ? want.len : 1, sizeof(*add));
	if (!add) {
		rc = err_set(ERR_GENERIC, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < want.cap; i++)
		if (want.used[i])
			add[n_add++] = want.slot[i];
	struct packw_result pr;
	rc = packw_write(repo, packdir, base < n_packs ? packs[base].base : NULL, add, n_add, NULL, 0, &st->lines,
			 &new_base, &pr);
	if (rc != 0)
		goto out;
	res->objects = pr.objects;
	res->copied = pr.copied;
	res->added = pr.added;
	res->whole = pr.whole;
	res->deltas = pr.deltas;
	res->rebased = pr.rebased;
	res->lines_read = pr.lines_read;
	pause_at("merged");
	if ((rc = sig_check()) < 0)
		goto out;

	/* The caches that list packs; commit-graph names commits, which all stay. */
	static const char *const caches[] = {"pack/multi-pack-index", "info/packs"};
	for (size_t i = 0; i < sizeof(caches) / sizeof(caches[0]); i++) {
		char *p = xasprintf("%s/%s", objdir, caches[i]);
		unlink(p);
		free(p);
	}
	for (size_t i = 0; i < n_packs; i++)
		if (strcmp(packs[i].base, new_base) != 0)
			remove_pack(packdir, packs[i].base);
	pause_at("merge-deleting");
	for (size_t i = 0; i < loose->n; i++)
		if (unlink(loose->v[i]) < 0 && errno != ENOENT)
			log_warn("pack: cannot remove %s: %s", loose->v[i], strerror(errno));
	for (int i = 0; i < 256; i++) {
		char *sub = xasprintf("%s/%02x", objdir, i);
		rmdir(sub); /* only if empty */
		free(sub);
	}
	git_odb *fresh = NULL;
	if (git_odb_open(&fresh, objdir) == 0) {
		if (git_repository_set_odb(repo, fresh) < 0)
			git_error_clear();
		git_odb_free(fresh);
	} else {
		git_error_clear();
	}
out:
	free(add);
	free(new_base);
	oidset_free(&want);
	return rc;
}

int store_maintain(struct store *st, int dropped, struct pack_result *res)
{
	struct pack_result scratch;
	git_repository *repo = store_git(st);
	struct strlist packs = {0}, loose = {0};
	struct packinfo *info = NULL;
	size_t n_info = 0;
	char *objdir = NULL, *packdir = NULL;
	const char *why = NULL;
	int rc = 0;

	if (!res)
		res = &scratch;
	memset(res, 0, sizeof(*res));
	if (dropped) {
		why = "snapshots were dropped";
		goto full;
	}
	if (!store_wants_pack(st))
		return 0;
	objdir = xasprintf("%sobjects", git_repository_path(repo));
	packdir = xasprintf("%s/pack", objdir);
	mkdir(packdir, 0700);
	sweep_pack_dir(packdir);
	if ((rc = note_existing(objdir, packdir, &packs, &loose)) < 0)
		goto out;
	info = calloc(packs.n + 1, sizeof(*info));
	if (!info) {
		rc = err_set(ERR_GENERIC, "out of memory");
		goto out;
	}
	/* .keep packs are the user's: left as they are (a full reclaim keeps
	 * them too). The base is the largest of the others, by bytes. */
	size_t kept = 0, base = SIZE_MAX;
	uint64_t base_bytes = 0;
	for (size_t i = 0; i < packs.n; i++) {
		char *p = xasprintf("%s/%s.keep", packdir, packs.v[i]);
		int keep = fs_exists(p);
		free(p);
		if (keep) {
			kept++;
			continue;
		}
		p = xasprintf("%s/%s.pack", packdir, packs.v[i]);
		struct stat sb;
		uint64_t bytes = stat(p, &sb) == 0 ? (uint64_t)sb.st_size : 0;
		free(p);
		if (base == SIZE_MAX || bytes > base_bytes) {
			base = n_info;
			base_bytes = bytes;
		}
		info[n_info++].base = packs.v[i];
	}
	res->kind = STORE_PACK_APPEND;
	res->loose = loose.n;
	res->packs_merged = n_info;
	rc = append_pack(st, objdir, packdir, &loose, info, n_info, base, res);
	if (rc == PACKW_FALLBACK) {
		log_debug("%s", err_last());
		why = "the pack could not be extended";
		goto full;
	}
	if (rc == 0) {
		res->packs_after = kept + 1;
		log_info("pack: %zu loose objects and %zu packs into one pack of %zu objects (%zu copied, "
			 "%zu new: %zu stored whole, %zu as deltas; %zu previous versions re-stored as deltas); "
			 "%zu packs; %zu chunks read to pair them",
			 res->loose, n_info, res->objects, res->copied, res->added, res->whole, res->deltas,
			 res->rebased, res->packs_after, res->lines_read);
	}
	goto out;
full:
	log_debug("pack: full repack: %s", why);
	memset(res, 0, sizeof(*res));
	res->kind = STORE_PACK_FULL;
	rc = store_reclaim_ex(st, &res->full);
	res->objects = res->full.objects;
	res->names = res->full.names;
	res->names_read = res->full.names_read;
	res->packs_after = rc == 0 ? 1 : 0;
out:
	free(info);
	strlist_free(&packs);
	strlist_free(&loose);
	free(packdir);
	free(objdir);
	return rc;
}
