/*
 * snap: snapshots as commits on a job branch. Committing moves the branch
 * with compare-and-swap after every object is written; reading lists,
 * resolves and streams snapshots back.
 */
#include <git2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dbgit/manifest.h"
#include "dbgit/store.h"
#include "dbgit/util.h"
#include "store_internal.h"

int snap_tip(struct store *st, const char *branch, char out[41])
{
	git_oid oid;
	out[0] = '\0';
	int rc = git_reference_name_to_id(&oid, st->repo, branch);
	if (rc == GIT_ENOTFOUND)
		return 0;
	if (rc < 0)
		return store_git_error(branch);
	git_oid_tostr(out, 41, &oid);
	return 0;
}

int snap_commit(struct store *st, const char *branch, const char *expected_parent,
		const char *tree_hex, const char *message, const char *author_name,
		const char *author_email, int64_t when, char commit_out[41])
{
	int rc = 0;
	git_tree *tree = NULL;
	git_commit *parent = NULL;
	git_signature *sig = NULL;
	git_reference *ref = NULL;
	git_oid tree_id, parent_id, commit_id;
	if (git_oid_fromstr(&tree_id, tree_hex) < 0 || git_tree_lookup(&tree, st->repo, &tree_id) < 0) {
		rc = store_git_error("snapshot tree");
		goto out;
	}
	if (expected_parent[0]) {
		if (git_oid_fromstr(&parent_id, expected_parent) < 0 ||
		    git_commit_lookup(&parent, st->repo, &parent_id) < 0) {
			rc = store_git_error(branch);
			goto out;
		}
	}
	if (git_signature_new(&sig, author_name, author_email, (git_time_t)when, 0) < 0) {
		rc = store_git_error("author");
		goto out;
	}
	const git_commit *parents[1] = {parent};
	if (git_commit_create(&commit_id, st->repo, NULL, sig, sig, NULL, message, tree, parent ? 1 : 0,
			      parents) < 0) {
		rc = store_git_error(branch);
		goto out;
	}
	if ((rc = store_sync(st)) < 0)
		goto out;
	char *log = xasprintf("dbgit: snapshot %.60s", message);
	int r = git_reference_create_matching(&ref, st->repo, branch, &commit_id, parent != NULL,
					      parent ? &parent_id : NULL, log);
	free(log);
	if (r < 0) {
		rc = err_set(ERR_GENERIC, "branch %s moved while this snapshot was taken; not committed (%s)",
			     branch, git_error_last() ? git_error_last()->message : "");
		goto out;
	}
	if ((rc = store_sync_ref(st, branch)) < 0)
		goto out;
	git_oid_tostr(commit_out, 41, &commit_id);
out:
	git_reference_free(ref);
	git_signature_free(sig);
	git_commit_free(parent);
	git_tree_free(tree);
	return rc;
}

/* An encrypted snapshot's manifest: opened with the store's key, which
 * must be the one the snapshot names. */
