/*
 * repo: opening and creating the repository, and the lock.
 *
 * The lock is an flock() on <repo>/dbgit.lock: the kernel drops it when the
 * process dies, so a crashed run never leaves a stale lock behind.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dbgit/store.h"
#include "dbgit/util.h"
#include "store_internal.h"

static void git_init_once(void)
{
	static int done;
	if (!done) {
		git_libgit2_init();
		/* Objects read back are checked against their ids, so a blob
		 * changed on disk is caught by verify and restore. */
		git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 1);
		/* No fsync per loose object (hundreds per snapshot): snap_commit
		 * flushes the whole file system once before it moves a ref. */
		git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 0);
		/* Bounded memory whatever the repository size: packs are read
		 * through small mapped windows, not mapped whole. */
		git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, (size_t)8 * 1024 * 1024);
		git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, (size_t)32 * 1024 * 1024);
		done = 1;
	}
}

int store_git_error(const char *what)
{
	const git_error *e = git_error_last();
	return err_set(ERR_GENERIC, "%s: %s", what, e && e->message ? e->message : "libgit2 error");
}

int store_init(const char *path, int *created)
{
	git_init_once();
	*created = 0;
	git_repository *repo = NULL;
	if (git_repository_open_ext(&repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE,
				    NULL) == 0) {
		git_repository_free(repo);
		return 0;
	}
	if (fs_exists(path) && !fs_is_dir(path))
		return err_set(ERR_USAGE, "repository %s exists and is not a directory", path);
	mode_t old = umask(077);
	int rc = git_repository_init(&repo, path, 1);
	umask(old);
	if (rc < 0)
		return store_git_error(path);
	chmod(path, 0700);
	git_config *cfg = NULL;
	if (git_repository_config(&cfg, repo) == 0) {
		/* Snapshots are immutable history: never let a stray gc prune
		 * what dbgit's own reclaim decides about. */
		git_config_set_string(cfg, "gc.auto", "0");
		git_config_set_bool(cfg, "core.logAllRefUpdates", 1);
		git_config_free(cfg);
	}
	git_repository_free(repo);
	*created = 1;
	return 0;
}

int store_open(struct store **out, const char *path)
{
	git_init_once();
	*out = NULL;
	if (!fs_exists(path))
		return err_set(ERR_USAGE, "repository %s does not exist (run 'dbgit init')", path);
	git_repository *repo = NULL;
	if (git_repository_open_ext(&repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE,
				    NULL) < 0)
		return err_set(ERR_USAGE, "%s is not a git repository (run 'dbgit init' or fix [repository] path)",
			       path);
	struct store *st = calloc(1, sizeof(*st));
	st->repo = repo;
	st->path = xstrdup(path);
	st->lock_fd = -1;
	*out = st;
	return 0;
}

void store_free(struct store *st)
{
	if (!st)
		return;
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	git_repository_free(st->repo);
	free(st->path);
	free(st);
}

/* A ref's .lock file older than a minute, found while this process holds
 * the repository lock, was left by a process killed in the middle of a ref
 * update: git would refuse that ref for ever after. Only dbgit writes this
 * repository, and never for a minute on end. */
static void remove_stale_lock(const char *path)
{
	struct stat sb;
	if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) && time(NULL) - sb.st_mtime > 60 && unlink(path) == 0)
		log_warn("removed a stale lock %s left by an interrupted run", path);
}

static void remove_stale_locks(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char *path = xasprintf("%s/%s", dir, e->d_name);
		size_t n = strlen(e->d_name);
		if (fs_is_dir(path))
			remove_stale_locks(path);
		else if (n > 5 && !strcmp(e->d_name + n - 5, ".lock"))
			remove_stale_lock(path);
		free(path);
	}
	closedir(d);
}

int store_lock(struct store *st)
{
	if (st->lock_fd >= 0)
		return 0;
	/* git_repository_path() ends in '/'. */
	char *file = xasprintf("%sdbgit.lock", git_repository_path(st->repo));
	int fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		int rc = err_set(e == EACCES || e == EROFS ? ERR_USAGE : ERR_GENERIC,
				 "cannot lock repository: %s: %s", file, strerror(e));
		free(file);
		return rc;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		int rc = err_set(ERR_LOCKED, "another dbgit is using repository %s (lock %s)", st->path, file);
		free(file);
		return rc;
	}
	/* Record who holds it, for a human looking at the file. */
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == 0)
		(void)!write(fd, pid, (size_t)n);
	free(file);
	st->lock_fd = fd;
	char *refs = xasprintf("%srefs", git_repository_path(st->repo));
	remove_stale_locks(refs);
	free(refs);
	char *packed = xasprintf("%spacked-refs.lock", git_repository_path(st->repo));
	remove_stale_lock(packed);
	free(packed);
	return 0;
}

int store_sync(struct store *st)
{
	int fd = open(git_repository_path(st->repo), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || syncfs(fd) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return err_set(ERR_GENERIC, "cannot flush repository %s to disk: %s", st->path, strerror(e));
	}
	close(fd);
	return 0;
}

const char *store_path(const struct store *st)
{
	return st->path;
}

struct git_repository *store_git(struct store *st)
{
	return st->repo;
}
