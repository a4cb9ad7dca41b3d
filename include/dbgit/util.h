/*
 * util: the bottom layer. Error messages, logging, files, hashing, child
 * processes. Depends on nothing else in dbgit.
 *
 * The error contract, as in libgit2: functions return int, negative on
 * failure, and leave one human-readable line in err_last() that names what
 * was wrong (a file, a table, a remote). The first error set wins until
 * err_clear(), so the message names the root cause, not the caller.
 */
#ifndef DBGIT_UTIL_H
#define DBGIT_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Exit statuses: the contract with cron (shared/DESIGN.md). */
enum {
	EXIT_OK = 0,
	EXIT_JOB_FAILED = 1,
	EXIT_USAGE = 2,
	EXIT_PUSH_FAILED = 3,
	EXIT_LOCKED = 4,
	EXIT_REFUSED = 5, /* committed locally; a remote refused: a person must act */
};

/* Error codes a caller may act on; all negative. */
enum {
	ERR_GENERIC = -1,
	ERR_USAGE = -2,    /* bad arguments or configuration */
	ERR_NOTFOUND = -3, /* unknown job, revision, file */
	ERR_LOCKED = -4,   /* another dbgit holds the lock */
	ERR_VERIFY = -5,   /* a snapshot did not verify */
	ERR_PUSH = -6,     /* a push failed; the snapshot is safe locally */
	ERR_EXISTS = -7,   /* a target exists and --force was not given */
	ERR_REFUSED = -8,  /* a remote refused in a way no retry fixes (host key,
			    * key, lease, permission, repository missing) */
	/* SIGINT/SIGTERM/SIGHUP arrived: unwind, clean up, exit 128+signal. */
	ERR_INTERRUPTED = -20,
};

int err_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Replace the current message unconditionally. */
int err_reset(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *err_last(void);
int err_code(void);
void err_clear(void);
/* Maps an error code to the documented exit status. */
int err_exit_status(int code);

/* Logging: stderr, one line each. Quiet in cron unless something is wrong. */
enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };
void log_set_level(int level);
int log_level(void);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* A growable byte buffer. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};
#define BUF_INIT {NULL, 0, 0}
int buf_grow(struct buf *b, size_t need);
int buf_add(struct buf *b, const void *data, size_t len);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_clear(struct buf *b);
void buf_free(struct buf *b);
/* Returns data NUL-terminated (buffer keeps ownership). */
const char *buf_cstr(struct buf *b);

/* Files. */
int fs_exists(const char *path);
int fs_is_dir(const char *path);
int fs_write_all(int fd, const void *data, size_t len);
/* Reads a small file (a password, a key) whole; strips one trailing newline. */
int fs_read_small(const char *path, char **out, size_t max);
/* Removes a directory tree; quiet if it does not exist. */
int fs_rmtree(const char *path);
/* A fresh private temp directory $TMPDIR/dbgit-<tag>-<pid>-XXXXXX; caller
 * frees and removes it. The pid in the name lets a later run tell the
 * leftovers of a killed run (fs_sweep_scratch). */
int fs_mkdtemp(char **out, const char *tag);
/* Removes the scratch directories in $TMPDIR whose owner process is gone
 * (same uid, dbgit's name pattern, kill(pid, 0) says ESRCH). */
void fs_sweep_scratch(void);
/* fsync the directory that holds path, after a rename into it. */
int fs_fsync_parent(const char *path);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Restore targets (util/target.c): the file a restore is renamed to. */
struct target_info {
	int exists; /* a regular file is there (and --force was given) */
	mode_t mode;
	uid_t uid;
	gid_t gid;
};
/* Looks at target without following a symlink: nothing, or a regular file
 * with force, passes; anything else is ERR_USAGE, a file without force
 * ERR_EXISTS. */
int target_check(const char *target, int force, struct target_info *out);
/* A new private temp file beside target (".<name>.dbgit-restore-<pid>-
 * XXXXXX"), after sweeping those of dead dbgit processes. Caller frees. */
int target_temp(const char *target, char **out);
/* Renames the finished tmp to target (never over a file that appeared
 * meanwhile unless force), keeping the replaced file's mode, then removes
 * the replaced database's -wal/-shm/-journal. */
int target_replace(const char *tmp, const char *target, int force, const struct target_info *was);
/* Signals (src/util/signal.c): SIGINT, SIGTERM and SIGHUP only set a flag;
 * loops check it and unwind through their normal cleanup, and dbgit exits
 * with 128 + the signal's number. A second signal, or a run still going
 * 10 s after the first, exits at once (the next run sweeps what is left). */
#include <pthread.h>
int sig_install(void);
/* The signal caught so far, or 0. Safe from any thread. */
int sig_pending(void);
/* 0, or ERR_INTERRUPTED with "interrupted by SIGTERM" if a signal came. */
int sig_check(void);
/* 128 + the signal caught, or 0. */
int sig_exit_status(void);
/* The work is done (a restore's target has its name): a signal caught
 * since the last check came too late to stop anything, and the run ends
 * as a success. Returns the signal forgotten, or 0. */
int sig_forget(void);
/* TEST_PAUSE, test builds only (DBGIT_TEST_HOOKS): when the environment variable var
 * is stage, says "dbgit: <what> paused at <stage>" on stderr and sleeps up
 * to 120 s, so that a test can signal or kill dbgit at that very point.
 * A release build ignores the variable. */
#ifdef DBGIT_TEST_HOOKS
void test_pause(const char *var, const char *what, const char *stage);
#define TEST_PAUSE(var, what, stage) test_pause(var, what, stage)
#else
/* Not even the variable's name is in a release binary. */
#define TEST_PAUSE(var, what, stage) ((void)0)
#endif
/* pthread_create with the stop signals blocked in the new thread, so that
 * only the main thread is interrupted by them. */
int sig_thread_create(pthread_t *thread, void *(*run)(void *), void *arg);

/* A command line fit to be recorded: values that look like passwords
 * (--password=x, -px, PGPASSWORD=x, scheme://user:x@host) become "***",
 * control characters spaces. Caller frees. */
char *redact_command(const char *cmd);

/* SHA-256 (OpenSSL's libcrypto underneath). */
struct sha256;
struct sha256 *sha256_new(void);
void sha256_update(struct sha256 *s, const void *data, size_t len);
/* Writes 64 hex chars and a NUL, frees s. */
void sha256_final_hex(struct sha256 *s, char out[65]);
void sha256_free(struct sha256 *s);

/* Time. */
int64_t time_now(void);
/* "2026-11-21T23:20:13Z" */
void time_format_utc(int64_t t, char out[32]);
/* Parses an ISO-8601 date or date-time ("2026-11-21", "2026-11-21T03:00",
 * "2026-11-21 03:00:00", with optional Z or +hh:mm; local time without one).
 */
int time_parse(const char *s, int64_t *out);
/* A time a user picks a snapshot by (restore --at): as time_parse, but in
 * UTC when s gives no offset (the zone `dbgit list` prints), and a date
 * alone is the end of that day (23:59:59), so that "--at 2026-11-20"
 * finds the snapshot taken on the 20th. */
int time_parse_at(const char *s, int64_t *out);
/* Parses "30d", "12h", "2w", "1y2m" into seconds (m = months of 30 days). */
int duration_parse(const char *s, int64_t *out);

/* Progress on a terminal only; silent under cron. */
int tty_stderr(void);
void progress_begin(const char *what);
void progress_add(uint64_t bytes);
void progress_end(void);

#endif