static int read_sealed_manifest(struct store *st, git_tree *tree, const char *commit_hex, const char *key_id,
				char **text, size_t *len)
{
	const struct crypt_key *key = st->key;
	if (snap_need_key(key, key_id, commit_hex) < 0)
		return ERR_VERIFY;
	const git_tree_entry *e = git_tree_entry_byname(tree, SNAP_MANIFEST_ENC);
	git_odb *odb = NULL;
	git_blob *blob = NULL;
	size_t size = 0;
	git_object_t type = GIT_OBJECT_INVALID;
	int rc = 0;
	char what[64];
	snprintf(what, sizeof(what), "snapshot %.12s: %s", commit_hex, MANIFEST_NAME);
	/* The size from the header, before the blob is read whole. */
	if (!e || git_tree_entry_type(e) != GIT_OBJECT_BLOB || git_repository_odb(&odb, st->repo) < 0 ||
	    git_odb_read_header(&size, &type, odb, git_tree_entry_id(e)) < 0) {
		rc = err_set(ERR_GENERIC, "snapshot %.12s has no readable %s", commit_hex, SNAP_MANIFEST_ENC);
	} else if (size > MANIFEST_MAX_TEXT) {
		rc = err_set(ERR_GENERIC, "snapshot %.12s: %s is larger than %u MiB", commit_hex, SNAP_MANIFEST_ENC,
			     MANIFEST_MAX_TEXT >> 20);
	} else if (git_blob_lookup(&blob, st->repo, git_tree_entry_id(e)) < 0) {
		rc = err_set(ERR_GENERIC, "snapshot %.12s has no readable %s", commit_hex, SNAP_MANIFEST_ENC);
	} else {
		struct buf plain = BUF_INIT;
		rc = crypt_open(key, CRYPT_MANIFEST, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob),
				MANIFEST_MAX_TEXT, what, &plain);
		if (rc == 0) {
			*len = plain.len;
			*text = plain.data ? plain.data : xstrdup("");
		} else {
			buf_free(&plain);
		}
	}
	git_blob_free(blob);
	git_odb_free(odb);
	return rc;
}

int snap_read_manifest_text(struct store *st, const char *commit_hex, char **text, size_t *len)
{
	*text = NULL;
	*len = 0;
	git_oid oid;
	git_object *c = NULL;
	git_tree *tree = NULL;
	git_tree_entry *e = NULL;
	git_blob *blob = NULL;
	git_odb *odb = NULL;
	int rc = 0;
	/* A commit, or the tree of a snapshot being verified before it is
	 * committed. */
	if (git_oid_fromstr(&oid, commit_hex) < 0 || git_object_lookup(&c, st->repo, &oid, GIT_OBJECT_ANY) < 0 ||
	    git_object_peel((git_object **)&tree, c, GIT_OBJECT_TREE) < 0) {
		rc = store_git_error(commit_hex);
		goto out;
	}
	char key_id[CRYPT_KEY_ID_LEN + 1];
	if ((rc = snap_tree_key_id(st->repo, tree, commit_hex, key_id)) < 0)
		goto out;
	if (key_id[0]) {
		rc = read_sealed_manifest(st, tree, commit_hex, key_id, text, len);
		goto out;
	}
	size_t size = 0;
	git_object_t type = GIT_OBJECT_INVALID;
	if (git_tree_entry_bypath(&e, tree, MANIFEST_NAME) < 0 || git_tree_entry_type(e) != GIT_OBJECT_BLOB ||
	    git_repository_odb(&odb, st->repo) < 0 ||
	    git_odb_read_header(&size, &type, odb, git_tree_entry_id(e)) < 0) {
		rc = err_set(ERR_GENERIC, "snapshot %.12s has no readable %s", commit_hex, MANIFEST_NAME);
		goto out;
	}
	/* Checked before the blob is read whole: it may come from anyone. */
	if (size > MANIFEST_MAX_TEXT) {
		rc = err_set(ERR_GENERIC, "snapshot %.12s: %s is larger than %u MiB", commit_hex, MANIFEST_NAME,
			     MANIFEST_MAX_TEXT >> 20);
		goto out;
	}
	if (git_blob_lookup(&blob, st->repo, git_tree_entry_id(e)) < 0) {
		rc = err_set(ERR_GENERIC, "snapshot %.12s has no readable %s", commit_hex, MANIFEST_NAME);
		goto out;
	}
	*len = (size_t)git_blob_rawsize(blob);
	*text = malloc(*len + 1);
	memcpy(*text, git_blob_rawcontent(blob), *len);
	(*text)[*len] = '\0';
out:
	git_odb_free(odb);
	git_blob_free(blob);
	git_tree_entry_free(e);
	git_tree_free(tree);
	git_object_free(c);
	return rc;
}

