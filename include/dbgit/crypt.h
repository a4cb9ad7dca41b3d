/*
 * crypt: encryption at rest, the one module that does cryptography
 * (OpenSSL 3 libcrypto; nothing hand-written).
 *
 * One key file holds 32 random bytes. From them HKDF-SHA256 derives a key
 * per purpose - chunk contents, path names, the manifest, the key id - so
 * that no two purposes ever share a key. Every encryption is AES-256-SIV:
 * deterministic (the same plaintext under the same key gives the same
 * ciphertext, hence the same git blob: dedup and small pushes survive) and
 * authenticated (a changed byte anywhere is refused, never decrypted into
 * garbage).
 *
 * A sealed blob (chunk or manifest) is
 *     "dbgE" | version (1) | kind ('c' chunk, 'm' manifest) | SIV tag (16) | ciphertext
 * where the plaintext is the content compressed with zlib (git cannot
 * compress or delta ciphertext) and the 6 header bytes are the associated
 * data, so they are authenticated too.
 *
 * A path name component is SIV(name key, component) encoded in base64url
 * without padding, so that it is a plain git tree entry name.
 */
#ifndef DBGIT_CRYPT_H
#define DBGIT_CRYPT_H

#include <stddef.h>
#include <stdint.h>

struct buf;

#define CRYPT_KEY_ID_LEN     16	 /* hex digits of a key id */
#define CRYPT_SIV_TAG	     16	 /* bytes */
#define CRYPT_HEADER	     6	 /* magic, version, kind */
#define CRYPT_MAX_NAME_PLAIN 175 /* bytes of a name component that fit in 255 once sealed */

enum crypt_kind {
	CRYPT_CHUNK = 'c',
	CRYPT_MANIFEST = 'm',
};

struct crypt_key {
	unsigned char chunk[64], names[64], manifest[64]; /* AES-256-SIV keys */
	char id[CRYPT_KEY_ID_LEN + 1];
	char *file; /* where it was read from, for messages */
};

/* Writes a new random key to path: O_EXCL (an existing file is refused,
 * ERR_EXISTS), mode 0600, a version line first. */
int crypt_keygen(const char *path);
/* Reads a key file: refused if group or others may access it, or if it is
 * not a version-1 key file (one line naming the file and the line). The
 * key is freed with crypt_key_free. */
int crypt_key_load(struct crypt_key **out, const char *path);
/* The same from a key's 32 raw bytes (tests). */
struct crypt_key *crypt_key_from_bytes(const unsigned char raw[32], const char *file);
void crypt_key_free(struct crypt_key *key);

/* Compresses and seals plain[0..len) as a blob of kind into out. */
int crypt_seal(const struct crypt_key *key, enum crypt_kind kind, const void *plain, size_t len,
	       struct buf *out);
/* Checks and opens a sealed blob into out (at most max bytes of plain
 * content). what names the blob in the one-line error ("snapshot
 * 1a2b3c4d5e6f: 1-table/t/1-rows.sql"). */
int crypt_open(const struct crypt_key *key, enum crypt_kind kind, const void *blob, size_t len, size_t max,
	       const char *what, struct buf *out);

/* A name component, sealed and encoded for a git tree (NUL-terminated
 * into out, at least 256 bytes). Components longer than
 * CRYPT_MAX_NAME_PLAIN are refused. */
int crypt_name_seal(const struct crypt_key *key, const char *name, char out[256]);
/* The plain name back (out: at least 256 bytes); ERR_VERIFY naming what if
 * the entry is not a name this key sealed. */
int crypt_name_open(const struct crypt_key *key, const char *sealed, char out[256], const char *what);

/* The primitives, exposed for the known-answer tests. cipher is an OpenSSL
 * SIV cipher name ("AES-256-SIV"; "AES-128-SIV" is RFC 5297's). seal
 * writes tag | ciphertext (len + 16 bytes) into out; open reverses it and
 * returns -1 (no message) if it does not authenticate. */
int crypt_siv_seal(const char *cipher, const unsigned char *key, size_t keylen, const void *ad, size_t adlen,
		   const void *in, size_t len, unsigned char *out);
int crypt_siv_open(const char *cipher, const unsigned char *key, size_t keylen, const void *ad, size_t adlen,
		   const unsigned char *in, size_t len, unsigned char *out);
/* HKDF-SHA256 (RFC 5869), extract and expand. */
int crypt_hkdf(const unsigned char *ikm, size_t ikmlen, const unsigned char *salt, size_t saltlen,
	       const void *info, size_t infolen, unsigned char *out, size_t outlen);

#endif
