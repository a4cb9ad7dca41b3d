/* child: the server engines' client tools as child processes (child.h). */
#include "child.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int child_env_new(struct child_env *ce, const char *job, const char *const *drop_prefixes)
{
	memset(ce, 0, sizeof(*ce));
	ce->job = job;
	if (fs_mkdtemp(&ce->dir, "engine") < 0)
		return ERR_GENERIC;
	size_t n = 0;
	while (environ[n])
		n++;
	ce->envp = calloc(n + 16, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		int drop = 0;
		for (const char *const *p = drop_prefixes; p && *p && !drop; p++)
			drop = !strncmp(environ[i], *p, strlen(*p));
		if (!drop)
			ce->envp[ce->n_env++] = xstrdup(environ[i]);
	}
	return 0;
}

void child_env_set(struct child_env *ce, const char *name, const char *value)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < ce->n_env; i++)
		if (!strncmp(ce->envp[i], name, nl) && ce->envp[i][nl] == '=') {
			free(ce->envp[i]);
			ce->envp[i] = xasprintf("%s=%s", name, value);
			return;
		}
	ce->envp = realloc(ce->envp, (ce->n_env + 2) * sizeof(char *));
	ce->envp[ce->n_env++] = xasprintf("%s=%s", name, value);
	ce->envp[ce->n_env] = NULL;
}

int child_password_file(struct child_env *ce, const char *password_file, const char *prefix,
			void (*escape)(struct buf *b, const char *pw), char **out)
{
	*out = NULL;
	int fd = open(password_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat sb;
	if (fd < 0)
		return err_set(ERR_GENERIC, "job '%s': password_file %s: %s", ce->job, password_file, strerror(errno));
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return err_set(ERR_GENERIC, "job '%s': password_file %s is not a regular file", ce->job,
			       password_file);
	}
	/* As ssh does with keys: a secret others may read is refused. */
	if (sb.st_mode & 077) {
		close(fd);
		return err_set(ERR_GENERIC,
			       "job '%s': password_file %s is readable by group or others (mode %04o): chmod 600 it",
			       ce->job, password_file, (unsigned)(sb.st_mode & 07777));
	}
	char pw[4096];
	ssize_t n = read(fd, pw, sizeof(pw) - 1);
	close(fd);
	if (n < 0)
		return err_set(ERR_GENERIC, "job '%s': password_file %s: %s", ce->job, password_file, strerror(errno));
	pw[n] = '\0';
	/* One line: the password; a trailing newline is not part of it. */
	pw[strcspn(pw, "\r\n")] = '\0';
	struct buf b = BUF_INIT;
	buf_puts(&b, prefix ? prefix : "");
	if (escape)
		escape(&b, pw);
	else
		buf_puts(&b, pw);
	buf_puts(&b, "\n");
	explicit_bzero(pw, sizeof(pw));
	char *path = xasprintf("%s/pass", ce->dir);
	int wfd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int rc = 0;
	if (wfd < 0 || fs_write_all(wfd, b.data, b.len) < 0)
		rc = err_set(ERR_GENERIC, "job '%s': %s: %s", ce->job, path, strerror(errno));
	if (wfd >= 0)
		close(wfd);
	explicit_bzero(b.data, b.len);
	buf_free(&b);
	if (rc < 0)
		free(path);
	else
		*out = path;
	return rc;
}

void child_env_free(struct child_env *ce)
{
	for (size_t i = 0; i < ce->n_env; i++)
		free(ce->envp[i]);
	free(ce->envp);
	/* The password file goes with the directory. */
	if (ce->dir)
		fs_rmtree(ce->dir);
	free(ce->dir);
	memset(ce, 0, sizeof(*ce));
}

