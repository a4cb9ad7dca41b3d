/*
 * remote: pushing job branches to the configured remotes, over SSH (libgit2's
 * libssh2 transport, host keys checked against known_hosts) or to a local
 * path. A lease protects rewritten branches: dbgit remembers, as
 * refs/dbgit/remotes/<remote>/<branch>, what it last pushed; a non-fast-
 * forward push happens only while the remote still holds that.
 */
#ifndef DBGIT_REMOTE_H
#define DBGIT_REMOTE_H

#include <stddef.h>

#include "dbgit/config.h"

struct store;

/* Pushes the branches (full ref names "refs/heads/backup/app") to one
 * remote; branches with no local tip are skipped. force skips the lease.
 * Returns ERR_PUSH (exit 3) when the network or the remote failed after
 * r->retries attempts (backoff 1 s, 2 s, 4 s...); ERR_REFUSED (exit 5),
 * not retried, for a refusal only a person can fix (unknown, changed or
 * revoked host key, a key the server refuses or a passphrase that does not
 * decrypt it, lease broken, permission denied, repository missing);
 * ERR_USAGE (exit 2) for a configuration dbgit will not use (a key file
 * others can read, a passphrase variable that is not set, a known_hosts
 * it cannot read or parse). Over the
 * network every silent stretch (connecting included) is bounded by
 * r->timeout seconds. */
int remote_push(struct store *st, const struct config *cfg, const struct remote_cfg *r,
		const char *const *branches, size_t n, int force);

/* Pushes the branches to every configured remote, one after the other; a
 * failing remote does not stop the others. Returns 0, or the worst error
 * (remote_err_rank: ERR_USAGE, then ERR_REFUSED, then ERR_PUSH), with
 * err_last() naming the remote (or counting them when several failed, each
 * already logged). A failure set before the call stays in err_last() when
 * every push succeeds. Call it with the repository lock held. */
int remote_push_all(struct store *st, const struct config *cfg, const char *const *branches, size_t n,
		    int force);

/* Connects to the remote as a push would (same key, same host-key check,
 * same time limit), lists its branches and disconnects: no object sent, no
 * ref written here or there. One attempt. 0, or the error a push would
 * give (ERR_REFUSED, ERR_PUSH, ERR_USAGE) naming the remote. */
int remote_check(struct store *st, const struct remote_cfg *r);

/* Orders push failures for one exit status: higher is worse. */
int remote_err_rank(int code);
/* What can be known of a remote without connecting: its URL, key and
 * passphrase files (mode, owner), its known_hosts file; a local remote
 * exists and is a git repository. 0, or an error naming the remote. */
int remote_probe(const struct remote_cfg *r);

/* Takes the passphrases the remotes name by passphrase_env out of the
 * environment - kept in memory for the pushes, the variables removed, so
 * that no hook or dump tool started later inherits them. Call it once,
 * right after the config is loaded, before any child is spawned. */
int remote_secrets_take(const struct config *cfg);
/* Wipes and frees them (also done at exit). */
void remote_secrets_wipe(void);

/* Sync state of one branch on one remote, from what dbgit last pushed. */
enum remote_sync {
	REMOTE_IN_SYNC,      /* the remote has the local tip (as of the last push) */
	REMOTE_AHEAD,        /* new snapshots wait to be pushed (a fast-forward) */
	REMOTE_NEVER_PUSHED, /* dbgit never pushed this branch there */
	REMOTE_DIVERGED,     /* history rewritten here (rotation): the next push replaces it */
};
/* A word for each state, for status output ("in sync", "ahead", ...). */
const char *remote_sync_name(enum remote_sync s);
int remote_sync_state(struct store *st, const struct remote_cfg *r, const char *branch,
		      enum remote_sync *out);

#endif
