/*
 * child: what the server engines share - their client tools run as child
 * processes (argv built by the engine, never through a shell), with a
 * private scratch directory that holds the 0600 password file and each
 * tool's standard error, so that a failure is reported with the tool's own
 * first error line; and a line reader for a tool's output.
 */
#ifndef DBGIT_ENGINE_CHILD_H
#define DBGIT_ENGINE_CHILD_H

#include <stddef.h>
#include <sys/types.h>

#include "dbgit/config.h"
#include "dbgit/util.h"

/* One run of an engine's tools: scratch dir and the environment they get. */
struct child_env {
	const char *job;
	char *dir;    /* private (0700) scratch directory */
	char **envp;  /* environ, minus variables that would override ours, plus ours */
	size_t n_env;
	int n_err;    /* stderr files made so far */
};

int child_env_new(struct child_env *ce, const char *job, const char *const *drop_prefixes);
/* Adds NAME=VALUE to what the children get. */
void child_env_set(struct child_env *ce, const char *name, const char *value);
/* Reads the job's password_file (refused if group/other may read it or if
 * it is not a regular file) and writes the password into a 0600 file in
 * the scratch directory, escaped by escape (may be NULL); *out is its path. */
int child_password_file(struct child_env *ce, const char *password_file, const char *prefix,
			void (*escape)(struct buf *b, const char *pw), char **out);
void child_env_free(struct child_env *ce);

struct child {
	pid_t pid;
	int in;  /* write end of its stdin, or -1 */
	int out; /* read end of its stdout, or -1 */
	char *errpath;
	const char *tool;
	int cleanup; /* runs to its end even after a stop signal (dropping a scratch database) */
	const struct child_env *ce;
};

/* Starts argv[0] (searched in PATH) with stdin/stdout piped when asked
 * (else /dev/null), stderr into a file. A missing tool is a one-line error;
 * after a failure nothing is left to finish (child_finish is harmless). */
int child_start(struct child *c, struct child_env *ce, char *const argv[], int pipe_in, int pipe_out);
/* Closes its pipes, waits (a stop signal ends it). A non-zero exit (or
 * failed, when the caller already failed) sets the error: "job 'x': TOOL:
 * <its first error line>". Returns 0 or negative. */
int child_finish(struct child *c, int failed);
/* Writes to its stdin; a child that has gone away is -1 (EPIPE), not a
 * SIGPIPE that would end dbgit. */
int child_write(struct child *c, const void *data, size_t len);
/* The first line of its standard error so far ("" if none). */
void child_first_error(const struct child *c, char *out, size_t len);

/* Whether a scratch database name "dbgit_<job>_<pid>_<base>" was left by
 * a run that is gone: it has a number-only part and none of its
 * number-only parts is the pid of a live process on this host. Every
 * part, not just the one after the job's name: job "a" must never take
 * job "a_7"'s database for one of its own. */
int child_scratch_abandoned(const char *name);

/* Buffered reader of a child's output, one line at a time. */
struct line_reader {
	int fd;
	struct buf buf;
	size_t start, end;
	int eof;
};
void line_reader_init(struct line_reader *r, int fd);
/* *line (with its '\n', length *len) valid until the next call; 1 for a
 * line, 0 at the end (a last line without '\n' is returned first), <0 on
 * error or a stop signal. */
int line_reader_next(struct line_reader *r, const char **line, size_t *len);
void line_reader_free(struct line_reader *r);

#endif
