/*
 * key: what dbgit can tell about an SSH client key without decrypting it -
 * its type, its public half, whether a passphrase protects it - and whether
 * its file is private enough to use.
 *
 * The public half is read from the ".pub" file when there is one, else from
 * the private key itself: an OpenSSH-format key ("openssh-key-v1") keeps
 * its public key unencrypted in front of the encrypted part; a PEM key
 * names its type in the header line. Nothing here ever reads a passphrase.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbgit/util.h"
#include "remote_internal.h"

#define KEY_FILE_MAX (64 * 1024)

/* A small text file whole, NUL-terminated; NULL if unreadable or larger
 * than KEY_FILE_MAX. Quiet: a key we cannot inspect is simply one we know
 * less about, and libssh2 reports the real failure. */
static char *read_text(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char *text = malloc(KEY_FILE_MAX + 1);
	size_t n = text ? fread(text, 1, KEY_FILE_MAX + 1, f) : 0;
	fclose(f);
	if (!text || n > KEY_FILE_MAX) {
		free(text);
		return NULL;
	}
	text[n] = '\0';
	return text;
}

int remote_secret_file_check(const char *path, const char *what, char *why, size_t whylen)
{
	struct stat sb;
	if (stat(path, &sb) < 0) {
		snprintf(why, whylen, "cannot read %s %s: %s", what, path, strerror(errno));
		return -1;
	}
	/* As ssh does for identity files: a secret others can read (or
	 * replace) is not a secret any more. */
	if (sb.st_uid != geteuid()) {
		snprintf(
		    why, whylen,
		    "%s %s is owned by uid %u, not by the user running dbgit (uid %u); refusing to use it",
		    what, path, (unsigned)sb.st_uid, (unsigned)geteuid());
		return -1;
	}
	if (sb.st_mode & 077) {
		snprintf(
		    why, whylen,
		    "%s %s is accessible by group or others (mode %04o); refusing to use it (chmod 600 %s)",
		    what, path, (unsigned)(sb.st_mode & 07777), path);
		return -1;
	}
	return 0;
}

/* Decodes base64 text (whitespace allowed) into a new buffer. */
static unsigned char *b64_decode(const char *text, size_t len, size_t *outlen)
{
	char *clean = malloc(len + 1);
	if (!clean)
		return NULL;
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		if (text[i] != '\n' && text[i] != '\r' && text[i] != ' ' && text[i] != '\t')
			clean[n++] = text[i];
	clean[n] = '\0';
	unsigned char *out = n % 4 == 0 && n > 0 ? malloc(n / 4 * 3 + 1) : NULL;
	int got = out ? EVP_DecodeBlock(out, (unsigned char *)clean, (int)n) : -1;
	if (got < 0) {
		free(out);
		explicit_bzero(clean, n);
		free(clean);
		return NULL;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	size_t pad = (n >= 1 && clean[n - 1] == '=') + (n >= 2 && clean[n - 2] == '=');
	*outlen = (size_t)got - pad;
	explicit_bzero(clean, n);
	free(clean);
	return out;
}

/* An SSH wire "string" at *p: 4-byte big-endian length, then the bytes. */
static int ssh_string(const unsigned char **p, const unsigned char *end, const unsigned char **s,
		      uint32_t *len)
{
	if (end - *p < 4)
		return -1;
	uint32_t l = (uint32_t)(*p)[0] << 24 | (uint32_t)(*p)[1] << 16 | (uint32_t)(*p)[2] << 8 | (*p)[3];
	*p += 4;
	if ((size_t)(end - *p) < l)
		return -1;
	*s = *p;
	*len = l;
	*p += l;
	return 0;
}

static void set_type_from_blob(struct ssh_key_info *k)
{
	const unsigned char *p = k->pub, *s;
	uint32_t l;
	if (k->pub && ssh_string(&p, k->pub + k->pub_len, &s, &l) == 0 && l < sizeof(k->type))
		snprintf(k->type, sizeof(k->type), "%.*s", (int)l, (const char *)s);
}

static int read_pub_file(const char *path, struct ssh_key_info *k)
{
	char *text = read_text(path);
	if (!text)
		return -1;
	/* "ssh-ed25519 AAAA... comment" */
	char *sp = strchr(text, ' ');
	if (sp) {
		char *b64 = sp + 1;
		size_t blen = strcspn(b64, " \t\r\n");
		k->pub = b64_decode(b64, blen, &k->pub_len);
		set_type_from_blob(k);
	}
	free(text);
	return k->pub ? 0 : -1;
}

/* "openssh-key-v1\0", string cipher, string kdf, string kdf options,
 * uint32 number of keys, string first public key, ... (PROTOCOL.key). */
static void parse_openssh(const unsigned char *bin, size_t blen, struct ssh_key_info *k)
{
	static const char magic[] = "openssh-key-v1"; /* with its NUL */
	if (blen <= sizeof(magic) || memcmp(bin, magic, sizeof(magic)))
		return;
	const unsigned char *p = bin + sizeof(magic), *e = bin + blen, *s;
	uint32_t l;
	if (ssh_string(&p, e, &s, &l) < 0)
		return;
	k->encrypted = !(l == 4 && !memcmp(s, "none", 4));
	if (ssh_string(&p, e, &s, &l) < 0 || ssh_string(&p, e, &s, &l) < 0 || e - p < 4)
		return;
	p += 4; /* the number of keys; the first public key follows */
	if (k->pub || ssh_string(&p, e, &s, &l) < 0)
		return;
	k->pub = malloc(l ? l : 1);
	if (k->pub) {
		memcpy(k->pub, s, l);
		k->pub_len = l;
	}
}

static void read_private(const char *path, struct ssh_key_info *k)
{
	char *text = read_text(path);
	if (!text)
		return;
	static const char openssh[] = "-----BEGIN OPENSSH PRIVATE KEY-----";
	char *begin = strstr(text, openssh);
	if (begin) {
		begin += sizeof(openssh) - 1;
		char *end = strstr(begin, "-----END");
		size_t blen = 0;
		unsigned char *bin = end ? b64_decode(begin, (size_t)(end - begin), &blen) : NULL;
		if (bin) {
			parse_openssh(bin, blen, k);
			/* An unencrypted key's secret half was in there. */
			explicit_bzero(bin, blen);
		}
		free(bin);
		if (!k->type[0])
			set_type_from_blob(k);
	} else {
		/* PEM: the header names the algorithm and the encryption. */
		k->encrypted = strstr(text, "ENCRYPTED") != NULL;
		if (!k->type[0]) {
			if (strstr(text, "-----BEGIN RSA PRIVATE KEY-----"))
				snprintf(k->type, sizeof(k->type), "ssh-rsa");
			else if (strstr(text, "-----BEGIN DSA PRIVATE KEY-----"))
				snprintf(k->type, sizeof(k->type), "ssh-dss");
			else if (strstr(text, "-----BEGIN EC PRIVATE KEY-----"))
				snprintf(k->type, sizeof(k->type), "ecdsa");
		}
	}
	explicit_bzero(text, strlen(text));
	free(text);
}

void remote_key_inspect(const char *key, const char *pubfile, struct ssh_key_info *k)
{
	memset(k, 0, sizeof(*k));
	if (pubfile)
		read_pub_file(pubfile, k);
	read_private(key, k);
}

void remote_key_info_free(struct ssh_key_info *k)
{
	free(k->pub);
	k->pub = NULL;
}
