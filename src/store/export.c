/*
 * export: a snapshot's plain files written out as a directory - exactly
 * the layout `git archive` gives of a plain snapshot, decrypted where the
 * snapshot is encrypted - so the README's git + sqlite3 recipe works on
 * it. The directory is built beside DIR and renamed into place only when
 * complete: DIR is never half written.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbgit/store.h"
#include "dbgit/util.h"

/* Creates the parents of rel under dir (mode 0700). Paths come from
 * snap_files: checked, no "." or ".." component, no separator inside. */
static int make_parents(const char *dir, const char *rel)
{
	char *path = xasprintf("%s/%s", dir, rel);
	int rc = 0;
	for (char *p = path + strlen(dir) + 1; rc == 0 && (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			rc = err_set(ERR_GENERIC, "%s: %s", path, strerror(errno));
		*p = '/';
	}
	free(path);
	return rc;
}

static int write_file(const char *dir, const char *rel, struct dump_source *src, const char *text, size_t len)
{
	if (make_parents(dir, rel) < 0)
		return ERR_GENERIC;
	char *path = xasprintf("%s/%s", dir, rel);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	int rc = 0;
	if (fd < 0) {
		rc = err_set(ERR_GENERIC, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (text) {
		if (fs_write_all(fd, text, len) < 0)
			rc = err_set(ERR_GENERIC, "%s: %s", path, strerror(errno));
	} else {
		char buf[65536];
		ssize_t n;
		while (rc == 0 && (n = src->read(src, buf, sizeof(buf))) != 0) {
			if (n < 0)
				rc = ERR_GENERIC;
			else if (fs_write_all(fd, buf, (size_t)n) < 0)
				rc = err_set(ERR_GENERIC, "%s: %s", path, strerror(errno));
		}
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = err_set(ERR_GENERIC, "%s: %s", path, strerror(errno));
	if (close(fd) < 0 && rc == 0)
		rc = err_set(ERR_GENERIC, "%s: %s", path, strerror(errno));
out:
	free(path);
	return rc;
}

/* Every file of the snapshot and its MANIFEST.json into the new
 * directory tmp. */
static int fill(struct store *st, const char *commit, const char *tmp, size_t max_blob, size_t *n_files)
{
	struct dump_source *src = NULL;
	char *text = NULL;
	size_t len = 0;
	int rc = snap_read_manifest_text(st, commit, &text, &len);
	if (rc == 0)
		rc = write_file(tmp, MANIFEST_NAME, NULL, text, len);
	free(text);
	if (rc == 0)
		rc = snap_source_new(&src, st, commit, max_blob);
	const char *path;
	int r = 0;
	while (rc == 0 && (r = src->next(src, &path)) > 0) {
		rc = write_file(tmp, path, src, NULL, 0);
		(*n_files)++;
	}
	if (rc == 0 && r < 0)
		rc = r;
	snap_source_free(src);
	return rc;
}

static int is_empty(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	struct dirent *e;
	int empty = 1;
	while (empty && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			empty = 0;
	closedir(d);
	return empty;
}

int snap_export(struct store *st, const char *commit, const char *dir, int force, size_t max_blob,
		size_t *n_files)
{
	*n_files = 0;
	struct stat sb;
	int replace = 0;
	if (lstat(dir, &sb) == 0) {
		if (!S_ISDIR(sb.st_mode))
			return err_set(ERR_EXISTS, "%s exists and is not a directory", dir);
		/* An empty one is replaced by the rename (rename(2) takes an
		 * empty directory's place), so nothing is removed before the
		 * export is complete. */
		int empty = is_empty(dir);
		if (empty < 0)
			return err_set(ERR_GENERIC, "%s: %s", dir, strerror(errno));
		if (!empty && !force)
			return err_set(ERR_EXISTS, "%s is not empty (--force replaces it)", dir);
		replace = !empty;
	} else if (errno != ENOENT) {
		return err_set(ERR_GENERIC, "%s: %s", dir, strerror(errno));
	}
	char *tmp = xasprintf("%s.dbgit-export-XXXXXX", dir);
	if (!mkdtemp(tmp)) {
		int rc = err_set(ERR_GENERIC, "%s: %s", tmp, strerror(errno));
		free(tmp);
		return rc;
	}
	char *old = replace ? xasprintf("%s.dbgit-old-%ld", dir, (long)getpid()) : NULL;
	int rc = fill(st, commit, tmp, max_blob, n_files);
	if (rc == 0 && replace && rename(dir, old) < 0)
		rc = err_set(ERR_GENERIC, "%s: %s", dir, strerror(errno));
	if (rc == 0 && rename(tmp, dir) < 0) {
		rc = err_set(ERR_GENERIC, "%s: %s", dir, strerror(errno));
		if (replace)
			rename(old, dir); /* put it back */
	}
	if (rc == 0)
		fs_fsync_parent(dir);
	if (rc < 0)
		fs_rmtree(tmp);
	else if (replace && fs_rmtree(old) < 0)
		log_warn("cannot remove %s (the directory --force replaced)", old);
	free(tmp);
	free(old);
	return rc;
}
