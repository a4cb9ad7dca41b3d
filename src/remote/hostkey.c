/*
 * hostkey: the server's SSH host key against an OpenSSH known_hosts file,
 * through libssh2's knownhost API (which reads hashed entries and the
 * "[host]:port" form for ports other than 22).
 *
 * Invariants: a key that differs from a recorded key of the same type is
 * never accepted, whatever the policy; a new key is written by appending
 * one line, so nothing else in the user's file (comments, markers, entries
 * libssh2 cannot parse) is ever rewritten.
 */
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <libssh2.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbgit/util.h"
#include "remote_internal.h"

void remote_fingerprint(const void *key, size_t len, char out[64])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	unsigned char b64[64];
	if (!EVP_Digest(key, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
		snprintf(out, 64, "SHA256:?");
		return;
	}
	int n = EVP_EncodeBlock(b64, md, (int)mdlen); /* 44 chars with one '=' */
	while (n > 0 && b64[n - 1] == '=')
		n--;
	snprintf(out, 64, "SHA256:%.*s", n, (const char *)b64);
}

const char *remote_hostkey_type_name(int t)
{
	switch (t) {
	case GIT_CERT_SSH_RAW_TYPE_RSA:
		return "ssh-rsa";
	case GIT_CERT_SSH_RAW_TYPE_DSS:
		return "ssh-dss";
	case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_256:
		return "ecdsa-sha2-nistp256";
	case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_384:
		return "ecdsa-sha2-nistp384";
	case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_521:
		return "ecdsa-sha2-nistp521";
	case GIT_CERT_SSH_RAW_TYPE_KEY_ED25519:
		return "ssh-ed25519";
	default:
		return "unknown-key-type";
	}
}

static int knownhost_key_mask(int t)
{
	switch (t) {
	case GIT_CERT_SSH_RAW_TYPE_RSA:
		return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
	case GIT_CERT_SSH_RAW_TYPE_DSS:
		return LIBSSH2_KNOWNHOST_KEY_SSHDSS;
	case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_256:
		return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
	case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_384:
		return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
	case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_521:
		return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
	case GIT_CERT_SSH_RAW_TYPE_KEY_ED25519:
		return LIBSSH2_KNOWNHOST_KEY_ED25519;
	default:
		return 0;
	}
}

void remote_known_host_name(const char *host, int port, char *out, size_t len)
{
	if (port <= 0 || port == 22)
		snprintf(out, len, "%s", host);
	else
		snprintf(out, len, "[%s]:%d", host, port);
}

/* libssh2's knownhost collection hangs off a session, though it never
 * uses the connection: a session made just for that is enough. */
struct kh {
	LIBSSH2_SESSION *session;
	LIBSSH2_KNOWNHOSTS *hosts;
};

static int kh_open(struct kh *k, const char *file, char *why, size_t whylen)
{
	memset(k, 0, sizeof(*k));
	libssh2_init(0);
	k->session = libssh2_session_init();
	if (!k->session || !(k->hosts = libssh2_knownhost_init(k->session))) {
		snprintf(why, whylen, "cannot initialise libssh2");
		return -1;
	}
	if (!fs_exists(file))
		return 0;
	if (access(file, R_OK) < 0) {
		snprintf(why, whylen, "cannot read %s: %s", file, strerror(errno));
		return -1;
	}
	int n = libssh2_knownhost_readfile(k->hosts, file, LIBSSH2_KNOWNHOST_FILE_OPENSSH);
	if (n < 0) {
		char *msg = NULL;
		libssh2_session_last_error(k->session, &msg, NULL, 0);
		snprintf(why, whylen, "cannot parse %s: %s", file, msg ? msg : "libssh2 error");
		return -1;
	}
	return 0;
}

static void kh_close(struct kh *k)
{
	if (k->hosts)
		libssh2_knownhost_free(k->hosts);
	if (k->session)
		libssh2_session_free(k->session);
}

