/* fs: small file helpers. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <unistd.h>

#include "dbgit/util.h"

int fs_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

int fs_is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int fs_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fs_read_small(const char *path, char **out, size_t max)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(ERR_GENERIC, "%s: %s", path, strerror(errno));
	char *data = malloc(max + 1);
	size_t len = 0;
	if (!data) {
		close(fd);
		return err_set(ERR_GENERIC, "out of memory");
	}
	for (;;) {
		ssize_t n = read(fd, data + len, max - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			free(data);
			close(fd);
			return err_set(ERR_GENERIC, "%s: %s", path, strerror(e));
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == max) {
			free(data);
			close(fd);
			return err_set(ERR_GENERIC, "%s: larger than %zu bytes", path, max);
		}
	}
	close(fd);
	if (len > 0 && data[len - 1] == '\n')
		len--;
	if (len > 0 && data[len - 1] == '\r')
		len--;
	data[len] = '\0';
	*out = data;
	return 0;
}

int fs_rmtree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char *sub = xasprintf("%s/%s", path, e->d_name);
		if (!sub || fs_rmtree(sub) < 0)
			rc = -1;
		free(sub);
	}
	closedir(d);
	if (rmdir(path) < 0)
		rc = -1;
	return rc;
}

static const char *tmp_root(void)
{
	const char *tmp = getenv("TMPDIR");
	return tmp && *tmp ? tmp : "/tmp";
}

int fs_mkdtemp(char **out, const char *tag)
{
	/* Its real path: files in it are opened without following any
	 * symlink (see target.c), which SQLite checks on every component. */
	char *root = realpath(tmp_root(), NULL);
	char *tpl = xasprintf("%s/dbgit-%s-%ld-XXXXXX", root ? root : tmp_root(), tag, (long)getpid());
	free(root);
	if (!mkdtemp(tpl)) {
		int e = errno;
		free(tpl);
		return err_set(ERR_GENERIC, "cannot create a temp directory: %s", strerror(e));
	}
	*out = tpl;
	return 0;
}

/* The owner's pid if name is one of fs_mkdtemp's ("dbgit-<tag>-<pid>-XXXXXX"),
 * else 0. */
static long scratch_owner(const char *name)
{
	if (strncmp(name, "dbgit-", 6) != 0)
		return 0;
	const char *p = name + 6;
	size_t tag = strspn(p, "abcdefghijklmnopqrstuvwxyz");
	if (tag == 0 || p[tag] != '-')
		return 0;
	p += tag + 1;
	size_t digits = strspn(p, "0123456789");
	if (digits == 0 || digits > 9 || p[digits] != '-' || strlen(p + digits + 1) != 6)
		return 0;
	return strtol(p, NULL, 10);
}

void fs_sweep_scratch(void)
{
	const char *root = tmp_root();
	DIR *d = opendir(root);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		long pid = scratch_owner(e->d_name);
		/* Only a dead owner's: a live dbgit (even another user's, which
		 * kill would answer EPERM for) keeps its scratch. */
		if (pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		char *path = xasprintf("%s/%s", root, e->d_name);
		struct stat st;
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == getuid()) {
			if (fs_rmtree(path) == 0)
				log_info("removed %s, left by an interrupted dbgit (pid %ld)", path, pid);
			else
				log_warn("cannot remove %s, left by an interrupted dbgit (pid %ld)", path, pid);
		}
		free(path);
	}
	closedir(d);
}

int fs_fsync_parent(const char *path)
{
	char *dir = xstrdup(path);
	if (!dir)
		return -1;
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

char *xstrdup(const char *s)
{
	if (!s)
		return NULL;
	char *p = strdup(s);
	if (!p)
		abort();
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *out = NULL;
	va_start(ap, fmt);
	if (vasprintf(&out, fmt, ap) < 0)
		abort();
	va_end(ap);
	return out;
}
