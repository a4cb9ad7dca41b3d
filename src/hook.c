/*
 * hook: the part of the cycle that runs the operator's hooks (pre-backup,
 * post-backup, on-failure) from [hooks] dir, declared in cycle.h.
 *
 * A hook is somebody else's program inside dbgit's run, so it is fenced in:
 * - stdin is /dev/null: a hook that reads does not hang cron;
 * - stdout goes to dbgit's stderr: `dbgit backup --json` stays one JSON
 *   document however chatty the hook is;
 * - it runs in a process group of its own, for [hooks] timeout seconds; then
 *   the whole group (the hook and whatever it started) gets SIGTERM, and
 *   SIGKILL after a short grace, and the hook counts as failed;
 * - a hook file that exists but cannot be run is a warning, not silence:
 *   a hook that never runs is a monitoring hole nobody notices;
 * - a hook that someone else could rewrite is refused (it fails).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dbgit/cycle.h"
#include "dbgit/util.h"

extern char **environ;

/* After SIGTERM, how long the hook's group may take to go before SIGKILL. */
#define HOOK_GRACE_MS 2000
/* How often the wait looks at the hook (hooks are rare; a poll is simpler
 * and safer than a SIGCHLD handler in a program that has other children). */
#define HOOK_POLL_MS 20

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap(void)
{
	struct timespec ts = {0, HOOK_POLL_MS * 1000000L};
	nanosleep(&ts, NULL);
}

/* Waits until pid has exited or deadline (ms) has passed, leaving it a
 * zombie (WNOWAIT) so that its pid, which is also its process group's id,
 * cannot be reused before the group has been killed. 1: exited, 0: still
 * running at the deadline, <0: errno. */
static int wait_exit(pid_t pid, int64_t deadline)
{
	for (;;) {
		siginfo_t info;
		memset(&info, 0, sizeof(info));
		if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (info.si_pid == pid)
			return 1;
		/* A stop signal ends the hook too: it is ours to clean up. */
		if (now_ms() >= deadline || sig_pending())
			return 0;
		nap();
	}
}

static const char *const hook_vars[] = {"DBGIT_JOB", "DBGIT_STATUS", "DBGIT_COMMIT", "DBGIT_MESSAGE"};
#define N_HOOK_VARS (sizeof(hook_vars) / sizeof(hook_vars[0]))

/* dbgit's environment plus the hook's variables, for this hook only: the
 * dump tools dbgit runs later must not see a stale DBGIT_MESSAGE. The
 * entries from environ are borrowed; own[] holds the ones to free. */
static char **hook_env(const char *const vals[N_HOOK_VARS], char *own[N_HOOK_VARS])
{
	size_t n = 0, k = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + N_HOOK_VARS + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int replaced = 0;
		for (size_t j = 0; j < N_HOOK_VARS; j++) {
			size_t len = strlen(hook_vars[j]);
			if (!strncmp(environ[i], hook_vars[j], len) && environ[i][len] == '=')
				replaced = 1;
		}
		if (!replaced)
			env[k++] = environ[i];
	}
	for (size_t j = 0; j < N_HOOK_VARS; j++)
		env[k++] = own[j] = xasprintf("%s=%s", hook_vars[j], vals[j] ? vals[j] : "");
	return env;
}

static pid_t spawn_hook(const char *path, char **env, int *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	char *argv[] = {(char *)path, NULL};
	pid_t pid = -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigfillset(&all);
	/* Its own group (so that a timeout can kill all it started), default
	 * signal dispositions and an empty mask (dbgit's are not the hook's). */
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setsigmask(&at, &none);
	*err = posix_spawn(&pid, path, &fa, &at, argv, env);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return *err ? -1 : pid;
}

int cycle_hook(const struct config *cfg, const char *name, const char *job, const char *status,
	       const char *commit, const char *message)
{
	if (!cfg->hooks_dir)
		return 0;
	char *path = xasprintf("%s/%s", cfg->hooks_dir, name);
	struct stat sb;
	if (stat(path, &sb) != 0) {
		/* No such hook: nothing to run, nothing to say. */
		free(path);
		return 0;
	}
	if (!S_ISREG(sb.st_mode) || access(path, X_OK) != 0) {
		log_warn("hook %s is not an executable file: not run (chmod +x it, or remove it)", path);
		free(path);
		return 0;
	}
	/* dbgit often runs as root: a hook others may rewrite (or a folder
	 * in which they may replace it) would run their code as root. As
	 * sshd does for its files: refused, and the hook counts as failed. */
	struct stat dsb;
	const char *dir = cfg->hooks_dir;
	const char *why = NULL;
	if (sb.st_uid != geteuid() && sb.st_uid != 0)
		why = "is owned by another user";
	else if (sb.st_mode & 022)
		why = "is writable by group or others";
	else if (stat(dir, &dsb) == 0 && (dsb.st_mode & 022) && !(dsb.st_mode & S_ISVTX))
		why = "is in a folder writable by group or others";
	if (why) {
		int rc = err_set(ERR_GENERIC, "hook %s %s: not run (chmod go-w, chown it to the user running dbgit)",
				 path, why);
		free(path);
		return rc;
	}
	const char *vals[N_HOOK_VARS] = {job, status, commit, message};
	char *own[N_HOOK_VARS] = {0};
	char **env = hook_env(vals, own);
	int timeout = cfg->hooks_timeout > 0 ? cfg->hooks_timeout : HOOKS_DEFAULT_TIMEOUT;
	int err = ENOMEM, rc = 0, code = 0;
	pid_t pid = env ? spawn_hook(path, env, &err) : -1;
	if (pid < 0) {
		rc = err_set(ERR_GENERIC, "hook %s: %s", path, strerror(err));
		goto out;
	}
	int done = wait_exit(pid, now_ms() + (int64_t)timeout * 1000);
	if (done == 0) {
		kill(-pid, SIGTERM);
		(void)wait_exit(pid, now_ms() + HOOK_GRACE_MS);
		/* Whatever the hook started, that outlived it or ignored SIGTERM. */
		kill(-pid, SIGKILL);
	}
	while (waitpid(pid, &code, 0) < 0) {
		if (errno != EINTR) {
			rc = err_set(ERR_GENERIC, "hook %s: waiting for it: %s", path, strerror(errno));
			goto out;
		}
	}
	if (done == 0 && sig_pending())
		rc = sig_check();
	else if (done == 0)
		rc = err_set(ERR_GENERIC, "hook %s timed out after %d s ([hooks] timeout): killed", path,
			     timeout);
	else if (!WIFEXITED(code) || WEXITSTATUS(code) != 0)
		rc = err_set(ERR_GENERIC, "hook %s failed (exit %d)", path,
			     WIFEXITED(code) ? WEXITSTATUS(code) : 128 + WTERMSIG(code));
out:
	for (size_t j = 0; j < N_HOOK_VARS; j++)
		free(own[j]);
	free(env);
	free(path);
	return rc;
}
