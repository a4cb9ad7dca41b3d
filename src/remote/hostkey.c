/*
 * hostkey: the server's SSH host key against an OpenSSH known_hosts file,
 * through libssh2's knownhost API (which reads hashed entries and the
 * "[host]:port" form for ports other than 22).
 *
 * libssh2 knows no "@revoked" or "@cert-authority" markers (it would read
 * the marker as a host name), so marker lines are kept from it and the
 * revocations are read here, with OpenSSH's host matching: comma-separated
 * patterns with * and ?, "!" negations, hashed "|1|salt|hmac" names.
 *
 * Invariants: a revoked key is never accepted, whatever else the file
 * says; a key that differs from a recorded key of the same type is
 * never accepted, whatever the policy; a new key is written by appending
 * one line, so nothing else in the user's file (comments, markers, entries
 * libssh2 cannot parse) is ever rewritten.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <libssh2.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
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
	FILE *f = fopen(file, "re");
	if (!f) {
		snprintf(why, whylen, "cannot read %s: %s", file, strerror(errno));
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0, rc = 0;
	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		const char *p = line + strspn(line, " \t");
		if (*p == '@') /* a marker line: see remote_hostkey_revoked() */
			continue;
		if (libssh2_knownhost_readline(k->hosts, p, strlen(p), LIBSSH2_KNOWNHOST_FILE_OPENSSH) < 0) {
			char *msg = NULL;
			libssh2_session_last_error(k->session, &msg, NULL, 0);
			snprintf(why, whylen, "cannot parse %s line %d: %s", file, lineno,
				 msg ? msg : "libssh2 error");
			rc = -1;
			break;
		}
	}
	free(line);
	fclose(f);
	return rc;
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
	if (remote_hostkey_revoked(file, host, port, key, len))
		return HOSTKEY_REVOKED;
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

/* A '*' and '?' wildcard match, case-insensitive, as OpenSSH's
 * match_pattern(): host names are matched in lower case. */
static int wild_match(const char *pat, size_t plen, const char *s)
{
	while (plen > 0) {
		if (*pat == '*') {
			while (plen > 0 && *pat == '*')
				pat++, plen--;
			if (plen == 0)
				return 1;
			for (; *s; s++)
				if (wild_match(pat, plen, s))
					return 1;
			return 0;
		}
		if (!*s || (*pat != '?' && tolower((unsigned char)*pat) != tolower((unsigned char)*s)))
			return 0;
		pat++, plen--, s++;
	}
	return *s == '\0';
}

static int b64_decode_exact(const char *in, size_t len, unsigned char *out, size_t want)
{
	unsigned char tmp[128];
	if (len == 0 || len % 4 || len / 4 * 3 > sizeof(tmp))
		return -1;
	char text[176];
	memcpy(text, in, len);
	text[len] = '\0';
	int n = EVP_DecodeBlock(tmp, (const unsigned char *)text, (int)len);
	size_t pad = (text[len - 1] == '=') + (text[len - 2] == '=');
	if (n < 0 || (size_t)n - pad != want)
		return -1;
	memcpy(out, tmp, want);
	return 0;
}

/* "|1|base64(salt)|base64(HMAC-SHA1(salt, name))", as ssh-keygen -H writes. */
static int hashed_match(const char *pat, size_t plen, const char *name)
{
	if (plen < 4 || memcmp(pat, "|1|", 3))
		return 0;
	const char *salt = pat + 3;
	const char *bar = memchr(salt, '|', plen - 3);
	if (!bar)
		return 0;
	unsigned char key[20], want[20], got[EVP_MAX_MD_SIZE];
	unsigned int gotlen = 0;
	if (b64_decode_exact(salt, (size_t)(bar - salt), key, 20) < 0 ||
	    b64_decode_exact(bar + 1, plen - (size_t)(bar + 1 - pat), want, 20) < 0)
		return 0;
	if (!HMAC(EVP_sha1(), key, 20, (const unsigned char *)name, strlen(name), got, &gotlen) ||
	    gotlen != 20)
		return 0;
	return CRYPTO_memcmp(got, want, 20) == 0;
}

/* OpenSSH's match_hostname(): a negated pattern that matches wins (no
 * match), else any positive one. */
static int host_field_match(const char *field, size_t flen, const char *name)
{
	if (flen > 0 && field[0] == '|')
		return hashed_match(field, flen, name);
	int matched = 0;
	while (flen > 0) {
		size_t n = 0;
		while (n < flen && field[n] != ',')
			n++;
		int neg = n > 0 && field[0] == '!';
		if (n > (size_t)neg && wild_match(field + neg, n - (size_t)neg, name)) {
			if (neg)
				return 0;
			matched = 1;
		}
		field += n, flen -= n;
		if (flen > 0)
			field++, flen--;
	}
	return matched;
}

/* Calls fn for each "@revoked" line whose host patterns match name, with
 * the line's key type and base64 key; stops when fn returns non-zero and
 * returns that. */
