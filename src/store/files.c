/*
 * files: the one place where a snapshot's contents meet git objects.
 * Every blob written (snap_blob_put), every blob read (snap_blob_read)
 * and every walk over a snapshot's files (snap_files) goes through here,
 * so encryption (crypt.c) is applied in exactly one spot and writer,
 * source, feed and diff stay the same for plain and encrypted snapshots.
 *
 * Whether a snapshot is encrypted is a property of its tree (the key
 * entry at its root), not of the configuration: older plain snapshots
 * stay readable once key_file is set, and an encrypted one is never read
 * as plain.
 *
 * Anything read from a repository is hostile: names are checked before
 * and after they are opened, walks are bounded in depth, blob sizes are
 * checked from the object header before a blob is read.
 */
#include <stdlib.h>
#include <string.h>

#include "dbgit/manifest.h"
#include "dbgit/store.h"
#include "dbgit/util.h"
#include "store_internal.h"

#define MAX_DEPTH    32
#define KEY_TEXT_MAX 256

char *snap_key_text(const struct crypt_key *key)
{
	return xasprintf("dbgit encrypted snapshot\nformat 1\nkey %s\n", key->id);
}

int snap_tree_key_id(git_repository *repo, const git_tree *root, const char *commit,
		     char id[CRYPT_KEY_ID_LEN + 1])
{
	id[0] = '\0';
	const git_tree_entry *e = git_tree_entry_byname(root, SNAP_KEY_NAME);
	if (!e)
		return 0;
	git_blob *b = NULL;
	int ok = git_tree_entry_type(e) == GIT_OBJECT_BLOB &&
		 git_blob_lookup(&b, repo, git_tree_entry_id(e)) == 0 && git_blob_rawsize(b) < KEY_TEXT_MAX;
	if (ok) {
		char text[KEY_TEXT_MAX + 1], want[KEY_TEXT_MAX + 1];
		size_t len = (size_t)git_blob_rawsize(b);
		memcpy(text, git_blob_rawcontent(b), len);
		text[len] = '\0';
		const char *k = strstr(text, "\nkey ");
		ok = k && strlen(k + 5) == CRYPT_KEY_ID_LEN + 1 &&
		     strspn(k + 5, "0123456789abcdef") == CRYPT_KEY_ID_LEN;
		if (ok) {
			memcpy(id, k + 5, CRYPT_KEY_ID_LEN);
			id[CRYPT_KEY_ID_LEN] = '\0';
			snprintf(want, sizeof(want), "dbgit encrypted snapshot\nformat 1\nkey %s\n", id);
			ok = !strcmp(text, want);
		}
	}
	git_blob_free(b);
	if (!ok) {
		id[0] = '\0';
		return err_set(ERR_VERIFY, "snapshot %.12s: %s is not a key entry this dbgit can read",
			       commit, SNAP_KEY_NAME);
	}
	return 0;
}

/* The key to open a snapshot encrypted under id with, or a one-line error
 * saying which key it needs. */
int snap_need_key(const struct crypt_key *key, const char *id, const char *commit)
{
	if (!key)
		return err_set(
		    ERR_VERIFY,
		    "snapshot %.12s is encrypted (key %s); set [repository] key_file to its key file", commit,
		    id);
	if (strcmp(key->id, id))
		return err_set(ERR_VERIFY,
			       "snapshot %.12s is encrypted with key %s, not with the key in %s (%s)", commit,
			       id, key->file, key->id);
	return 0;
}

struct walk {
	git_repository *repo;
	const struct crypt_key *key; /* NULL: plain names */
	const char *commit;
	struct snap_file *files;
	size_t n, cap;
};

static int plain_name_ok(const char *name)
{
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return 0;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '\\')
			return 0;
	return 1;
}