int snap_read_manifest(struct store *st, const char *commit_hex, struct manifest *out)
{
	memset(out, 0, sizeof(*out));
	char *text;
	size_t len;
	int rc = snap_read_manifest_text(st, commit_hex, &text, &len);
	if (rc < 0)
		return rc;
	char what[64];
	snprintf(what, sizeof(what), "snapshot %.12s: %s", commit_hex, MANIFEST_NAME);
	rc = manifest_parse(out, text, len, what);
	free(text);
	return rc;
}

int snap_walk(struct store *st, const char *branch, int with_manifest, snap_walk_cb cb, void *arg)
{
	git_oid oid;
	int r = git_reference_name_to_id(&oid, st->repo, branch);
	if (r == GIT_ENOTFOUND)
		return 0;
	if (r < 0)
		return store_git_error(branch);
	int rc = 0;
	/* One snapshot at a time: a branch of thousands costs the memory of
	 * one manifest. */
	for (;;) {
		git_commit *c = NULL;
		if (git_commit_lookup(&c, st->repo, &oid) < 0) {
			rc = store_git_error(branch);
			break;
		}
		struct snap_info s;
		memset(&s, 0, sizeof(s));
		git_oid_tostr(s.id, sizeof(s.id), &oid);
		git_oid_tostr(s.tree, sizeof(s.tree), git_commit_tree_id(c));
		s.time = (int64_t)git_commit_author(c)->when.time;
		int has_parent = git_commit_parentcount(c) > 0;
		if (has_parent)
			oid = *git_commit_parent_id(c, 0);
		git_commit_free(c);
		if (with_manifest) {
			s.manifest = calloc(1, sizeof(*s.manifest));
			if (snap_read_manifest(st, s.id, s.manifest) < 0) {
				/* A foreign commit on the branch, or a manifest that
				 * does not validate: listed as such, without manifest. */
				snprintf(s.error, sizeof(s.error), "%s", err_last());
				err_clear();
				free(s.manifest);
				s.manifest = NULL;
			}
		}
		rc = cb(arg, &s);
		manifest_free(s.manifest);
		free(s.manifest);
		if (rc != 0 || !has_parent)
			break;
	}
	return rc;
}

struct collect_list {
	struct snap_info *list;
	size_t len, cap;
};

static int collect_one(void *arg, const struct snap_info *s)
{
	struct collect_list *l = arg;
	if (l->len == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->list = realloc(l->list, l->cap * sizeof(*l->list));
	}
	l->list[l->len] = *s;
	/* Kept: moved out of the walk's hands. */
	((struct snap_info *)s)->manifest = NULL;
	l->len++;
	return 0;
}

int snap_list(struct store *st, const char *branch, struct snap_info **out, size_t *n)
{
	struct collect_list l = {NULL, 0, 0};
	int rc = snap_walk(st, branch, 1, collect_one, &l);
	if (rc < 0) {
		snap_list_free(l.list, l.len);
		*out = NULL;
		*n = 0;
		return rc;
	}
	*out = l.list;
	*n = l.len;
	return 0;
}

struct summary {
	struct snap_info *newest;
	size_t n;
};

static int count_one(void *arg, const struct snap_info *s)
{
	struct summary *sm = arg;
	if (sm->n++ == 0)
		*sm->newest = *s;
	return 0;
}

int snap_summary(struct store *st, const char *branch, struct snap_info *newest, size_t *n)
{
	struct summary sm = {newest, 0};
	memset(newest, 0, sizeof(*newest));
	*n = 0;
	int rc = snap_walk(st, branch, 0, count_one, &sm);
	if (rc < 0)
		return rc;
	*n = sm.n;
	if (sm.n) {
		newest->manifest = calloc(1, sizeof(*newest->manifest));
		if (snap_read_manifest(st, newest->id, newest->manifest) < 0) {
			snprintf(newest->error, sizeof(newest->error), "%s", err_last());
			err_clear();
			free(newest->manifest);
			newest->manifest = NULL;
		}
	}
	return 0;
}

void snap_info_clear(struct snap_info *s)
{
	manifest_free(s->manifest);
	free(s->manifest);
	s->manifest = NULL;
}

