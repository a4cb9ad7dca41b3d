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
#include <signal.h>
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
		 * flushes the whole file system once before it moves a ref, and
		 * fsyncs the ref after (the protocol in store_internal.h). */
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
	if (st->lock_fd >= 0) {
		/* Let go cleanly: no pid left for the next holder to act on. */
		if (ftruncate(st->lock_fd, 0) < 0)
			log_debug("cannot empty %sdbgit.lock: %s", git_repository_path(st->repo), strerror(errno));
		close(st->lock_fd);
	}
	git_repository_free(st->repo);
	crypt_key_free(st->key);
	lcache_free(&st->lines);
	free(st->path);
	free(st);
}

void store_set_key(struct store *st, struct crypt_key *key)
{
	crypt_key_free(st->key);
	st->key = key;
}

const struct crypt_key *store_key(const struct store *st)
{
	return st->key;
}

int snap_key_id(struct store *st, const char *commit_hex, char id[CRYPT_KEY_ID_LEN + 1])
{
	git_oid oid;
	git_object *obj = NULL;
	git_tree *tree = NULL;
	int rc = 0;
	id[0] = '\0';
	if (git_oid_fromstr(&oid, commit_hex) < 0 || git_object_lookup(&obj, st->repo, &oid, GIT_OBJECT_ANY) < 0 ||
	    git_object_peel((git_object **)&tree, obj, GIT_OBJECT_TREE) < 0)
		rc = store_git_error(commit_hex);
	else
		rc = snap_tree_key_id(st->repo, tree, commit_hex, id);
	git_tree_free(tree);
	git_object_free(obj);
	return rc;
}

/*
 * Leftovers of a writer that died (kill -9, power cut, a second signal):
 * libgit2's objects/tmp_object_git2_*, pack temp files, a ref's .lock file
 * (git would refuse that ref for ever after). Only dbgit writes this
 * repository, and only under the lock, so once this process holds it such
 * a file is garbage if its writer is known gone - the previous holder left
 * its pid in dbgit.lock (a clean exit empties it) and no such process
 * exists, and the file is older than this lock - or, whoever wrote it, if
 * it is older than a minute (no step of dbgit keeps one that long).
 */
struct sweep {
	time_t locked_at;
	int holder_gone; /* the previous holder died without letting go */
};

static int is_lock(const char *name)
{
	size_t n = strlen(name);
	return n > 5 && !strcmp(name + n - 5, ".lock");
}

/* Temp files of libgit2 (loose objects, packs) and of git. */
static int is_temp(const char *name)
{
	return !strncmp(name, "tmp_object_git2_", 16) || !strncmp(name, "pack_git2_", 10) ||
	       !strncmp(name, "tmp_pack_", 9) || !strncmp(name, "tmp_idx_", 8) || is_lock(name);
}

static void sweep_file(const struct sweep *sw, const char *path)
{
	struct stat sb;
	if (lstat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
		return;
	time_t age = sw->locked_at - sb.st_mtime;
	if (!(age > 60 || (sw->holder_gone && age >= 0)))
		return;
	if (unlink(path) == 0)
		log_warn("removed a stale %s %s left by an interrupted run", is_lock(path) ? "lock" : "temp file",
			 path);
}

/* Files in dir (and, if deep, its subdirectories) that are leftovers. */
static void sweep_dir(const struct sweep *sw, const char *dir, int deep, int locks_only)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char *path = xasprintf("%s/%s", dir, e->d_name);
		/* lstat: a symlink under refs/ (to a shared folder, or to /)
		 * is not followed; nothing outside the repository is swept. */
		struct stat sb;
		if (deep && lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
			sweep_dir(sw, path, deep, locks_only);
		else if (locks_only ? is_lock(e->d_name) : is_temp(e->d_name))
			sweep_file(sw, path);
		free(path);
	}
	closedir(d);
}

