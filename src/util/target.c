/*
 * target: putting a restored file at the path a user named, safely.
 *
 * The protocol (restore, src/cycle.c):
 *   1. target_check: lstat, never following a symlink. Nothing there, or a
 *      regular file with --force, may go on; a symlink (dangling or not), a
 *      directory, a device, a FIFO or a socket is refused, force or not.
 *   2. target_temp: a private (0600) temp file beside the target, named
 *      ".<name>.dbgit-restore-<pid>-XXXXXX" so that a later restore can tell
 *      a temp left by a dead dbgit (swept) from one in use (kept).
 *   3. The caller writes, checks and fsyncs the temp file.
 *   4. target_replace: the replaced file's mode is kept; the target is
 *      looked at again; then without --force renameat2(RENAME_NOREPLACE),
 *      so that a file that appeared meanwhile is never clobbered, or with
 *      --force a plain rename. Only after the rename succeeded are the old
 *      database's -wal, -shm and -journal removed (regular files only):
 *      a failed restore leaves the target and its journals as they were.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "dbgit/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TEMP_TAG ".dbgit-restore-"

static const char *kind(mode_t m)
{
	if (S_ISLNK(m))
		return "a symbolic link";
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISSOCK(m))
		return "a socket";
	return "not a regular file";
}

/* The directory and the last component of target; dir is "." if none. */
static int split(const char *target, char **dir, const char **base)
{
	const char *slash = strrchr(target, '/');
	*base = slash ? slash + 1 : target;
	if (!**base || !strcmp(*base, ".") || !strcmp(*base, ".."))
		return err_set(ERR_USAGE, "%s: the target must name a file, not a directory", target);
	*dir = slash ? (slash == target ? xstrdup("/") : xasprintf("%.*s", (int)(slash - target), target))
		     : xstrdup(".");
	return 0;
}

int target_check(const char *target, int force, struct target_info *out)
{
	struct stat sb;
	memset(out, 0, sizeof(*out));
	char *dir;
	const char *base;
	if (split(target, &dir, &base) < 0)
		return ERR_USAGE;
	/* The folder is the user's to make: a typo there is a usage error,
	 * found before a snapshot is read. */
	const char *bad = NULL;
	if (stat(dir, &sb) < 0)
		bad = errno == ENOENT || errno == ENOTDIR ? "does not exist" : strerror(errno);
	else if (!S_ISDIR(sb.st_mode))
		bad = "is not a directory";
	if (bad) {
		err_set(ERR_USAGE, "%s: folder %s %s", target, dir, bad);
		free(dir);
		return ERR_USAGE;
	}
	free(dir);
	if (lstat(target, &sb) < 0) {
		if (errno == ENOENT)
			return 0;
		return err_set(ERR_GENERIC, "%s: %s", target, strerror(errno));
	}
	if (!S_ISREG(sb.st_mode))
		return err_set(ERR_USAGE, "%s is %s: dbgit restores only to a regular file or a new name",
			       target, kind(sb.st_mode));
	if (!force)
		return err_set(ERR_EXISTS, "%s exists; give --force to replace it", target);
	out->exists = 1;
	out->mode = sb.st_mode & 07777;
	out->uid = sb.st_uid;
	out->gid = sb.st_gid;
	return 0;
}

/* Removes temp files of restores into the same target whose dbgit is gone
 * (killed before it could clean up). */
static void sweep(const char *dir, const char *base)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	char *prefix = xasprintf(".%s" TEMP_TAG, base);
	size_t plen = strlen(prefix);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, prefix, plen))
			continue;
		char *end;
		long pid = strtol(e->d_name + plen, &end, 10);
		if (end == e->d_name + plen || *end != '-' || pid <= 0)
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue; /* alive, or not ours to judge */
		struct stat sb;
		if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode)) {
			unlinkat(dirfd(d), e->d_name, 0);
			log_info("removed %s/%s, left by an interrupted restore", dir, e->d_name);
		}
	}
	closedir(d);
	free(prefix);
}

int target_temp(const char *target, char **out)
{
	*out = NULL;
	char *dir;
	const char *base;
	if (split(target, &dir, &base) < 0)
		return ERR_USAGE;
	sweep(dir, base);
	/* The folder's real path, so that the temp file can be opened (by
	 * SQLite, by engine_concat_files) refusing a symlink at any step:
	 * in a folder others may write to, the temp file could otherwise be
	 * swapped for a symlink to any file, which the restore would write. */
	char *real = realpath(dir, NULL);
	char *tmp = xasprintf("%s/.%s" TEMP_TAG "%ld-XXXXXX", real ? real : dir, base, (long)getpid());
	free(real);
	free(dir);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		free(tmp);
		return err_set(ERR_GENERIC, "cannot create a file beside %s: %s", target, strerror(e));
	}
	close(fd);
	*out = tmp;
	return 0;
}

int target_replace(const char *tmp, const char *target, int force, const struct target_info *was)
{
	/* The temp file must still be the regular file the restore wrote:
	 * chmod/chown by name would follow a symlink put in its place. */
	int fd = open(tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat fsb;
	if (fd < 0 || fstat(fd, &fsb) < 0 || !S_ISREG(fsb.st_mode)) {
		int e = fd < 0 ? errno : EINVAL;
		if (fd >= 0)
			close(fd);
		return err_set(ERR_GENERIC, "%s: no longer the file the restore wrote: %s", tmp, strerror(e));
	}
	if (was->exists) {
		/* The database keeps who may read it. */
		if (fchmod(fd, was->mode) < 0) {
			int e = errno;
			close(fd);
			return err_set(ERR_GENERIC, "%s: cannot set mode %o: %s", tmp, (unsigned)was->mode,
				       strerror(e));
		}
		if (geteuid() == 0 && fchown(fd, was->uid, was->gid) < 0) {
			int e = errno;
			close(fd);
			return err_set(ERR_GENERIC, "%s: cannot set its owner: %s", tmp, strerror(e));
		}
	}
	close(fd);
	/* Again, just before: what is there now is what gets replaced. */
	struct stat sb;
	if (lstat(target, &sb) == 0 && !S_ISREG(sb.st_mode))
		return err_set(ERR_USAGE, "%s is %s: dbgit restores only to a regular file or a new name",
			       target, kind(sb.st_mode));
	if (force) {
		if (rename(tmp, target) < 0)
			return err_set(ERR_GENERIC, "cannot rename into %s: %s", target, strerror(errno));
	} else if (renameat2(AT_FDCWD, tmp, AT_FDCWD, target, RENAME_NOREPLACE) < 0) {
		int e = errno;
		if (e == EINVAL || e == ENOSYS) {
			/* A file system without RENAME_NOREPLACE: link(2)
			 * refuses an existing name just the same. */
			if (link(tmp, target) == 0) {
				unlink(tmp);
				e = 0;
			} else {
				e = errno;
			}
		}
		if (e == EEXIST)
			return err_set(ERR_EXISTS,
				       "%s appeared during the restore; kept it (give --force to replace it)",
				       target);
		if (e)
			return err_set(ERR_GENERIC, "cannot rename into %s: %s", target, strerror(e));
	}
	/* Journal files of the database replaced belong to it, not to the
	 * restored one: SQLite would replay a stale WAL into it. */
	static const char *const sides[] = {"-wal", "-shm", "-journal"};
	for (size_t i = 0; i < 3; i++) {
		char *side = xasprintf("%s%s", target, sides[i]);
		if (lstat(side, &sb) == 0 && S_ISREG(sb.st_mode))
			unlink(side);
		free(side);
	}
	fs_fsync_parent(target);
	return 0;
}