void snap_list_free(struct snap_info *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		manifest_free(list[i].manifest);
		free(list[i].manifest);
	}
	free(list);
}

int snap_resolve(struct store *st, const char *branch, const char *rev, char out[41])
{
	char tip[41];
	if (snap_tip(st, branch, tip) < 0)
		return ERR_GENERIC;
	if (!tip[0])
		return err_set(ERR_NOTFOUND, "no snapshots yet on branch %s", branch);
	if (!rev || !strcmp(rev, "latest") || !strcmp(rev, "HEAD")) {
		memcpy(out, tip, 41);
		return 0;
	}
	/* "HEAD~2" and "HEAD^" are relative to the job's branch, not HEAD. */
	char *spec = !strncmp(rev, "HEAD", 4) ? xasprintf("%s%s", branch, rev + 4) : xstrdup(rev);
	git_object *obj = NULL, *commit = NULL;
	int rc = 0;
	if (git_revparse_single(&obj, st->repo, spec) < 0 ||
	    git_object_peel(&commit, obj, GIT_OBJECT_COMMIT) < 0) {
		rc = err_set(ERR_NOTFOUND, "unknown revision '%s' on branch %s", rev, branch);
		goto out;
	}
	git_oid tip_id;
	git_oid_fromstr(&tip_id, tip);
	const git_oid *id = git_object_id(commit);
	if (!git_oid_equal(id, &tip_id) && git_graph_descendant_of(st->repo, &tip_id, id) != 1) {
		rc = err_set(ERR_NOTFOUND, "revision '%s' is not a snapshot on branch %s", rev, branch);
		goto out;
	}
	git_oid_tostr(out, 41, id);
out:
	git_object_free(commit);
	git_object_free(obj);
	free(spec);
	return rc;
}

struct at_time {
	int64_t t;
	char *out;
	int found;
};

static int at_or_before(void *arg, const struct snap_info *s)
{
	struct at_time *a = arg;
	if (s->time > a->t)
		return 0;
	memcpy(a->out, s->id, 41);
	a->found = 1;
	return 1; /* newest first: the first one at or before t */
}

int snap_resolve_time(struct store *st, const char *branch, int64_t t, char out[41])
{
	struct at_time a = {t, out, 0};
	if (snap_walk(st, branch, 0, at_or_before, &a) < 0)
		return ERR_GENERIC;
	int rc = a.found ? 0 : ERR_NOTFOUND;
	if (rc < 0) {
		char when[32];
		time_format_utc(t, when);
		return err_set(ERR_NOTFOUND, "no snapshot on branch %s at or before %s", branch, when);
	}
	return 0;
}

/* The source: every file of the snapshot in byte-wise plain path order,
 * each read (and opened, if encrypted) through files.c. */
struct snap_source {
	struct dump_source src; /* first */
	struct store *st;
	char commit[41];
	struct snap_file *files;
	size_t n, cur;
	const struct crypt_key *key; /* the snapshot's; NULL if plain */
	git_oid *expect;             /* encrypted: each file's blob by the manifest */
	struct snap_blob blob;
	size_t off;
	size_t max_blob; /* the largest file read whole (see snap_blob_read) */
};

#define MAX_NAME 255
#define MAX_PATH 4096

/* A path from the repository, fit for a message: control characters as
 * '?', cut short. */
