/*
 * sendpack: git's receive-pack exchange over libgit2's SSH connection, so
 * that a push can send dbgit's own thin pack (store_thin_pack) where
 * libgit2 1.5's git_remote_upload would pack every changed chunk whole.
 * Private to src/remote/.
 *
 * libgit2 still connects (URL, SSH, host key and credential callbacks) and
 * lists the remote's branches; sendpack_transport() gives it the smart
 * transport over its own ssh subtransport, wrapped so that the stream it
 * opens stays reachable here and the capabilities it read are kept.
 */
#ifndef DBGIT_SENDPACK_H
#define DBGIT_SENDPACK_H

#include <git2.h>
#include <git2/sys/transport.h>
#include <stdint.h>

struct sendpack;

int sendpack_new(struct sendpack **out);
/* After git_remote_free of the remote whose transport it made. */
void sendpack_free(struct sendpack *sp);
/* A git_transport_cb body: the smart transport over ssh, wrapped. */
int sendpack_transport(git_transport **out, git_remote *owner, struct sendpack *sp);

struct sendpack_cmd {
	git_oid old; /* zero: the remote has no such branch */
	git_oid new;
	const char *ref;
};

struct sendpack_cb {
	/* Per command, once the server reported: msg NULL when updated, else
	 * its reason (as git_remote_callbacks.push_update_reference). */
	int (*status)(const char *ref, const char *msg, void *payload);
	/* The server's progress and hook output (band 2). */
	int (*sideband)(const char *text, int len, void *payload);
	/* After every write; non-zero stops the push (a signal). */
	int (*progress)(void *payload);
	void *payload;
	/* The remote's timeout (s): the server's answer after the pack must
	 * end within ten of them, plus a second per MiB sent. 0: no limit. */
	int timeout;
};

struct sendpack_result {
	size_t objects, deltas;
	uint64_t bytes; /* commands and pack: what went over the connection */
};

/* The server kept none of the pack ("unpack <reason>"): sending it again
 * will not help. err_last() says why. */
#define SENDPACK_UNPACK_FAILED (-2)

/* On the connection git_remote_connect opened and git_remote_ls read:
 * the commands, the thin pack of the wants against have (the remote's
 * tips; the pushed branch's first), and the server's report. Returns 0
 * (each command's status went to cb->status), SENDPACK_UNPACK_FAILED, or
 * -1 with err_last() set. */
int sendpack_push(struct sendpack *sp, git_repository *repo, const struct sendpack_cmd *cmd, size_t n,
		  const git_oid *have, size_t nh, const struct sendpack_cb *cb, struct sendpack_result *res);

#endif