static int walk_tree(struct walk *w, const git_tree *tree, const char *prefix, int depth)
{
	if (depth > MAX_DEPTH)
		return err_set(ERR_VERIFY, "snapshot %.12s: directories nested deeper than %d", w->commit,
			       MAX_DEPTH);
	size_t count = git_tree_entrycount(tree);
	for (size_t i = 0; i < count; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const char *name = git_tree_entry_name(e);
		if (!depth && (!strcmp(name, MANIFEST_NAME) || !strcmp(name, SNAP_MANIFEST_ENC) ||
			       !strcmp(name, SNAP_KEY_NAME)))
			continue;
		if (snap_check_entry(w->commit, prefix, e) < 0)
			return ERR_VERIFY;
		char plain[256];
		if (w->key) {
			char what[64];
			snprintf(what, sizeof(what), "snapshot %.12s", w->commit);
			if (crypt_name_open(w->key, name, plain, what) < 0)
				return ERR_VERIFY;
			if (!plain_name_ok(plain))
				return err_set(ERR_VERIFY,
					       "snapshot %.12s: an encrypted tree entry holds a name no "
					       "snapshot has",
					       w->commit);
		} else {
			snprintf(plain, sizeof(plain), "%s", name);
		}
		char *path = xasprintf("%s%s", prefix, plain);
		int rc = 0;
		if (git_tree_entry_type(e) == GIT_OBJECT_TREE) {
			git_tree *sub = NULL;
			char *dir = xasprintf("%s/", path);
			if (git_tree_lookup(&sub, w->repo, git_tree_entry_id(e)) < 0)
				rc = store_git_error(path);
			else
				rc = walk_tree(w, sub, dir, depth + 1);
			git_tree_free(sub);
			free(dir);
			free(path);
			if (rc < 0)
				return rc;
			continue;
		}
		if (w->n == w->cap) {
			w->cap = w->cap ? 2 * w->cap : 64;
			w->files = realloc(w->files, w->cap * sizeof(*w->files));
		}
		w->files[w->n].path = path;
		w->files[w->n].id = *git_tree_entry_id(e);
		w->n++;
	}
	return 0;
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct snap_file *)a)->path, ((const struct snap_file *)b)->path);
}

int snap_files(git_repository *repo, const struct crypt_key *key, const char *rev, struct snap_file **out,
	       size_t *n, const struct crypt_key **key_used)
{
	*out = NULL;
	*n = 0;
	*key_used = NULL;
	git_oid oid;
	git_object *obj = NULL;
	git_tree *tree = NULL;
	struct walk w = {repo, NULL, rev, NULL, 0, 0};
	char id[CRYPT_KEY_ID_LEN + 1];
	int rc = 0;
	if (git_oid_fromstr(&oid, rev) < 0 || git_object_lookup(&obj, repo, &oid, GIT_OBJECT_ANY) < 0 ||
	    git_object_peel((git_object **)&tree, obj, GIT_OBJECT_TREE) < 0) {
		rc = store_git_error(rev);
		goto out;
	}
	if ((rc = snap_tree_key_id(repo, tree, rev, id)) < 0)
		goto out;
	if (id[0]) {
		if ((rc = snap_need_key(key, id, rev)) < 0)
			goto out;
		w.key = key;
	}
	if ((rc = walk_tree(&w, tree, "", 0)) < 0)
		goto out;
	/* Git orders a tree by its (sealed) names; readers want the plain
	 * byte-wise order, which is stream order. */
	qsort(w.files, w.n, sizeof(*w.files), cmp_file);
	for (size_t i = 1; i < w.n; i++)
		if (!strcmp(w.files[i - 1].path, w.files[i].path)) {
			rc = err_set(ERR_VERIFY, "snapshot %.12s: two tree entries are both %s", rev,
				     w.files[i].path);
			goto out;
		}
	*out = w.files;
	*n = w.n;
	*key_used = w.key;
	w.files = NULL;
	w.n = 0;
out:
	snap_files_free(w.files, w.n);
	git_tree_free(tree);
	git_object_free(obj);
	return rc;
}

void snap_files_free(struct snap_file *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(f[i].path);
	free(f);
}