static void printable(char *out, size_t cap, const char *root, const char *name)
{
	size_t n = 0;
	for (int part = 0; part < 2; part++)
		for (const char *p = part ? name : root; *p && n + 4 < cap; p++)
			out[n++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
	if (n + 4 >= cap)
		out[n++] = '.', out[n++] = '.', out[n++] = '.';
	out[n] = '\0';
}

/* A tree from a remote may hold what dbgit never writes: names that climb
 * out of a directory once checked out (git archive | tar), control
 * characters meant for a terminal, symlinks, submodules. A snapshot holds
 * files and directories with plain names; anything else is refused. */
int snap_check_entry(const char *commit, const char *root, const git_tree_entry *e)
{
	const char *name = git_tree_entry_name(e);
	git_filemode_t mode = git_tree_entry_filemode(e);
	const char *why = NULL;
	size_t len = strlen(name);
	if (!len || !strcmp(name, ".") || !strcmp(name, ".."))
		why = "is not a file name";
	else if (strchr(name, '/') || strchr(name, '\\'))
		why = "holds a path separator";
	else if (len > MAX_NAME || strlen(root) + len > MAX_PATH)
		why = "is too long";
	for (const char *p = name; !why && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			why = "holds a control character";
	if (!why && mode == GIT_FILEMODE_LINK)
		why = "is a symbolic link";
	else if (!why && mode == GIT_FILEMODE_COMMIT)
		why = "is a submodule";
	else if (!why && mode != GIT_FILEMODE_TREE && mode != GIT_FILEMODE_BLOB &&
		 mode != GIT_FILEMODE_BLOB_EXECUTABLE)
		why = "has an unknown file mode";
	if (!why)
		return 0;
	char shown[160];
	printable(shown, sizeof(shown), root, name);
	return err_set(ERR_VERIFY, "snapshot %.12s: tree entry '%s' %s; a snapshot holds plain files only",
		       commit, shown, why);
}

static int source_next(struct dump_source *d, const char **path)
{
	struct snap_source *s = (struct snap_source *)d;
	snap_blob_release(&s->blob);
	if (sig_check() < 0)
		return ERR_INTERRUPTED;
	if (s->cur >= s->n)
		return 0;
	struct snap_file *f = &s->files[s->cur++];
	int rc = snap_blob_read(s->st->repo, s->key, &f->id, s->max_blob, s->commit, f->path, &s->blob);
	if (rc < 0)
		return rc;
	if (s->expect && !git_oid_equal(&f->id, &s->expect[s->cur - 1]))
		return err_set(ERR_VERIFY, "snapshot %.12s: %s in its tree is not the file its manifest lists",
			       s->commit, f->path);
	s->off = 0;
	*path = f->path;
	return 1;
}

static ssize_t source_read(struct dump_source *d, void *buf, size_t len)
{
	struct snap_source *s = (struct snap_source *)d;
	if (!s->blob.data)
		return 0;
	/* Every restore reads through here: a stop signal ends it. */
	if (sig_check() < 0)
		return -1;
	size_t n = s->blob.len - s->off < len ? s->blob.len - s->off : len;
	memcpy(buf, s->blob.data + s->off, n);
	s->off += n;
	progress_add(n);
	return (ssize_t)n;
}

static int cmp_listed(const void *a, const void *b)
{
	return strcmp((*(const struct manifest_file *const *)a)->path, (*(const struct manifest_file *const *)b)->path);
}

/* An encrypted snapshot's tree is bound to its manifest, which is
 * authenticated: the same plain paths, each with the blob the manifest
 * lists. Each chunk authenticates alone, so without this a chunk moved to
 * another name, or one of an older snapshot put in its place, would go
 * unnoticed until the restored data was compared. The paths are compared
 * here, the blobs as each is read (source_next), after it authenticates:
 * a changed blob is then reported as such. */
static int match_manifest(struct store *st, struct snap_source *s)
{
	struct manifest m;
	int rc = snap_read_manifest(st, s->commit, &m);
	if (rc < 0)
		return rc;
	/* The manifest lists files in write order; the tree's are sorted. */
	const struct manifest_file **listed = calloc(m.n_files + 1, sizeof(*listed));
	for (size_t j = 0; j < m.n_files; j++)
		listed[j] = &m.files[j];
	qsort(listed, m.n_files, sizeof(*listed), cmp_listed);
	s->expect = calloc(s->n + 1, sizeof(*s->expect));
	size_t i = 0;
	for (; i < s->n && i < m.n_files; i++)
		if (strcmp(s->files[i].path, listed[i]->path) || git_oid_fromstr(&s->expect[i], listed[i]->blob) < 0)
			break;
	if (i < s->n || i < m.n_files) {
		const char *path = i < s->n ? s->files[i].path : listed[i]->path;
		rc = err_set(ERR_VERIFY, "snapshot %.12s: %s in its tree is not the file its manifest lists", s->commit,
			     path);
	}
	free(listed);
	manifest_free(&m);
	return rc;
}

int snap_source_new(struct dump_source **out, struct store *st, const char *commit_hex, size_t max_blob)
{
	return snap_source_new_only(out, st, commit_hex, max_blob, NULL, NULL);
}

int snap_source_new_only(struct dump_source **out, struct store *st, const char *commit_hex, size_t max_blob,
			 int (*want)(void *arg, const char *path), void *arg)
{
	struct snap_source *s = calloc(1, sizeof(*s));
	s->src.next = source_next;
	s->src.read = source_read;
	s->st = st;
	snprintf(s->commit, sizeof(s->commit), "%s", commit_hex);
	s->max_blob = max_blob > MANIFEST_MAX_TEXT ? max_blob : MANIFEST_MAX_TEXT;
	int rc = snap_files(st->repo, st->key, commit_hex, &s->files, &s->n, &s->key);
	if (rc == 0 && s->key)
		rc = match_manifest(st, s);
	if (rc < 0) {
		snap_source_free(&s->src);
		*out = NULL;
		return rc;
	}
	/* The others are never read from the repository. */
	if (want) {
		size_t kept = 0;
		for (size_t i = 0; i < s->n; i++) {
			if (want(arg, s->files[i].path)) {
				if (s->expect)
					s->expect[kept] = s->expect[i];
				s->files[kept++] = s->files[i];
			} else {
				free(s->files[i].path);
			}
		}
		s->n = kept;
	}
	*out = &s->src;
	return 0;
}

void snap_source_free(struct dump_source *d)
{
	struct snap_source *s = (struct snap_source *)d;
	if (!s)
		return;
	snap_blob_release(&s->blob);
	snap_files_free(s->files, s->n);
	free(s->expect);
	free(s);
}

struct quarantine {
	struct store *st;
	int moved;
};

static int quarantine_cb(const char *root, const git_tree_entry *e, void *payload)
{
	(void)root;
	struct quarantine *q = payload;
	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return 0;
	git_odb *odb = NULL;
	git_odb_object *obj = NULL;
	if (git_repository_odb(&odb, q->st->repo) < 0)
		return 0;
	int r = git_odb_read(&obj, odb, git_tree_entry_id(e));
	const git_error *ge = git_error_last();
	/* Damaged content only (a hash mismatch, a broken zlib stream): never
	 * move an object that is merely missing or unreadable for the OS. */
	int bad = r < 0 && r != GIT_ENOTFOUND && ge && (ge->klass == GIT_ERROR_ODB || ge->klass == GIT_ERROR_ZLIB);
	git_odb_object_free(obj);
	git_odb_free(odb);
	git_error_clear();
	if (!bad)
		return 0;
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), git_tree_entry_id(e));
	const char *gitdir = git_repository_path(q->st->repo);
	char *loose = xasprintf("%sobjects/%.2s/%s", gitdir, hex, hex + 2);
	char *dir = xasprintf("%sdbgit-quarantine", gitdir);
	char *dest = xasprintf("%s/%s", dir, hex);
	mkdir(dir, 0700);
	if (rename(loose, dest) == 0)
		q->moved++;
	free(loose), free(dir), free(dest);
	return 0;
}

int snap_quarantine_damaged(struct store *st, const char *tree_hex)
{
	git_oid oid;
	git_tree *tree = NULL;
	struct quarantine q = {st, 0};
	if (git_oid_fromstr(&oid, tree_hex) == 0 && git_tree_lookup(&tree, st->repo, &oid) == 0)
		git_tree_walk(tree, GIT_TREEWALK_PRE, quarantine_cb, &q);
	git_tree_free(tree);
	git_error_clear();
	return q.moved;
}
