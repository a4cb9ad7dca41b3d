/*
 * test_child: what the server engines share (src/engine/child.c). The line
 * reader gives lines back exactly (a last line without '\n', a line longer
 * than its buffer, NUL bytes); a password file that others may read is
 * refused and a good one becomes a 0600 file with the engine's escaping;
 * a missing tool and a failing tool give one line naming the job, the
 * latter with the tool's own first error line; a child whose stdin
 * closed makes a write fail, not a SIGPIPE.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../src/engine/child.h"
#include "check.h"

static void test_lines(void)
{
	int p[2];
	if (pipe(p) < 0)
		exit(2);
	char *big = malloc(200000);
	memset(big, 'x', 199999);
	big[199999] = '\n';
	if (write(p[1], "one\n\ntw\0o\n", 10) != 10 || write(p[1], big, 60000) != 60000 ||
	    write(p[1], big + 60000, 0) != 0)
		exit(2);
	pid_t pid = fork();
	if (pid == 0) {
		/* the rest of the long line, and a last line without '\n' */
		close(p[0]);
		if (write(p[1], big + 60000, 140000) != 140000 || write(p[1], "end", 3) != 3)
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	struct line_reader r;
	line_reader_init(&r, p[0]);
	const char *l;
	size_t n;
	CHECK(line_reader_next(&r, &l, &n) == 1 && n == 4 && !memcmp(l, "one\n", 4), "first line");
	CHECK(line_reader_next(&r, &l, &n) == 1 && n == 1 && l[0] == '\n', "empty line");
	CHECK(line_reader_next(&r, &l, &n) == 1 && n == 5 && !memcmp(l, "tw\0o\n", 5), "line with NUL");
	CHECK(line_reader_next(&r, &l, &n) == 1 && n == 200000 && !memcmp(l, big, 200000), "long line: %zu", n);
	CHECK(line_reader_next(&r, &l, &n) == 1 && n == 3 && !memcmp(l, "end", 3), "last line without newline");
	CHECK(line_reader_next(&r, &l, &n) == 0, "end");
	line_reader_free(&r);
	close(p[0]);
	free(big);
	waitpid(pid, NULL, 0);
}

static void colon_escape(struct buf *b, const char *pw)
{
	for (; *pw; pw++) {
		if (*pw == ':')
			buf_puts(b, "\\");
		buf_add(b, pw, 1);
	}
}

static void test_password(const char *dir)
{
	char *pf = xasprintf("%s/pw", dir);
	int fd = open(pf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, "se:cret\nignored\n", 16) != 16)
		exit(2);
	close(fd);
	chmod(pf, 0644);
	struct child_env ce;
	CHECK(child_env_new(&ce, "j", NULL) == 0, "env");
	char *out = NULL;
	CHECK(child_password_file(&ce, pf, "*:", colon_escape, &out) < 0 && out == NULL, "0644 refused");
	CHECK(strstr(err_last(), "readable by group or others") && strstr(err_last(), pf), "message: %s", err_last());
	err_clear();
	chmod(pf, 0600);
	CHECK(child_password_file(&ce, pf, "*:", colon_escape, &out) == 0 && out, "0600 taken: %s", err_last());
	struct stat sb;
	CHECK(out && stat(out, &sb) == 0 && (sb.st_mode & 0777) == 0600, "temp file 0600");
	char *text = NULL;
	CHECK(out && fs_read_small(out, &text, 100) == 0 && text && !strncmp(text, "*:se\\:cret", 11) && !strstr(text, "ignored"), "escaped: %s",
	      text ? text : "?");
	free(text);
	char *dirc = xstrdup(ce.dir);
	child_env_free(&ce);
	CHECK(!fs_exists(dirc), "scratch directory removed with the password file");
	free(dirc);
	free(out);
	free(pf);
}

static void test_tools(void)
{
	struct child_env ce;
	CHECK(child_env_new(&ce, "j", NULL) == 0, "env");
	struct child c;
	char *missing[] = {"dbgit-no-such-tool", NULL};
	CHECK(child_start(&c, &ce, missing, 0, 0) < 0, "missing tool fails");
	CHECK(strstr(err_last(), "job 'j': dbgit-no-such-tool: not found in PATH") != NULL, "%s", err_last());
	err_clear();
	child_finish(&c, 1);
	char *failing[] = {"sh", "-c", "echo; echo 'FATAL: no such role' >&2; echo second >&2; exit 3", NULL};
	CHECK(child_start(&c, &ce, failing, 0, 0) == 0, "start sh");
	CHECK(child_finish(&c, 0) < 0 && !strcmp(err_last(), "job 'j': sh: FATAL: no such role"), "%s", err_last());
	err_clear();
	char *gone[] = {"true", NULL};
	CHECK(child_start(&c, &ce, gone, 1, 0) == 0, "start true");
	usleep(200000);
	static char buf[1 << 17];
	CHECK(child_write(&c, buf, sizeof(buf)) < 0, "write to a child that has gone: an error, no SIGPIPE");
	CHECK(child_finish(&c, 0) == 0, "true exits 0");
	child_env_free(&ce);
}

int main(void)
{
	char *dir = NULL;
	if (fs_mkdtemp(&dir, "unit") < 0)
		return 2;
	test_lines();
	test_password(dir);
	test_tools();
	fs_rmtree(dir);
	free(dir);
	return CHECK_DONE();
}
