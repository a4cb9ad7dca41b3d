/*
 * remote_internal: the pieces of the remote module that push.c composes and
 * the unit tests check one by one - URL parsing, host keys against
 * known_hosts, the lease decision, and the network watchdog. Private to
 * src/remote/ (and tests/unit/test_remote*.c).
 */
#ifndef DBGIT_REMOTE_INTERNAL_H
#define DBGIT_REMOTE_INTERNAL_H

#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/socket.h>
#include <time.h>

/* url.c ----------------------------------------------------------------- */

/* A remote URL taken apart. Local remotes (a path, file://) have no host. */
struct remote_url {
	int network;      /* 1 for ssh/http(s)/git, 0 for a path or file:// */
	char scheme[16];  /* "ssh", "https", "file", "" (plain path) */
	char *user;       /* NULL if the URL names none */
	char *host;       /* NULL for local remotes; no brackets for IPv6 */
	int port;         /* the effective port (22 for ssh unless given) */
	int port_given;   /* the URL named the port */
	char *path;
};

/* Parses "git@host:path.git", "ssh://user@host:port/path", "/a/path",
 * "file:///a/path", "https://host/path". Returns 0 or ERR_USAGE with a
 * message in why. */
int remote_url_parse(const char *url, struct remote_url *out, char *why, size_t whylen);
void remote_url_free(struct remote_url *u);

/* hostkey.c ------------------------------------------------------------- */

enum hostkey_status {
	HOSTKEY_MATCH,   /* known_hosts has this key for the host */
	HOSTKEY_UNKNOWN, /* no key of this type for the host */
	HOSTKEY_CHANGED, /* a different key of the same type: refuse, always */
	HOSTKEY_REVOKED, /* listed as @revoked for the host: refuse, always */
	HOSTKEY_ERROR,   /* known_hosts unreadable or malformed; why says */
};

/* "SHA256:<base64 of SHA-256 of key, unpadded>", as OpenSSH prints. */
void remote_fingerprint(const void *key, size_t len, char out[64]);
/* The OpenSSH name of a libgit2 raw host key type ("ssh-ed25519"). */
const char *remote_hostkey_type_name(int git_raw_type);
/* How known_hosts names host at port: "host" for 22, "[host]:port" else. */
void remote_known_host_name(const char *host, int port, char *out, size_t len);

/* Checks a raw host key (git_cert_ssh_raw_type_t git_raw_type) against the
 * file. A missing file is "unknown", not an error. A key the file marks
 * "@revoked" for the host is HOSTKEY_REVOKED even if also listed plainly. */
enum hostkey_status remote_hostkey_check(const char *known_hosts, const char *host, int port,
					 int git_raw_type, const void *key, size_t len, char *why,
					 size_t whylen);
/* 1 if the file lists the key under "@revoked" for host:port (plain or
 * hashed host patterns, wildcards and negations as OpenSSH reads them). */
int remote_hostkey_revoked(const char *file, const char *host, int port, const void *key, size_t len);
/* The key types the file holds for host:port (hashed lines included), as a
 * bit set of (1 << git_raw_type). */
unsigned remote_hostkey_types(const char *file, const char *host, int port);
/* Writes to out_file one line for host:port with the key type libgit2
 * should ask the server for: the best type the file holds for the host
 * other than RSA (libssh2 1.10 can only ask for RSA as SHA-1 "ssh-rsa",
 * which OpenSSH 8.8+ refuses); failing that, the type of a key marked
 * @revoked for the host, so that it is met and refused. An empty file
 * leaves the choice to libssh2. Returns 0 or -1 with why. */
int remote_hostkey_prefer_file(const char *file, const char *host, int port, const char *out_file,
			       char *why, size_t whylen);
/* Appends the key for host:port to the file (created 0600, with its
 * directory, if missing). Returns 0 or -1 with why. */
int remote_hostkey_add(const char *known_hosts, const char *host, int port, int git_raw_type,
		       const void *key, size_t len, char *why, size_t whylen);

/* key.c ----------------------------------------------------------------- */

/* What dbgit knows of a client key without its passphrase. */
struct ssh_key_info {
	char type[64];       /* "ssh-ed25519", "ssh-rsa", ...; "" if unknown */
	unsigned char *pub;  /* the public key blob, NULL if unknown */
	size_t pub_len;
	int encrypted;       /* a passphrase protects the private key */
};
/* Inspects the private key file and, if given, its public key file. */
void remote_key_inspect(const char *key, const char *pubfile, struct ssh_key_info *k);
void remote_key_info_free(struct ssh_key_info *k);
/* 0 if the file (what: "ssh_key", "passphrase_file") exists, belongs to
 * the user running dbgit and is closed to group and others, as ssh
 * requires of identity files; else -1 with why. */
int remote_secret_file_check(const char *path, const char *what, char *why, size_t whylen);

/* lease.c --------------------------------------------------------------- */

/* What to do with one branch, given the remote's tip, dbgit's lease (what
 * it last pushed there) and the local tip. */
enum push_action {
	PUSH_UP_TO_DATE,  /* remote already has the local tip */
	PUSH_CREATE,      /* the remote lacks the branch */
	PUSH_FAST_FORWARD,/* local descends from the remote tip */
	PUSH_LEASED,      /* history rewritten here; remote still holds the lease */
	PUSH_FORCED,      /* --force */
	PUSH_REFUSE,      /* someone else moved the remote branch */
};
struct lease_facts {
	int remote_has;     /* the remote has the branch */
	int same;           /* remote tip == local tip */
	int descends;       /* local tip descends from the remote tip */
	int lease_has;      /* dbgit recorded a push of this branch */
	int lease_matches;  /* remote tip == the recorded push */
	int force;
};
enum push_action remote_decide(const struct lease_facts *f);
/* "refs/dbgit/remotes/<remote>/<branch without refs/heads/>" into out. */
int remote_lease_ref(const char *remote, const char *branch, char *out, size_t len);

/* net.c ----------------------------------------------------------------- */

#define NET_MAX_PEERS 8

/* Connects to host:port (every address it resolves to) within timeout
 * seconds, then closes again: a dead or unreachable host fails here, in
 * bounded time, instead of inside libgit2's blocking connect. Records the
 * addresses for the watchdog. Returns 0 or -1 with why. */
struct net_peers {
	struct sockaddr_storage addr[NET_MAX_PEERS];
	socklen_t len[NET_MAX_PEERS];
	int n;
};
int net_probe(const char *host, int port, int timeout, struct net_peers *peers, char *why,
	      size_t whylen);

/* Bounds every silent stretch of a network operation. libgit2 1.5 has no
 * timeout for its SSH transport and reads in blocking mode, so a thread
 * watches the time since the last sign of progress; when it exceeds the
 * timeout it shuts down this process's sockets to the remote's addresses,
 * which makes libssh2's blocked read fail and the push return an error. */
struct watchdog {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int running, stop, fired;
	int timeout;
	struct timespec last;
	struct net_peers peers;
	int port;
};
int watchdog_start(struct watchdog *w, int timeout, const struct net_peers *peers, int port);
/* Progress seen: restarts the clock. Safe from any thread; no-op if the
 * watchdog is not running. */
void watchdog_touch(struct watchdog *w);
/* Stops the thread; returns 1 if it had to cut the connection. */
int watchdog_stop(struct watchdog *w);

#endif