static void sweep_leftovers(struct store *st, long previous_holder)
{
	struct sweep sw = {time(NULL), 0};
	if (previous_holder > 0 && previous_holder != (long)getpid() && kill((pid_t)previous_holder, 0) < 0 &&
	    errno == ESRCH)
		sw.holder_gone = 1;
	const char *gitdir = git_repository_path(st->repo);
	char *refs = xasprintf("%srefs", gitdir);
	char *objects = xasprintf("%sobjects", gitdir);
	char *pack = xasprintf("%sobjects/pack", gitdir);
	char *packed = xasprintf("%spacked-refs.lock", gitdir);
	char *logs = xasprintf("%slogs", gitdir);
	sweep_dir(&sw, refs, 1, 1);
	sweep_dir(&sw, logs, 1, 1);
	free(logs);
	sweep_dir(&sw, objects, 0, 0);
	sweep_dir(&sw, pack, 0, 0);
	sweep_file(&sw, packed);
	free(refs), free(objects), free(pack), free(packed);
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
	/* Who held it last: a pid still there means that run never let go. */
	char pid[32];
	ssize_t got = pread(fd, pid, sizeof(pid) - 1, 0);
	pid[got > 0 ? got : 0] = '\0';
	long previous = strtol(pid, NULL, 10);
	/* Record who holds it, for a human looking at the file. */
	int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == 0)
		(void)!pwrite(fd, pid, (size_t)n, 0);
	free(file);
	st->lock_fd = fd;
	sweep_leftovers(st, previous);
	return 0;
}

int store_check_writable(struct store *st, int *locked)
{
	*locked = 0;
	/* Where a snapshot's objects go: a file made and removed there is
	 * what a backup does first. */
	char *tmp = xasprintf("%sobjects/dbgit-check-XXXXXX", git_repository_path(st->repo));
	int fd = mkstemp(tmp);
	if (fd < 0) {
		int e = errno;
		char *dir = xasprintf("%sobjects", git_repository_path(st->repo));
		int rc = err_set(ERR_GENERIC, "repository %s is not writable: cannot create a file in %s: %s",
				 st->path, dir, strerror(e));
		free(dir);
		free(tmp);
		return rc;
	}
	close(fd);
	unlink(tmp);
	free(tmp);
	/* The lock, taken and let go at once, never waited for; its file is
	 * opened, not created, and its content (the last holder) left as is. */
	char *file = xasprintf("%sdbgit.lock", git_repository_path(st->repo));
	int rc = 0;
	fd = open(file, O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT)
		rc = err_set(ERR_GENERIC, "repository %s: cannot open its lock %s: %s", st->path, file,
			     strerror(errno));
	else if (fd >= 0 && st->lock_fd < 0) {
		if (flock(fd, LOCK_EX | LOCK_NB) < 0)
			*locked = 1;
		else
			flock(fd, LOCK_UN);
	}
	if (fd >= 0)
		close(fd);
	free(file);
	return rc;
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

static int fsync_file(const char *path, int optional)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (optional && errno == ENOENT)
			return 0;
		return err_set(ERR_GENERIC, "cannot open %s to flush it: %s", path, strerror(errno));
	}
	int rc = 0;
	if (fsync(fd) < 0)
		rc = err_set(ERR_GENERIC, "cannot flush %s to disk: %s", path, strerror(errno));
	close(fd);
	return rc;
}

int store_sync_ref(struct store *st, const char *refname)
{
	const char *gitdir = git_repository_path(st->repo);
	char *ref = xasprintf("%s%s", gitdir, refname);
	char *packed = xasprintf("%spacked-refs", gitdir);
	char *log = xasprintf("%slogs/%s", gitdir, refname);
	int rc;
	/* A repository dbgit did not create (git init --bare, a bare clone
	 * of a remote) may keep no reflog, and a packed ref no folder of
	 * its own: only what exists is flushed. */
	int loose = fs_exists(ref), has_log = fs_exists(log);
	if (loose)
		rc = fsync_file(ref, 0);
	else
		rc = fsync_file(packed, 0);
	if (rc == 0)
		rc = fsync_file(log, 1);
	if (rc == 0 && ((loose && fs_fsync_parent(ref) < 0) || (has_log && fs_fsync_parent(log) < 0) ||
			fs_fsync_parent(packed) < 0))
		rc = err_set(ERR_GENERIC, "cannot flush the directory of %s to disk: %s", ref, strerror(errno));
	free(ref);
	free(packed);
	free(log);
	return rc;
}

const char *store_path(const struct store *st)
{
	return st->path;
}

struct git_repository *store_git(struct store *st)
{
	return st->repo;
}
