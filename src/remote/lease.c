/*
 * lease: when may dbgit move a branch on a remote?
 *
 * A fast-forward is always fine. A branch whose history dbgit rewrote here
 * (rotation) may replace the remote's only while the remote still holds
 * exactly what dbgit pushed there last - the lease, recorded as
 * refs/dbgit/remotes/<remote>/<branch>. Anything else means someone else
 * moved the branch, and dbgit does not overwrite their work unless told to.
 * The git protocol then makes the update itself conditional on the tip we
 * were shown, so a push racing ours fails instead of being lost.
 */
#include <stdio.h>
#include <string.h>

#include "remote_internal.h"

enum push_action remote_decide(const struct lease_facts *f)
{
	if (!f->remote_has)
		return PUSH_CREATE;
	if (f->same)
		return PUSH_UP_TO_DATE;
	if (f->descends)
		return PUSH_FAST_FORWARD;
	if (f->force)
		return PUSH_FORCED;
	if (f->lease_has && f->lease_matches)
		return PUSH_LEASED;
	return PUSH_REFUSE;
}

int remote_lease_ref(const char *remote, const char *branch, char *out, size_t len)
{
	const char *b = branch;
	if (!strncmp(b, "refs/heads/", 11))
		b += 11;
	int n = snprintf(out, len, "refs/dbgit/remotes/%s/%s", remote, b);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}
