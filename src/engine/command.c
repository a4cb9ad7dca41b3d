/*
 * command engine: any tool that writes a dump to its standard output
 * (`engine = "command"`, `command = "pg_dump --no-owner app"`). dbgit
 * stores the stream as chunks of dump.out, and verifies what it can know
 * without the tool: the stream read back from the repository has the same
 * length, line count and SHA-256 as the stream the command wrote. Restore
 * writes the stream to a file, for the tool's own restore.
 *
 * The command runs through /bin/sh; its standard error passes through (cron
 * mails it). A non-zero exit fails the job: a dump cut short is never kept.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dbgit/engine.h"

#define STREAM_FILE "dump.out"

extern char **environ;

/* Lines and SHA-256 of a stream, fed piece by piece. */
struct stream_sum {
	struct sha256 *h;
	int64_t bytes, lines;
};

static void sum_add(struct stream_sum *s, const char *p, size_t n)
{
	sha256_update(s->h, p, n);
	s->bytes += (int64_t)n;
	for (const char *q = p; (q = memchr(q, '\n', n - (size_t)(q - p))) != NULL; q++)
		s->lines++;
}

static void sum_summary(struct stream_sum *s, cJSON *info)
{
	char hex[65];
	sha256_final_hex(s->h, hex);
	s->h = NULL;
	cJSON *tables = cJSON_AddArrayToObject(info, "tables");
	cJSON *o = cJSON_CreateObject();
	/* One "table": the stream; its rows are its lines. */
	cJSON_AddStringToObject(o, "name", STREAM_FILE);
	cJSON_AddNumberToObject(o, "rows", (double)s->lines);
	cJSON_AddStringToObject(o, "checksum", hex);
	cJSON_AddItemToArray(tables, o);
	cJSON_AddNumberToObject(info, "stream_bytes", (double)s->bytes);
}

static int command_dump(const struct job_cfg *job, struct dump_sink *sink, cJSON *info)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return err_set(ERR_GENERIC, "job '%s': pipe: %s", job->name, strerror(errno));
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	char *argv[] = {"sh", "-c", job->command, NULL};
	pid_t pid;
	int e = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (e != 0) {
		close(pipefd[0]);
		return err_set(ERR_GENERIC, "job '%s': cannot run its command: %s", job->name, strerror(e));
	}
	struct stream_sum sum = {sha256_new(), 0, 0};
	int rc = sink->open(sink, STREAM_FILE, CHUNK_LINES);
	char *piece = malloc(1 << 16);
	ssize_t n;
	while (rc == 0 && (n = read(pipefd[0], piece, 1 << 16)) != 0) {
		if (n < 0) {
			/* A stop signal ends the wait for a silent command. */
			if (errno == EINTR && (rc = sig_check()) == 0)
				continue;
			if (rc < 0)
				break;
			rc = err_set(ERR_GENERIC, "job '%s': reading its command's output: %s", job->name,
				     strerror(errno));
			break;
		}
		sum_add(&sum, piece, (size_t)n);
		rc = sink->write(sink, piece, (size_t)n);
	}
	free(piece);
	close(pipefd[0]); /* a command still writing gets SIGPIPE */
	/* Stopped by a signal: a silent command would be waited for. */
	if (sig_pending())
		kill(pid, SIGTERM);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
		rc = err_set(ERR_GENERIC, "job '%s': its command %s %d; the dump is not kept", job->name,
			     WIFEXITED(status) ? "exited with status" : "was killed by signal",
			     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	/* A tool that printed nothing and exited 0 (a wrong database name
	 * some tools accept, a script that lost its pipe) is no backup. */
	if (rc == 0 && sum.bytes == 0 && !job->allow_empty)
		rc = err_set(ERR_GENERIC,
			     "job '%s': its command wrote nothing; an empty dump is not kept "
			     "(allow_empty = true if that is expected)",
			     job->name);
	if (rc == 0)
		rc = sink->close(sink);
	if (rc == 0) {
		sum_summary(&sum, info);
		cJSON *formats = cJSON_AddArrayToObject(info, "formats");
		cJSON_AddItemToArray(formats, cJSON_CreateString("stream"));
	}
	sha256_free(sum.h);
	return rc;
}

static int command_restore(const struct job_cfg *job, struct dump_source *src, const char *format,
			   const char *target)
{
	(void)format;
	int files;
	/* dump-NNNNNN.out: the chunks of the stream, in order */
	int rc = engine_concat_files(src, "dump-", ".out", target, &files);
	if (rc == 0 && files == 0)
		rc = err_set(ERR_VERIFY, "the snapshot of '%s' holds no dump stream", job->name);
	return rc;
}

static int command_inspect(const struct job_cfg *job, const char *target, cJSON *info, struct buf *problems)
{
	(void)job;
	int fd = open(target, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		buf_printf(problems, "%s: %s\n", target, strerror(errno));
		return ERR_VERIFY;
	}
	struct stream_sum sum = {sha256_new(), 0, 0};
	char *piece = malloc(1 << 16);
	ssize_t n;
	while ((n = read(fd, piece, 1 << 16)) > 0)
		sum_add(&sum, piece, (size_t)n);
	free(piece);
	close(fd);
	if (n < 0) {
		sha256_free(sum.h);
		buf_printf(problems, "%s: read error\n", target);
		return ERR_VERIFY;
	}
	sum_summary(&sum, info);
	return 0;
}

static int command_check(const struct job_cfg *job)
{
	if (!job->command || !job->command[0])
		return err_set(ERR_USAGE, "missing required key 'command' (a command that writes the dump "
					  "to its standard output)");
	if (job->n_exclude)
		return err_set(ERR_USAGE, "exclude_tables does not apply to engine \"command\"");
	if (job->n_exclude_data)
		return err_set(ERR_USAGE, "exclude_table_data does not apply to engine \"command\"");
	return 0;
}

static const char *command_early_format(const struct job_cfg *job)
{
	(void)job;
	return "stream";
}

const struct engine engine_command = {
	.name = "command",
	.check = command_check,
	.dump = command_dump,
	.restore = command_restore,
	.inspect = command_inspect,
	.compare = NULL,
	.early_format = command_early_format,
};