int child_start(struct child *c, struct child_env *ce, char *const argv[], int pipe_in, int pipe_out)
{
	memset(c, 0, sizeof(*c));
	c->in = c->out = -1;
	c->pid = -1;
	c->tool = argv[0];
	c->ce = ce;
	c->errpath = xasprintf("%s/stderr-%d", ce->dir, ce->n_err++);
	int in[2] = {-1, -1}, out[2] = {-1, -1};
	if ((pipe_in && pipe2(in, O_CLOEXEC) < 0) || (pipe_out && pipe2(out, O_CLOEXEC) < 0)) {
		int e = errno;
		if (in[0] >= 0)
			close(in[0]), close(in[1]);
		free(c->errpath);
		c->errpath = NULL;
		return err_set(ERR_GENERIC, "job '%s': pipe: %s", ce->job, strerror(e));
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	if (pipe_in)
		posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
	else
		posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	if (pipe_out)
		posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
	else
		posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, c->errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int e = posix_spawnp(&c->pid, argv[0], &fa, NULL, argv, ce->envp);
	posix_spawn_file_actions_destroy(&fa);
	if (pipe_in)
		close(in[0]);
	if (pipe_out)
		close(out[1]);
	c->in = pipe_in ? in[1] : -1;
	c->out = pipe_out ? out[0] : -1;
	if (e != 0) {
		c->pid = -1;
		/* Nothing to wait for: the caller need not call child_finish. */
		if (c->in >= 0)
			close(c->in);
		if (c->out >= 0)
			close(c->out);
		c->in = c->out = -1;
		unlink(c->errpath);
		free(c->errpath);
		c->errpath = NULL;
		if (e == ENOENT)
			return err_set(ERR_GENERIC, "job '%s': %s: not found in PATH (install the database's client tools)",
				       ce->job, argv[0]);
		return err_set(ERR_GENERIC, "job '%s': cannot run %s: %s", ce->job, argv[0], strerror(e));
	}
	return 0;
}

int child_write(struct child *c, const void *data, size_t len)
{
	sigset_t pipe_only, old;
	sigemptyset(&pipe_only);
	sigaddset(&pipe_only, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
	int rc = fs_write_all(c->in, data, len);
	if (rc < 0 && errno == EPIPE) {
		/* Take the SIGPIPE this write raised before unblocking. */
		struct timespec zero = {0, 0};
		while (sigtimedwait(&pipe_only, NULL, &zero) < 0 && errno == EINTR)
			;
		errno = EPIPE;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

void child_first_error(const struct child *c, char *out, size_t len)
{
	out[0] = '\0';
	FILE *f = c->errpath ? fopen(c->errpath, "re") : NULL;
	if (!f)
		return;
	char line[1024];
	/* The first line that says something (psql may print a blank one). */
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0]) {
			/* Cut to fit (a copy, not snprintf: -O2's truncation
			 * warning cannot see that cutting is the point). */
			size_t n = strlen(line);
			if (len == 0)
				break;
			if (n >= len)
				n = len - 1;
			memcpy(out, line, n);
			out[n] = '\0';
			break;
		}
	}
	fclose(f);
}

int child_finish(struct child *c, int failed)
{
	if (c->in >= 0)
		close(c->in);
	if (c->out >= 0)
		close(c->out);
	c->in = c->out = -1;
	int rc = 0;
	if (c->pid > 0) {
		/* Stopped by a signal, or the caller gave up: do not wait for a
		 * tool that may wait on the server. */
		if (failed || (sig_pending() && !c->cleanup))
			kill(c->pid, SIGTERM);
		int status = 0;
		while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
			;
		c->pid = -1;
		int bad = !WIFEXITED(status) || WEXITSTATUS(status) != 0;
		int stopped = sig_pending() && !c->cleanup;
		if (bad && !failed && !stopped) {
			char first[600];
			child_first_error(c, first, sizeof(first));
			size_t tl = strlen(c->tool);
			/* psql: error: ... names itself already */
			if (first[0] && !strncmp(first, c->tool, tl) && first[tl] == ':')
				rc = err_set(ERR_GENERIC, "job '%s': %s", c->ce->job, first);
			else if (first[0])
				rc = err_set(ERR_GENERIC, "job '%s': %s: %s", c->ce->job, c->tool, first);
			else
				rc = err_set(ERR_GENERIC, "job '%s': %s %s %d", c->ce->job, c->tool,
					     WIFEXITED(status) ? "exited with status" : "was killed by signal",
					     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		} else if (stopped && !failed) {
			rc = sig_check();
		}
	}
	if (c->errpath)
		unlink(c->errpath);
	free(c->errpath);
	c->errpath = NULL;
	return rc;
}

void line_reader_init(struct line_reader *r, int fd)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
}

int line_reader_next(struct line_reader *r, const char **line, size_t *len)
{
	for (;;) {
		char *nl = r->end > r->start ? memchr(r->buf.data + r->start, '\n', r->end - r->start) : NULL;
		if (nl) {
			*line = r->buf.data + r->start;
			*len = (size_t)(nl - *line) + 1;
			r->start += *len;
			return 1;
		}
		if (r->eof) {
			if (r->end > r->start) {
				*line = r->buf.data + r->start;
				*len = r->end - r->start;
				r->start = r->end;
				return 1;
			}
			return 0;
		}
		/* Keep the partial line at the front; grow only for a long one. */
		if (r->start > 0) {
			memmove(r->buf.data, r->buf.data + r->start, r->end - r->start);
			r->end -= r->start;
			r->start = 0;
		}
		if (r->buf.cap - r->end < 65536)
			buf_grow(&r->buf, r->end + 65536);
		ssize_t n = read(r->fd, r->buf.data + r->end, r->buf.cap - r->end);
		if (n < 0) {
			if (errno == EINTR) {
				int s = sig_check();
				if (s < 0)
					return s;
				continue;
			}
			return err_set(ERR_GENERIC, "reading a tool's output: %s", strerror(errno));
		}
		if (n == 0)
			r->eof = 1;
		r->end += (size_t)n;
	}
}

void line_reader_free(struct line_reader *r)
{
	buf_free(&r->buf);
}

/* 1: a live process, 0: none, -1: s is no pid. */
static int pid_alive(const char *s, size_t n)
{
	if (n == 0 || n > 9)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return -1;
	long pid = strtol(s, NULL, 10);
	if (pid <= 0)
		return -1;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

int child_scratch_abandoned(const char *name)
{
	if (strncmp(name, "dbgit_", 6))
		return 0;
	int pids = 0, alive = 0;
	for (const char *p = name + 6; *p;) {
		size_t len = strcspn(p, "_");
		int a = pid_alive(p, len);
		pids += a >= 0;
		alive += a == 1;
		p += len + (p[len] == '_');
	}
	return pids > 0 && alive == 0;
}
