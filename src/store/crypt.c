/*
 * crypt: the cryptography of encryption at rest (include/dbgit/crypt.h has
 * the formats). Everything here goes through OpenSSL 3: AES-SIV from
 * EVP_CIPHER_fetch, HKDF from EVP_KDF_fetch, base64 from EVP_EncodeBlock,
 * random bytes from RAND_bytes; compression through zlib.
 *
 * Invariants:
 * - Raw key bytes live only in struct crypt_key (cleansed on free) and on
 *   the stack while they are derived (cleansed at once); never in a
 *   message.
 * - crypt_open authenticates before it inflates: nothing of a blob that
 *   does not authenticate reaches zlib, and what it inflates to is
 *   bounded by the caller's max.
 * - The formats here are pinned by tests/unit/test_crypt.c (known-answer
 *   vectors): changing a byte of them is a new version, never a silent
 *   change, or old snapshots would no longer open.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "dbgit/crypt.h"
#include "dbgit/util.h"

#define KEY_FILE_VERSION "dbgit-key 1"
#define KEY_BYTES	 32
static const unsigned char magic[4] = {'d', 'b', 'g', 'E'};
#define BLOB_VERSION 1
#define SIV	     "AES-256-SIV"

/* ---- primitives ---- */

int crypt_hkdf(const unsigned char *ikm, size_t ikmlen, const unsigned char *salt, size_t saltlen,
	       const void *info, size_t infolen, unsigned char *out, size_t outlen)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[5], *p = params;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmlen);
	/* No salt is HashLen zeros (RFC 5869 2.2), OpenSSL's default. */
	if (saltlen)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen);
	if (infolen)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, infolen);
	*p = OSSL_PARAM_construct_end();
	int ok = ctx && EVP_KDF_derive(ctx, out, outlen, params) == 1;
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return ok ? 0 : err_set(ERR_GENERIC, "HKDF-SHA256 is not available from OpenSSL");
}

static int siv(int enc, const char *cipher, const unsigned char *key, size_t keylen, const void *ad,
	       size_t adlen, const unsigned char *in, size_t len, unsigned char *out)
{
	EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, cipher, NULL);
	EVP_CIPHER_CTX *ctx = c ? EVP_CIPHER_CTX_new() : NULL;
	int outl = 0, ok = 0;
	/* SIV takes its plaintext in one update; int lengths in the EVP API. */
	if (!ctx || (size_t)EVP_CIPHER_get_key_length(c) != keylen || len == 0 || len > INT32_MAX ||
	    adlen > INT32_MAX)
		goto out;
	if (enc) {
		ok = EVP_EncryptInit_ex2(ctx, c, key, NULL, NULL) == 1 &&
		     (!adlen || EVP_EncryptUpdate(ctx, NULL, &outl, ad, (int)adlen) == 1) &&
		     EVP_EncryptUpdate(ctx, out + CRYPT_SIV_TAG, &outl, in, (int)len) == 1 &&
		     EVP_EncryptFinal_ex(ctx, out + CRYPT_SIV_TAG + outl, &outl) == 1 &&
		     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, CRYPT_SIV_TAG, out) == 1;
	} else {
		if (len <= CRYPT_SIV_TAG)
			goto out;
		/* The tag is set first: the update checks it and fails. */
		ok =
		    EVP_DecryptInit_ex2(ctx, c, key, NULL, NULL) == 1 &&
		    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, CRYPT_SIV_TAG, (void *)in) == 1 &&
		    (!adlen || EVP_DecryptUpdate(ctx, NULL, &outl, ad, (int)adlen) == 1) &&
		    EVP_DecryptUpdate(ctx, out, &outl, in + CRYPT_SIV_TAG, (int)(len - CRYPT_SIV_TAG)) == 1 &&
		    EVP_DecryptFinal_ex(ctx, out + outl, &outl) == 1;
	}
out:
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(c);
	return ok ? 0 : -1;
}

int crypt_siv_seal(const char *cipher, const unsigned char *key, size_t keylen, const void *ad, size_t adlen,
		   const void *in, size_t len, unsigned char *out)
{
	return siv(1, cipher, key, keylen, ad, adlen, in, len, out);
}

int crypt_siv_open(const char *cipher, const unsigned char *key, size_t keylen, const void *ad, size_t adlen,
		   const unsigned char *in, size_t len, unsigned char *out)
{
	return siv(0, cipher, key, keylen, ad, adlen, in, len, out);
}

