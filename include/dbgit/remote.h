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
 * r->retries attempts (backoff 1 s, 2 s, 4 s...), ERR_USAGE for a refusal
 * that needs the user (unknown or changed host key, a key the server
 * refuses, lease broken), not retried. Over the network every silent
 * stretch (connecting included) is bounded by r->timeout seconds. */
int remote_push(struct store *st, const struct config *cfg, const struct remote_cfg *r,
		const char *const *branches, size_t n, int force);

/* Pushes the branches to every configured remote, one after the other; a
 * failing remote does not stop the others. Returns 0, or the worst error
 * (ERR_USAGE, a refusal that needs the user, before ERR_PUSH), with
 * err_last() naming the remote (or counting them when several failed, each
 * already logged). A failure set before the call stays in err_last() when
 * every push succeeds. Call it with the repository lock held. */
int remote_push_all(struct store *st, const struct config *cfg, const char *const *branches, size_t n,
		    int force);

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
