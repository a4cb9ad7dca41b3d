/*
 * signal: stopping cleanly on SIGINT, SIGTERM and SIGHUP (an operator's
 * Ctrl-C, cron's or systemd's timeout, a closed terminal).
 *
 * The handler only records which signal came, in a volatile sig_atomic_t:
 * a handler that frees memory or walks directories can land inside malloc
 * and deadlock while dbgit holds the repository lock. The work notices the
 * flag where it loops (the sink every dump writes to, SQLite's progress
 * handler on every connection, libgit2's progress callbacks, the store's
 * loops), fails with ERR_INTERRUPTED, and unwinds through its ordinary
 * cleanup: scratch directories and temp files removed, no ref moved, the
 * lock released. main() then exits with 128 + the signal's number, as a
 * shell reports a process killed by it.
 *
 * A second signal while that cleanup runs exits at once with _exit(), which
 * is async-signal-safe; so does a run still going SIG_GRACE seconds after
 * the first (alarm(): some work cannot be interrupted, such as libgit2's
 * delta search when it packs a push). What such an exit leaves behind
 * carries the dead pid in its name and is swept by the next run
 * (fs_sweep_scratch, store_lock); refs move only by atomic rename, so the
 * branch is at the old snapshot or the new one.
 *
 * Worker threads are created with these signals blocked (sig_thread_create)
 * so that the main thread is the one whose system calls are interrupted.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbgit/util.h"

static volatile sig_atomic_t caught;

static const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP};
#define N_STOP (sizeof(stop_signals) / sizeof(stop_signals[0]))

/* Seconds a stopped run has to clean up before it exits regardless. */
#define SIG_GRACE 10

static void on_signal(int sig)
{
	if (caught)
		_exit(128 + caught);
	caught = sig;
	alarm(SIG_GRACE);
}

static void on_grace_over(int sig)
{
	(void)sig;
	if (caught)
		_exit(128 + caught);
}

int sig_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a blocking wait (a hook, a pipe) returns EINTR and
	 * the caller gets to see the flag. */
	sa.sa_flags = 0;
	for (size_t i = 0; i < N_STOP; i++)
		if (sigaction(stop_signals[i], &sa, NULL) < 0)
			return err_set(ERR_GENERIC, "cannot install a signal handler: %s", strerror(errno));
	sa.sa_handler = on_grace_over;
	if (sigaction(SIGALRM, &sa, NULL) < 0)
		return err_set(ERR_GENERIC, "cannot install a signal handler: %s", strerror(errno));
	return 0;
}

int sig_pending(void)
{
	return caught;
}

int sig_check(void)
{
	int sig = caught;
	if (!sig)
		return 0;
	return err_set(ERR_INTERRUPTED, "interrupted by SIG%s", sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
}

int sig_exit_status(void)
{
	return caught ? 128 + caught : 0;
}

int sig_forget(void)
{
	int sig = caught;
	if (sig) {
		alarm(0);
		caught = 0;
	}
	return sig;
}

#ifdef DBGIT_TEST_HOOKS
void test_pause(const char *var, const char *what, const char *stage)
{
	const char *want = getenv(var);
	if (!want || strcmp(want, stage) != 0)
		return;
	fprintf(stderr, "dbgit: %s paused at %s\n", what, stage);
	fflush(stderr);
	/* A stop signal ends the sleep (no SA_RESTART), as it would end the
	 * work the pause stands for. */
	sleep(120);
}
#endif

int sig_thread_create(pthread_t *thread, void *(*run)(void *), void *arg)
{
	sigset_t block, old;
	sigemptyset(&block);
	for (size_t i = 0; i < N_STOP; i++)
		sigaddset(&block, stop_signals[i]);
	/* The new thread inherits the mask in force when it is created. */
	pthread_sigmask(SIG_BLOCK, &block, &old);
	int rc = pthread_create(thread, NULL, run, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}