/* ---- keys ---- */

static const unsigned char salt[] = "dbgit encryption at rest";

struct crypt_key *crypt_key_from_bytes(const unsigned char raw[KEY_BYTES], const char *file)
{
	struct crypt_key *k = calloc(1, sizeof(*k));
	unsigned char id[CRYPT_KEY_ID_LEN / 2];
	static const char *const info[] = {"dbgit 1 chunk contents", "dbgit 1 path names", "dbgit 1 manifest",
					   "dbgit 1 key id"};
	if (crypt_hkdf(raw, KEY_BYTES, salt, sizeof(salt) - 1, info[0], strlen(info[0]), k->chunk,
		       sizeof(k->chunk)) < 0 ||
	    crypt_hkdf(raw, KEY_BYTES, salt, sizeof(salt) - 1, info[1], strlen(info[1]), k->names,
		       sizeof(k->names)) < 0 ||
	    crypt_hkdf(raw, KEY_BYTES, salt, sizeof(salt) - 1, info[2], strlen(info[2]), k->manifest,
		       sizeof(k->manifest)) < 0 ||
	    crypt_hkdf(raw, KEY_BYTES, salt, sizeof(salt) - 1, info[3], strlen(info[3]), id, sizeof(id)) <
		0) {
		crypt_key_free(k);
		return NULL;
	}
	for (size_t i = 0; i < sizeof(id); i++)
		snprintf(k->id + 2 * i, 3, "%02x", id[i]);
	k->file = xstrdup(file ? file : "(key)");
	return k;
}

void crypt_key_free(struct crypt_key *k)
{
	if (!k)
		return;
	free(k->file);
	OPENSSL_cleanse(k, sizeof(*k));
	free(k);
}

