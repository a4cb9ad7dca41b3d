/*
 * thin: the pack a push sends, made thin.
 *
 * A night changes a little of nearly every chunk, and the remote already
 * holds each chunk's previous version (its tip is what it advertised). So
 * each changed blob or tree goes as a REF_DELTA against the entry at the
 * same path (or, for a renamed chunk, a neighbouring one) in the parent
 * commit's tree, when that delta is under half the
 * object's size; git's receive-pack completes such a pack with
 * `index-pack --fix-thin` (unpack-objects, for a small one, resolves the
 * bases from the repository), as it does for `git push` itself.
 *
 * What goes: every commit reachable from want and not from have (oldest
 * first), and the trees and blobs of each that the same directory of its
 * first parent's tree does not hold, under any name (a subtree with the
 * same id is skipped whole; a chunk renamed because a new boundary came
 * before it is not sent again). A blob's bases: the old blobs of about
 * its size near its name, following the renames (pick_bases). For a root commit the "parent" is the tree of have[0] (the
 * caller puts the remote's tip of the pushed branch first): a rewritten
 * history (rotation) shares its chunks with the one it replaces.
 *
 * Why that is complete: a parent is either reachable from have (on the
 * remote, with all its objects) or walked, and then sent earlier in this
 * pack; an object left out is in the parent's tree. A delta's base is an
 * entry of the parent's tree, so it is on the remote or in this pack.
 *
 * Memory: one walk collects the ids to send with their bases (40 bytes an
 * object: the count must be known before the pack header), then each
 * object is read, with its base, one at a time.
 */
#include <git2.h>
#include <stdlib.h>
#include <string.h>

#include "dbgit/store.h"
#include "dbgit/util.h"
#include "delta.h"
#include "packw.h"

/* Below this an object goes whole. A delta saves the network at most the
 * object's deflated size, while the remote pays for it: --fix-thin appends
 * each base, whole, to the pack it keeps (until its next gc). Worth it for
 * chunks (256 KiB) and the trees of big tables, not for a few KiB. */
#define THIN_DELTA_MIN (16u << 10)
/* Above this the object goes whole: the encoder holds both in memory. */
#define THIN_DELTA_MAX (64u << 20)

/* Candidate bases, best first (see pick_bases). */
#define THIN_BASES 3
struct thin_entry {
	git_oid id;
	git_oid base[THIN_BASES];
	int nbase;
};

struct thin {
	git_repository *repo;
	git_odb *odb;
	struct thin_entry *e;
	size_t n, cap;
	/* The ids already queued (open addressing), so that an object two
	 * paths or two commits share is sent once. */
	git_oid *set;
	unsigned char *used;
	size_t set_cap, set_n;
};

static const char *git_msg(void)
{
	const git_error *e = git_error_last();
	return e && e->message ? e->message : "unknown libgit2 error";
}

static size_t oid_hash(const git_oid *id, size_t cap)
{
	size_t h;
	memcpy(&h, id->id, sizeof(h));
	return h & (cap - 1);
}

static int set_grow(struct thin *t)
{
	size_t cap = t->set_cap ? t->set_cap * 2 : 1024;
	git_oid *set = calloc(cap, sizeof(*set));
	unsigned char *used = calloc(cap, 1);
	if (!set || !used) {
		free(set);
		free(used);
		return err_set(ERR_GENERIC, "out of memory");
	}
	for (size_t i = 0; i < t->set_cap; i++) {
		if (!t->used[i])
			continue;
		size_t h = oid_hash(&t->set[i], cap);
		while (used[h])
			h = (h + 1) & (cap - 1);
		used[h] = 1;
		git_oid_cpy(&set[h], &t->set[i]);
	}
	free(t->set);
	free(t->used);
	t->set = set;
	t->used = used;
	t->set_cap = cap;
	return 0;
}

/* 1 if id was new (now queued), 0 if already queued, negative on error. */
static int set_add(struct thin *t, const git_oid *id)
{
	if ((t->set_n + 1) * 2 > t->set_cap && set_grow(t) < 0)
		return -1;
	size_t h = oid_hash(id, t->set_cap);
	while (t->used[h]) {
		if (git_oid_equal(&t->set[h], id))
			return 0;
		h = (h + 1) & (t->set_cap - 1);
	}
	t->used[h] = 1;
	git_oid_cpy(&t->set[h], id);
	t->set_n++;
	return 1;
}