enum hostkey_status remote_hostkey_check(const char *file, const char *host, int port, int raw_type,
					 const void *key, size_t len, char *why, size_t whylen)
{
	int mask = knownhost_key_mask(raw_type);
	if (!mask) {
		snprintf(why, whylen, "the server's host key type is not supported");
		return HOSTKEY_ERROR;
	}
	struct kh k;
	if (kh_open(&k, file, why, whylen) < 0) {
		kh_close(&k);
		return HOSTKEY_ERROR;
	}
	/* Look up exactly the name OpenSSH would record: libssh2's own port
	 * handling also tries the bare host for any port, which would take a
	 * port-22 key as "changed" for another service on the same host. */
	char name[300];
	remote_known_host_name(host, port, name, sizeof(name));
	struct libssh2_knownhost *found = NULL;
	int rc = libssh2_knownhost_checkp(k.hosts, name, -1, key, len,
					  LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | mask,
					  &found);
	kh_close(&k);
	switch (rc) {
	case LIBSSH2_KNOWNHOST_CHECK_MATCH:
		return HOSTKEY_MATCH;
	case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
		return HOSTKEY_CHANGED;
	case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
		return HOSTKEY_UNKNOWN;
	default:
		snprintf(why, whylen, "cannot check %s", file);
		return HOSTKEY_ERROR;
	}
}

int remote_hostkey_known_other(const char *file, const char *host, int port)
{
	char why[256], name[300];
	struct kh k;
	int found = 0;
	if (kh_open(&k, file, why, sizeof(why)) == 0) {
		remote_known_host_name(host, port, name, sizeof(name));
		struct libssh2_knownhost *prev = NULL, *e = NULL;
		while (!found && libssh2_knownhost_get(k.hosts, &e, prev) == 0) {
			/* Plain names only: a hashed line cannot be read back. */
			if (e->name && !strcmp(e->name, name))
				found = 1;
			prev = e;
		}
	}
	kh_close(&k);
	return found;
}

static int mkdir_parent(const char *file)
{
	char *dir = xstrdup(file);
	char *slash = dir ? strrchr(dir, '/') : NULL;
	int rc = 0;
	if (slash && slash != dir) {
		*slash = '\0';
		if (!fs_is_dir(dir) && mkdir(dir, 0700) < 0 && errno != EEXIST)
			rc = -1;
	}
	free(dir);
	return rc;
}

int remote_hostkey_add(const char *file, const char *host, int port, int raw_type, const void *key,
		       size_t len, char *why, size_t whylen)
{
	int mask = knownhost_key_mask(raw_type);
	if (!mask) {
		snprintf(why, whylen, "the server's host key type is not supported");
		return -1;
	}
	char name[300];
	remote_known_host_name(host, port, name, sizeof(name));
	struct kh k;
	int rc = -1;
	char line[8192];
	size_t n = 0;
	struct libssh2_knownhost *entry = NULL;
	if (kh_open(&k, "/nonexistent/dbgit-no-file", why, whylen) < 0)
		goto out;
	if (libssh2_knownhost_addc(k.hosts, name, NULL, key, len, NULL, 0,
				   LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | mask,
				   &entry) < 0 ||
	    libssh2_knownhost_writeline(k.hosts, entry, line, sizeof(line), &n,
					LIBSSH2_KNOWNHOST_FILE_OPENSSH) < 0) {
		snprintf(why, whylen, "cannot format a known_hosts line for %s", name);
		goto out;
	}
	if (mkdir_parent(file) < 0) {
		snprintf(why, whylen, "cannot create the directory of %s: %s", file, strerror(errno));
		goto out;
	}
	int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(why, whylen, "cannot write %s: %s", file, strerror(errno));
		goto out;
	}
	/* Keep the file line-structured even if its last line lacks '\n'. */
	struct stat sb;
	if (fstat(fd, &sb) == 0 && sb.st_size > 0) {
		char last = '\n';
		int rfd = open(file, O_RDONLY | O_CLOEXEC);
		if (rfd >= 0) {
			if (pread(rfd, &last, 1, sb.st_size - 1) != 1)
				last = '\n';
			close(rfd);
		}
		if (last != '\n' && fs_write_all(fd, "\n", 1) < 0)
			goto write_fail;
	}
	if (fs_write_all(fd, line, n) < 0 || (n > 0 && line[n - 1] != '\n' && fs_write_all(fd, "\n", 1) < 0) ||
	    fsync(fd) < 0)
		goto write_fail;
	close(fd);
	rc = 0;
	goto out;
write_fail:
	snprintf(why, whylen, "cannot write %s: %s", file, strerror(errno));
	close(fd);
out:
	kh_close(&k);
	return rc;
}