int snap_blob_read(git_repository *repo, const struct crypt_key *key, const git_oid *id, size_t max,
		   const char *commit, const char *path, struct snap_blob *b)
{
	snap_blob_release(b);
	/* libgit2 inflates a blob whole: a few MB of compressed zeros pushed
	 * by someone else would cost gigabytes here. dbgit never writes a
	 * blob over max_blob_size (or a manifest over its own limit), so the
	 * size is checked from the object's header before it is read. A
	 * sealed blob is its compressed content plus zlib's worst case. */
	size_t size = 0, limit = key ? max + max / 256 + 1024 : max;
	git_object_t type = GIT_OBJECT_INVALID;
	git_odb *odb = NULL;
	int r = git_repository_odb(&odb, repo);
	if (r == 0)
		r = git_odb_read_header(&size, &type, odb, id);
	git_odb_free(odb);
	if (r == 0 && size > limit)
		return err_set(
		    ERR_VERIFY,
		    "%s (blob %.12s) holds %zu bytes, more than a snapshot file may (%zu: "
		    "max_blob_size, at least 16 MiB); raise max_blob_size if this job once wrote it",
		    path, git_oid_tostr_s(id), size, max);
	if (git_blob_lookup(&b->blob, repo, id) < 0) {
		const git_error *ge = git_error_last();
		return err_set(ERR_VERIFY, "cannot read %s (blob %.12s) from the repository: %s", path,
			       git_oid_tostr_s(id), ge ? ge->message : "");
	}
	const char *raw = git_blob_rawcontent(b->blob);
	size_t len = (size_t)git_blob_rawsize(b->blob);
	if (!key) {
		b->data = raw;
		b->len = len;
		return 0;
	}
	char what[MANIFEST_MAX_PATH + 64];
	snprintf(what, sizeof(what), "snapshot %.12s: %s", commit, path);
	int rc = crypt_open(key, CRYPT_CHUNK, raw, len, max, what, &b->plain);
	git_blob_free(b->blob);
	b->blob = NULL;
	if (rc < 0)
		return rc;
	b->data = b->plain.data ? b->plain.data : "";
	b->len = b->plain.len;
	return 0;
}

void snap_blob_release(struct snap_blob *b)
{
	git_blob_free(b->blob);
	b->blob = NULL;
	buf_free(&b->plain);
	b->data = NULL;
	b->len = 0;
}

int snap_blob_put(git_odb *odb, const struct crypt_key *key, enum crypt_kind kind, const void *data,
		  size_t len, git_oid *id, int *is_new)
{
	struct buf sealed = BUF_INIT;
	*is_new = 0;
	if (key) {
		if (crypt_seal(key, kind, data, len, &sealed) < 0)
			return ERR_GENERIC;
		data = sealed.data;
		len = sealed.len;
	}
	int rc = 0;
	if (git_odb_hash(id, data, len, GIT_OBJECT_BLOB) < 0) {
		rc = store_git_error("hashing a blob");
	} else if (!git_odb_exists(odb, id)) {
		if (git_odb_write(id, odb, data, len, GIT_OBJECT_BLOB) < 0)
			rc = store_git_error("writing a blob");
		else
			*is_new = 1;
	}
	buf_free(&sealed);
	return rc;
}

int snap_tree_path(const struct crypt_key *key, const char *path, char **out)
{
	*out = NULL;
	if (!key) {
		*out = xstrdup(path);
		return 0;
	}
	struct buf b = BUF_INIT;
	const char *p = path;
	for (;;) {
		size_t n = strcspn(p, "/");
		char comp[CRYPT_MAX_NAME_PLAIN + 2], sealed[256];
		if (n > CRYPT_MAX_NAME_PLAIN) {
			buf_free(&b);
			return err_set(
			    ERR_GENERIC,
			    "%s: a path component longer than %d bytes does not fit an encrypted snapshot",
			    path, CRYPT_MAX_NAME_PLAIN);
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		if (crypt_name_seal(key, comp, sealed) < 0) {
			buf_free(&b);
			return ERR_GENERIC;
		}
		buf_puts(&b, sealed);
		if (!p[n])
			break;
		buf_puts(&b, "/");
		p += n + 1;
	}
	*out = b.data;
	return 0;
}