static int queue(struct thin *t, const git_oid *id, const git_oid *const *base, int nbase)
{
	int fresh = set_add(t, id);
	if (fresh <= 0)
		return fresh;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		struct thin_entry *e = realloc(t->e, cap * sizeof(*e));
		if (!e)
			return err_set(ERR_GENERIC, "out of memory");
		t->e = e;
		t->cap = cap;
	}
	struct thin_entry *x = &t->e[t->n++];
	git_oid_cpy(&x->id, id);
	x->nbase = 0;
	for (int i = 0; i < nbase && i < THIN_BASES; i++)
		git_oid_cpy(&x->base[x->nbase++], base[i]);
	return 0;
}

static int oid_order(const void *a, const void *b)
{
	return git_oid_cmp(a, b);
}

/* Where name is, or would be, among ot's entries (sorted by name). */
static size_t entry_pos(const git_tree *ot, const char *name)
{
	size_t lo = 0, hi = git_tree_entrycount(ot);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(git_tree_entry_name(git_tree_entry_byindex(ot, mid)), name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* What pick_bases keeps while it goes through one directory. */
struct dir_match {
	const git_tree *ot;
	size_t n;
	uint64_t *size; /* of ot's entries: SIZE_UNKNOWN until read, SIZE_NONE if not a blob */
	long shift;     /* old index - new name's index, as last matched */
};
#define SIZE_UNKNOWN UINT64_MAX
#define SIZE_NONE (UINT64_MAX - 1)
/* How far from the predicted name a base is looked for. */
#define THIN_WINDOW 3

static uint64_t old_size(struct thin *t, struct dir_match *m, size_t i)
{
	if (m->size[i] == SIZE_UNKNOWN) {
		const git_tree_entry *oe = git_tree_entry_byindex(m->ot, i);
		size_t sz;
		git_object_t type;
		m->size[i] = SIZE_NONE;
		if (git_tree_entry_type(oe) == GIT_OBJECT_BLOB &&
		    git_odb_read_header(&sz, &type, t->odb, git_tree_entry_id(oe)) == 0)
			m->size[i] = sz;
		git_error_clear();
	}
	return m->size[i];
}

/* The bases to try for the blob ne, best first. A table's chunks are
 * numbered in order, and a night that adds or removes a boundary renames
 * every chunk after it (one name up or down; several boundaries, several
 * names), while its changes move a chunk's size by a percent or so. So
 * the old version is the blob of about the same size near the name where
 * the last match puts it (m->shift, carried along the directory); a chunk
 * cut in two, or two merged, find their old chunk among the next
 * candidates. */
static int pick_bases(struct thin *t, struct dir_match *m, const git_tree_entry *ne, const git_oid **out)
{
	size_t want;
	git_object_t type;
	struct cand {
		size_t i;
		uint64_t dist;
	} c[2 * THIN_WINDOW + 1];
	int nc = 0;
	if (git_odb_read_header(&want, &type, t->odb, git_tree_entry_id(ne)) < 0) {
		git_error_clear();
		return 0; /* put() reports an object it cannot read */
	}
	long at = (long)entry_pos(m->ot, git_tree_entry_name(ne)) + m->shift;
	for (long i = at - THIN_WINDOW; i <= at + THIN_WINDOW; i++) {
		if (i < 0 || (size_t)i >= m->n)
			continue;
		uint64_t have = old_size(t, m, (size_t)i);
		if (have == SIZE_NONE)
			continue;
		struct cand x = {(size_t)i, have > want ? have - want : want - have};
		int j = nc++;
		while (j > 0 && c[j - 1].dist > x.dist) {
			c[j] = c[j - 1];
			j--;
		}
		c[j] = x;
	}
	/* Within 5%: the same chunk, changed a little; the next names follow it. */
	if (nc > 0 && c[0].dist * 20 <= want)
		m->shift = (long)c[0].i - (long)entry_pos(m->ot, git_tree_entry_name(ne));
	int k = 0;
	for (; k < nc && k < THIN_BASES; k++)
		out[k] = git_tree_entry_id(git_tree_entry_byindex(m->ot, c[k].i));
	return k;
}

/* Queues the tree nid and what under it old (NULL: none) does not hold. */
static int queue_tree(struct thin *t, const git_oid *nid, const git_oid *oid)
{
	if (oid && git_oid_equal(nid, oid))
		return 0;
	git_tree *nt = NULL, *ot = NULL;
	git_oid *held = NULL; /* the ids in old, sorted */
	size_t nheld = 0;
	struct dir_match m = {0};
	int rc = -1;
	if (git_tree_lookup(&nt, t->repo, nid) < 0) {
		err_set(ERR_GENERIC, "push: cannot read tree %s: %s", git_oid_tostr_s(nid), git_msg());
		goto out;
	}
	if (oid && git_tree_lookup(&ot, t->repo, oid) < 0) {
		err_set(ERR_GENERIC, "push: cannot read tree %s: %s", git_oid_tostr_s(oid), git_msg());
		goto out;
	}
	if (queue(t, nid, oid ? &oid : NULL, oid ? 1 : 0) < 0)
		goto out;
	if (ot && (nheld = git_tree_entrycount(ot)) > 0) {
		/* A chunk the remote has under another name (the chunks after
		 * a new boundary are renamed, not changed) is not sent. */
		if (!(held = malloc(nheld * sizeof(*held)))) {
			err_set(ERR_GENERIC, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < nheld; i++)
			git_oid_cpy(&held[i], git_tree_entry_id(git_tree_entry_byindex(ot, i)));
		qsort(held, nheld, sizeof(*held), oid_order);
		m.ot = ot;
		m.n = nheld;
		if (!(m.size = malloc(nheld * sizeof(*m.size)))) {
			err_set(ERR_GENERIC, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < nheld; i++)
			m.size[i] = SIZE_UNKNOWN;
	}
	for (size_t i = 0, n = git_tree_entrycount(nt); i < n; i++) {
		const git_tree_entry *ne = git_tree_entry_byindex(nt, i);
		const git_tree_entry *oe = ot ? git_tree_entry_byname(ot, git_tree_entry_name(ne)) : NULL;
		git_object_t nty = git_tree_entry_type(ne);
		git_object_t oty = oe ? git_tree_entry_type(oe) : GIT_OBJECT_INVALID;
		if (held && bsearch(git_tree_entry_id(ne), held, nheld, sizeof(*held), oid_order))
			continue; /* the remote has it, and all under it */
		if (nty == GIT_OBJECT_TREE) {
			if (queue_tree(t, git_tree_entry_id(ne), oty == GIT_OBJECT_TREE ? git_tree_entry_id(oe) : NULL) < 0)
				goto out;
		} else if (nty == GIT_OBJECT_BLOB) {
			const git_oid *bases[THIN_BASES];
			int nb = m.ot ? pick_bases(t, &m, ne, bases) : 0;
			if (queue(t, git_tree_entry_id(ne), bases, nb) < 0)
				goto out;
		}
		/* A gitlink (commit) names no object of this repository. */
	}
	rc = 0;
out:
	free(held);
	free(m.size);
	git_tree_free(nt);
	git_tree_free(ot);
	return rc;
}

static int collect(struct thin *t, const git_oid *want, size_t nw, const git_oid *have, size_t nh)
{
	git_revwalk *w = NULL;
	git_odb *odb = NULL;
	git_commit *root_base = NULL;
	int rc = -1, r;
	if (git_repository_odb(&odb, t->repo) < 0 || git_revwalk_new(&w, t->repo) < 0) {
		err_set(ERR_GENERIC, "push: %s", git_msg());
		goto out;
	}
	t->odb = odb;
	/* Parents before children: a delta's base in this pack comes first. */
	git_revwalk_sorting(w, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
	for (size_t i = 0; i < nw; i++)
		if (git_revwalk_push(w, &want[i]) < 0) {
			err_set(ERR_GENERIC, "push: cannot walk from %s: %s", git_oid_tostr_s(&want[i]), git_msg());
			goto out;
		}
	/* A tip the remote has that is not here (someone else's) hides
	 * nothing: the caller's lease has already decided about it. */
	for (size_t i = 0; i < nh; i++)
		if (git_odb_exists(odb, &have[i]) && git_revwalk_hide(w, &have[i]) < 0) {
			err_set(ERR_GENERIC, "push: cannot walk: %s", git_msg());
			goto out;
		}
	if (nh > 0 && git_odb_exists(odb, &have[0]) && git_commit_lookup(&root_base, t->repo, &have[0]) < 0)
		git_error_clear(); /* not a commit: a root commit goes whole */
	git_oid id;
	while ((r = git_revwalk_next(&id, w)) == 0) {
		git_commit *c = NULL, *p = NULL;
		if (git_commit_lookup(&c, t->repo, &id) < 0) {
			err_set(ERR_GENERIC, "push: cannot read commit %s: %s", git_oid_tostr_s(&id), git_msg());
			goto out;
		}
		const git_oid *ptree = NULL;
		if (git_commit_parentcount(c) > 0) {
			if (git_commit_parent(&p, c, 0) < 0) {
				err_set(ERR_GENERIC, "push: cannot read the parent of %s: %s", git_oid_tostr_s(&id),
					git_msg());
				git_commit_free(c);
				goto out;
			}
			ptree = git_commit_tree_id(p);
		} else if (root_base) {
			ptree = git_commit_tree_id(root_base);
		}
		int q = queue(t, &id, NULL, 0);
		if (q == 0)
			q = queue_tree(t, git_commit_tree_id(c), ptree);
		git_commit_free(p);
		git_commit_free(c);
		if (q < 0)
			goto out;
	}
	if (r != GIT_ITEROVER) {
		err_set(ERR_GENERIC, "push: cannot walk: %s", git_msg());
		goto out;
	}
	rc = 0;
out:
	git_commit_free(root_base);
	git_revwalk_free(w);
	t->odb = NULL;
	git_odb_free(odb);
	return rc;
}

/* dst as a delta against the object base: 0 and the delta in dbuf when
 * it is under max bytes, 1 when not, negative on error. */
static int try_delta(git_odb *odb, const git_oid *base, git_odb_object *dst, size_t max, struct buf *dbuf)
{
	git_odb_object *b = NULL;
	size_t len = git_odb_object_size(dst);
	if (git_odb_read(&b, odb, base) < 0)
		return err_set(ERR_GENERIC, "push: cannot read object %s: %s", git_oid_tostr_s(base), git_msg());
	int d = 1;
	if (git_odb_object_type(b) == git_odb_object_type(dst) && git_odb_object_size(b) <= THIN_DELTA_MAX)
		d = delta_create(git_odb_object_data(b), git_odb_object_size(b), git_odb_object_data(dst), len,
				 max, dbuf);
	if (d == 0 && dbuf->len >= max)
		d = 1;
	git_odb_object_free(b);
	return d;
}

/* Writes one entry: a delta against a base when that is worth it (under
 * half its size): the first candidate's when it is small, else the
 * smallest the candidates give (a chunk cut in two or merged has no
 * exact old version; a neighbour of about its size may share only part). */
static int put(git_odb *odb, struct packw_stream *s, const struct thin_entry *x, struct buf *dbuf,
	       struct buf *best, struct thin_stats *st)
{
	git_odb_object *o = NULL;
	int rc = 0, at = -1;
	if (git_odb_read(&o, odb, &x->id) < 0)
		return err_set(ERR_GENERIC, "push: cannot read object %s: %s", git_oid_tostr_s(&x->id), git_msg());
	size_t len = git_odb_object_size(o);
	if (len >= THIN_DELTA_MIN && len <= THIN_DELTA_MAX)
		for (int i = 0; i < x->nbase; i++) {
			int d = try_delta(odb, &x->base[i], o, at < 0 ? len / 2 : best->len, dbuf);
			if (d < 0) {
				rc = d;
				goto out;
			}
			if (d == 0) {
				struct buf tmp = *best;
				*best = *dbuf;
				*dbuf = tmp;
				at = i;
				if (best->len < len / 16)
					break; /* good enough: no need to try the others */
			}
		}
	if (at >= 0) {
		rc = packw_stream_ref_delta(s, &x->base[at], best->data, best->len);
		if (rc == 0)
			st->deltas++;
	} else {
		rc = packw_stream_whole(s, git_odb_object_type(o), git_odb_object_data(o), len);
		if (rc == 0)
			st->whole++;
	}
out:
	git_odb_object_free(o);
	return rc;
}

int store_thin_pack(struct git_repository *repo, const struct git_oid *want, size_t nw, const struct git_oid *have,
		    size_t nh, int (*write)(void *payload, const void *data, size_t len), void *payload,
		    struct thin_stats *st)
{
	struct thin t = {.repo = repo};
	struct packw_stream *s = NULL;
	struct buf dbuf = BUF_INIT, best = BUF_INIT;
	git_odb *odb = NULL;
	int rc;
	memset(st, 0, sizeof(*st));
	if ((rc = collect(&t, want, nw, have, nh)) < 0)
		goto out;
	if (t.n > UINT32_MAX) {
		rc = err_set(ERR_GENERIC, "push: %zu objects are more than one pack holds", t.n);
		goto out;
	}
	if (git_repository_odb(&odb, repo) < 0) {
		rc = err_set(ERR_GENERIC, "push: %s", git_msg());
		goto out;
	}
	if ((rc = packw_stream_new(&s, (uint32_t)t.n, write, payload)) < 0)
		goto out;
	for (size_t i = 0; i < t.n && rc == 0; i++) {
		rc = put(odb, s, &t.e[i], &dbuf, &best, st);
		st->objects = st->deltas + st->whole;
		st->bytes = packw_stream_bytes(s);
	}
	if (rc == 0)
		rc = packw_stream_finish(s);
	st->bytes = packw_stream_bytes(s);
out:
	packw_stream_free(s);
	git_odb_free(odb);
	buf_free(&dbuf);
	buf_free(&best);
	free(t.e);
	free(t.set);
	free(t.used);
	return rc;
}