int crypt_keygen(const char *path)
{
	unsigned char raw[KEY_BYTES];
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return err_set(ERR_GENERIC, "%s: no random bytes from OpenSSL", path);
	char text[sizeof(KEY_FILE_VERSION) + 2 * KEY_BYTES + 8];
	int n = snprintf(text, sizeof(text), "%s\n", KEY_FILE_VERSION);
	for (size_t i = 0; i < sizeof(raw); i++)
		n += snprintf(text + n, sizeof(text) - (size_t)n, "%02x", raw[i]);
	n += snprintf(text + n, sizeof(text) - (size_t)n, "\n");
	OPENSSL_cleanse(raw, sizeof(raw));
	/* O_EXCL: a key is never overwritten - the snapshots it encrypted
	 * would be lost with it. */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		OPENSSL_cleanse(text, sizeof(text));
		if (e == EEXIST)
			return err_set(ERR_EXISTS, "%s exists; a key file is never overwritten", path);
		return err_set(ERR_USAGE, "%s: %s", path, strerror(e));
	}
	int rc = 0;
	if (fchmod(fd, 0600) < 0 || fs_write_all(fd, text, (size_t)n) < 0 || fsync(fd) < 0)
		rc = err_set(ERR_GENERIC, "%s: %s", path, strerror(errno));
	OPENSSL_cleanse(text, sizeof(text));
	if (close(fd) < 0 && rc == 0)
		rc = err_set(ERR_GENERIC, "%s: %s", path, strerror(errno));
	if (rc == 0 && fs_fsync_parent(path) < 0)
		rc = ERR_GENERIC;
	if (rc < 0)
		unlink(path);
	return rc;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int crypt_key_load(struct crypt_key **out, const char *path)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return err_set(ERR_USAGE, "key file %s: %s", path, strerror(errno));
	struct stat sb;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return err_set(ERR_USAGE, "key file %s is not a regular file", path);
	}
	/* As ssh does for identity files. */
	if (sb.st_mode & 077) {
		close(fd);
		return err_set(ERR_USAGE,
			       "key file %s is accessible by group or others (mode %04o); refusing to use it "
			       "(chmod 600 %s)",
			       path, (unsigned)(sb.st_mode & 07777), path);
	}
	char text[256];
	ssize_t n;
	do
		n = read(fd, text, sizeof(text) - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return err_set(ERR_USAGE, "key file %s: %s", path, strerror(errno));
	text[n] = '\0';
	size_t vlen = strlen(KEY_FILE_VERSION);
	int rc = 0;
	unsigned char raw[KEY_BYTES];
	if (strncmp(text, KEY_FILE_VERSION, vlen) || text[vlen] != '\n') {
		rc = err_set(ERR_USAGE, "key file %s: line 1 is not '%s' (made by dbgit keygen?)", path,
			     KEY_FILE_VERSION);
	} else {
		const char *hex = text + vlen + 1;
		for (size_t i = 0; rc == 0 && i < KEY_BYTES; i++) {
			int hi = hexval(hex[2 * i]), lo = hi < 0 ? -1 : hexval(hex[2 * i + 1]);
			if (hi < 0 || lo < 0)
				rc = err_set(ERR_USAGE, "key file %s: line 2 is not %d lowercase hex digits",
					     path, 2 * KEY_BYTES);
			else
				raw[i] = (unsigned char)(hi << 4 | lo);
		}
		if (rc == 0 && strcmp(hex + 2 * KEY_BYTES, "\n") && strcmp(hex + 2 * KEY_BYTES, ""))
			rc = err_set(ERR_USAGE, "key file %s: unexpected text after line 2", path);
	}
	OPENSSL_cleanse(text, sizeof(text));
	if (rc == 0 && !(*out = crypt_key_from_bytes(raw, path)))
		rc = ERR_GENERIC;
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

/* ---- blobs ---- */

static void header(enum crypt_kind kind, unsigned char h[CRYPT_HEADER])
{
	memcpy(h, magic, 4);
	h[4] = BLOB_VERSION;
	h[5] = (unsigned char)kind;
}

static const unsigned char *kind_key(const struct crypt_key *key, enum crypt_kind kind)
{
	return kind == CRYPT_MANIFEST ? key->manifest : key->chunk;
}

int crypt_seal(const struct crypt_key *key, enum crypt_kind kind, const void *plain, size_t len,
	       struct buf *out)
{
	uLongf clen = compressBound((uLong)len);
	unsigned char *z = malloc(clen);
	if (!z)
		return err_set(ERR_GENERIC, "out of memory");
	if (compress2(z, &clen, plain, (uLong)len, Z_DEFAULT_COMPRESSION) != Z_OK) {
		free(z);
		return err_set(ERR_GENERIC, "zlib could not compress a chunk");
	}
	buf_clear(out);
	int rc = buf_grow(out, CRYPT_HEADER + CRYPT_SIV_TAG + clen);
	if (rc == 0) {
		unsigned char *p = (unsigned char *)out->data;
		header(kind, p);
		if (crypt_siv_seal(SIV, kind_key(key, kind), 64, p, CRYPT_HEADER, z, clen, p + CRYPT_HEADER) <
		    0)
			rc = err_set(ERR_GENERIC, "AES-256-SIV is not available from OpenSSL");
		else
			out->len = CRYPT_HEADER + CRYPT_SIV_TAG + clen;
	}
	free(z);
	return rc;
}

int crypt_open(const struct crypt_key *key, enum crypt_kind kind, const void *blob, size_t len, size_t max,
	       const char *what, struct buf *out)
{
	const unsigned char *b = blob;
	unsigned char h[CRYPT_HEADER];
	header(kind, h);
	buf_clear(out);
	if (len < CRYPT_HEADER + CRYPT_SIV_TAG + 1 || memcmp(b, magic, 4))
		return err_set(ERR_VERIFY, "%s: not an encrypted dbgit blob", what);
	if (b[4] != BLOB_VERSION)
		return err_set(ERR_VERIFY,
			       "%s: encrypted with blob format %u, which this dbgit does not know", what,
			       b[4]);
	if (memcmp(b, h, CRYPT_HEADER))
		return err_set(ERR_VERIFY, "%s: not an encrypted %s", what,
			       kind == CRYPT_MANIFEST ? "manifest" : "chunk");
	size_t clen = len - CRYPT_HEADER - CRYPT_SIV_TAG;
	unsigned char *z = malloc(clen);
	if (!z)
		return err_set(ERR_GENERIC, "out of memory");
	if (crypt_siv_open(SIV, kind_key(key, kind), 64, b, CRYPT_HEADER, b + CRYPT_HEADER,
			   len - CRYPT_HEADER, z) < 0) {
		free(z);
		return err_set(ERR_VERIFY, "%s: does not authenticate under key %s: changed or damaged", what,
			       key->id);
	}
	/* Authentic: inflated within max, and it must end where the blob does. */
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	int rc = 0, zr = Z_OK;
	if (inflateInit(&zs) != Z_OK) {
		free(z);
		return err_set(ERR_GENERIC, "zlib: %s", zs.msg ? zs.msg : "cannot start");
	}
	zs.next_in = z;
	zs.avail_in = (uInt)clen;
	while (rc == 0 && zr != Z_STREAM_END) {
		size_t room = 256 * 1024;
		if (out->len >= max + 1) {
			rc = err_set(ERR_VERIFY, "%s: holds more than %zu bytes once inflated", what, max);
			break;
		}
		if (room > max + 1 - out->len)
			room = max + 1 - out->len;
		if (buf_grow(out, room) < 0) {
			rc = ERR_GENERIC;
			break;
		}
		zs.next_out = (unsigned char *)out->data + out->len;
		zs.avail_out = (uInt)room;
		zr = inflate(&zs, Z_NO_FLUSH);
		out->len += room - zs.avail_out;
		if (zr != Z_OK && zr != Z_STREAM_END)
			rc = err_set(ERR_VERIFY, "%s: its compressed content is damaged", what);
	}
	if (rc == 0 && (zs.avail_in || out->len > max))
		rc = err_set(ERR_VERIFY, "%s: its compressed content is damaged", what);
	inflateEnd(&zs);
	free(z);
	if (rc < 0)
		buf_clear(out);
	else if (out->data)
		out->data[out->len] = '\0';
	return rc;
}

/* ---- names ---- */

int crypt_name_seal(const struct crypt_key *key, const char *name, char out[256])
{
	size_t len = strlen(name);
	if (len == 0 || len > CRYPT_MAX_NAME_PLAIN)
		return err_set(ERR_GENERIC,
			       "'%.60s...': a path component of %zu bytes does not fit an encrypted "
			       "snapshot (at most %d)",
			       name, len, CRYPT_MAX_NAME_PLAIN);
	unsigned char ct[CRYPT_MAX_NAME_PLAIN + CRYPT_SIV_TAG];
	unsigned char b64[4 * ((sizeof(ct) + 2) / 3) + 1];
	if (crypt_siv_seal(SIV, key->names, 64, NULL, 0, name, len, ct) < 0)
		return err_set(ERR_GENERIC, "AES-256-SIV is not available from OpenSSL");
	int n = EVP_EncodeBlock(b64, ct, (int)(len + CRYPT_SIV_TAG));
	/* base64url without padding: '/' is git's separator. */
	while (n > 0 && b64[n - 1] == '=')
		n--;
	for (int i = 0; i < n; i++)
		out[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : (char)b64[i];
	out[n] = '\0';
	return 0;
}

int crypt_name_open(const struct crypt_key *key, const char *sealed, char out[256], const char *what)
{
	size_t n = strlen(sealed);
	unsigned char b64[260], raw[200];
	int ok = n >= 23 && n <= 255 && n % 4 != 1 &&
		 strspn(sealed, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == n;
	int len = 0;
	if (ok) {
		for (size_t i = 0; i < n; i++)
			b64[i] = sealed[i] == '-' ? '+' : sealed[i] == '_' ? '/' : (unsigned char)sealed[i];
		size_t padded = n;
		while (padded % 4)
			b64[padded++] = '=';
		b64[padded] = '\0';
		len = EVP_DecodeBlock(raw, b64, (int)padded);
		/* EVP_DecodeBlock counts the padding's zero bytes. */
		len -= (int)(padded - n);
		ok = len > CRYPT_SIV_TAG;
	}
	if (ok) {
		char check[256];
		ok =
		    crypt_siv_open(SIV, key->names, 64, NULL, 0, raw, (size_t)len, (unsigned char *)out) == 0;
		if (ok) {
			out[len - CRYPT_SIV_TAG] = '\0';
			/* One spelling per name (the base64 tail bits), no NUL or
			 * separator inside. */
			ok = strlen(out) == (size_t)(len - CRYPT_SIV_TAG) && !strchr(out, '/') &&
			     crypt_name_seal(key, out, check) == 0 && !strcmp(check, sealed);
		}
	}
	if (!ok) {
		out[0] = '\0';
		return err_set(ERR_VERIFY, "%s: tree entry '%.40s' is not a name encrypted with key %s", what,
			       sealed, key->id);
	}
	return 0;
}