static int revoked_each(const char *file, const char *name,
			int (*fn)(const char *type, size_t tlen, const char *b64, size_t blen, void *arg),
			void *arg)
{
	FILE *f = fopen(file, "re");
	if (!f)
		return 0;
	char *line = NULL;
	size_t cap = 0;
	int rc = 0;
	while (!rc && getline(&line, &cap, f) >= 0) {
		char *p = line + strspn(line, " \t");
		if (strncmp(p, "@revoked", 8) || (p[8] != ' ' && p[8] != '\t'))
			continue;
		p += 8 + strspn(p + 8, " \t");
		size_t hlen = strcspn(p, " \t\r\n");
		char *hosts = p;
		p += hlen;
		p += strspn(p, " \t");
		char *type = p;
		size_t tlen = strcspn(p, " \t\r\n");
		p += tlen;
		p += strspn(p, " \t");
		size_t klen = strcspn(p, " \t\r\n");
		if (tlen && klen && host_field_match(hosts, hlen, name))
			rc = fn(type, tlen, p, klen, arg);
	}
	free(line);
	fclose(f);
	return rc;
}

/* Key blobs are compared as the base64 text the file holds (the blob
 * names its type too). */
static int revoked_same_key(const char *type, size_t tlen, const char *b64, size_t blen, void *arg)
{
	(void)type, (void)tlen;
	const char *want = arg;
	return blen == strlen(want) && !memcmp(b64, want, blen);
}

int remote_hostkey_revoked(const char *file, const char *host, int port, const void *key, size_t len)
{
	char name[300];
	remote_known_host_name(host, port, name, sizeof(name));
	char *b64 = malloc(4 * ((len + 2) / 3) + 1);
	if (!b64)
		return 1; /* cannot tell: fail closed */
	EVP_EncodeBlock((unsigned char *)b64, key, (int)len);
	int revoked = revoked_each(file, name, revoked_same_key, b64);
	free(b64);
	return revoked;
}

struct revoked_pick {
	FILE *out;
	const char *name;
};

static int revoked_prefer(const char *type, size_t tlen, const char *b64, size_t blen, void *arg)
{
	struct revoked_pick *pick = arg;
	if ((tlen == 7 && !memcmp(type, "ssh-rsa", 7)) || (tlen == 7 && !memcmp(type, "ssh-dss", 7)))
		return 0;
	fprintf(pick->out, "%s %.*s %.*s\n", pick->name, (int)tlen, type, (int)blen, b64);
	return 1;
}

static const int raw_types[] = {
	GIT_CERT_SSH_RAW_TYPE_KEY_ED25519,    GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_521,
	GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_384,  GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_256,
	GIT_CERT_SSH_RAW_TYPE_RSA,	      GIT_CERT_SSH_RAW_TYPE_DSS,
};

/* The file's entry for the host with a key of this type, if any: a lookup
 * with a key that cannot match finds it as a "mismatch" (libssh2 hashes
 * the name for hashed lines itself). */
static struct libssh2_knownhost *kh_find_type(struct kh *k, const char *name, int raw_type)
{
	static const char nothing = '\0';
	struct libssh2_knownhost *found = NULL;
	int rc = libssh2_knownhost_checkp(k->hosts, name, -1, &nothing, 1,
					  LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW |
						  knownhost_key_mask(raw_type),
					  &found);
	return rc == LIBSSH2_KNOWNHOST_CHECK_MISMATCH ? found : NULL;
}

unsigned remote_hostkey_types(const char *file, const char *host, int port)
{
	char why[256], name[300];
	struct kh k;
	unsigned set = 0;
	if (kh_open(&k, file, why, sizeof(why)) == 0) {
		remote_known_host_name(host, port, name, sizeof(name));
		for (size_t i = 0; i < sizeof(raw_types) / sizeof(raw_types[0]); i++)
			if (kh_find_type(&k, name, raw_types[i]))
				set |= 1u << raw_types[i];
	}
	kh_close(&k);
	return set;
}

int remote_hostkey_prefer_file(const char *file, const char *host, int port, const char *out_file,
			       char *why, size_t whylen)
{
	char name[300];
	struct kh k;
	int rc = -1;
	remote_known_host_name(host, port, name, sizeof(name));
	if (kh_open(&k, file, why, whylen) < 0)
		goto out;
	FILE *f = fopen(out_file, "we");
	if (!f) {
		snprintf(why, whylen, "cannot write %s: %s", out_file, strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < sizeof(raw_types) / sizeof(raw_types[0]); i++) {
		int t = raw_types[i];
		if (t == GIT_CERT_SSH_RAW_TYPE_RSA || t == GIT_CERT_SSH_RAW_TYPE_DSS)
			break;
		struct libssh2_knownhost *e = kh_find_type(&k, name, t);
		if (e && e->key) {
			fprintf(f, "%s %s %s\n", name, remote_hostkey_type_name(t), e->key);
			goto written;
		}
	}
	/* Known by no usable type, but by a revoked one: ask for that key,
	 * so that a server still offering it is refused as revoked rather
	 * than met with another type accept-new would take. */
	struct revoked_pick pick = {f, name};
	revoked_each(file, name, revoked_prefer, &pick);
written:
	if (fclose(f) != 0) {
		snprintf(why, whylen, "cannot write %s: %s", out_file, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	kh_close(&k);
	return rc;
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
