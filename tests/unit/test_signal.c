/* Unit tests for src/util/signal.c and the scratch sweep of src/util/fs.c:
 * a stop signal only sets the flag (the process goes on to clean up),
 * worker threads do not receive it, and only the scratch directories of
 * dead owners are swept. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "dbgit/util.h"

static void *mask_of_thread(void *arg)
{
	sigset_t *mask = arg;
	pthread_sigmask(SIG_SETMASK, NULL, mask);
	return NULL;
}

/* A pid no process has: a child that has exited and been reaped. */
static pid_t dead_pid(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	return pid;
}

int main(void)
{
	CHECK(sig_install() == 0, "sig_install: %s", err_last());
	CHECK(sig_pending() == 0 && sig_check() == 0 && sig_exit_status() == 0, "no signal yet");

	/* A worker thread starts with the stop signals blocked, and the
	 * creating thread's mask is as it was. */
	pthread_t t;
	sigset_t in_thread, here;
	sigemptyset(&in_thread);
	CHECK(sig_thread_create(&t, mask_of_thread, &in_thread) == 0, "sig_thread_create");
	pthread_join(t, NULL);
	CHECK(sigismember(&in_thread, SIGTERM) && sigismember(&in_thread, SIGINT) &&
		      sigismember(&in_thread, SIGHUP),
	      "the stop signals are blocked in a worker thread");
	pthread_sigmask(SIG_SETMASK, NULL, &here);
	CHECK(!sigismember(&here, SIGTERM), "and not in the main thread");

	/* The scratch sweep: a dead owner's directory goes; a live owner's,
	 * and names dbgit does not make, stay. */
	char root[] = "/tmp/dbgit-unit-sweep.XXXXXX";
	CHECK(mkdtemp(root) != NULL, "mkdtemp");
	setenv("TMPDIR", root, 1);
	char *mine = NULL;
	CHECK(fs_mkdtemp(&mine, "verify") == 0, "fs_mkdtemp");
	char *want = xasprintf("%s/dbgit-verify-%ld-", root, (long)getpid());
	CHECK(mine && !strncmp(mine, want, strlen(want)) && strlen(mine) == strlen(want) + 6,
	      "the scratch name carries the pid: %s", mine ? mine : "(none)");
	long dead = (long)dead_pid();
	char *gone = xasprintf("%s/dbgit-copy-%ld-aB3dE5", root, dead);
	char *gone_file = xasprintf("%s/db.sqlite", gone);
	char *live = xasprintf("%s/dbgit-copy-%ld-aB3dE5", root, (long)getppid());
	char *other = xasprintf("%s/dbgit-copy-%ld-aB3dE5x", root, dead);
	char *notes = xasprintf("%s/dbgit-notes", root);
	mkdir(gone, 0700);
	FILE *f = fopen(gone_file, "w");
	if (f)
		fclose(f);
	mkdir(live, 0700);
	mkdir(other, 0700);
	mkdir(notes, 0700);
	fs_sweep_scratch();
	CHECK(!fs_exists(gone), "a dead owner's scratch is swept");
	CHECK(fs_exists(mine), "this process's own scratch stays");
	CHECK(fs_exists(live), "a live owner's scratch stays");
	CHECK(fs_exists(other) && fs_exists(notes), "other names stay");
	fs_rmtree(root);

	/* The handler only records the signal; the process goes on. */
	raise(SIGTERM);
	CHECK(sig_pending() == SIGTERM, "SIGTERM recorded, got %d", sig_pending());
	CHECK(sig_check() == ERR_INTERRUPTED && !strcmp(err_last(), "interrupted by SIGTERM"), "sig_check: %s",
	      err_last());
	CHECK(sig_exit_status() == 143, "exit status %d", sig_exit_status());
	CHECK(err_exit_status(ERR_INTERRUPTED) == 143, "ERR_INTERRUPTED exits 143");
	err_clear();
	alarm(0); /* the 10 s grace the signal started */

	free(mine), free(want), free(gone), free(gone_file), free(live), free(other), free(notes);
	return CHECK_DONE();
}
