/*
 * Unit tests for crypt.c: the cryptography of encryption at rest.
 * - Known answers from the RFCs: RFC 5869 (HKDF-SHA256, test cases 1 and
 *   3) and RFC 5297 A.1 (deterministic AES-SIV; its 256-bit key is
 *   OpenSSL's "AES-128-SIV"), run through the very code path dbgit uses.
 * - AES-256-SIV round trip, and a changed byte anywhere refused.
 * - dbgit's own formats pinned (blob, name, key id, key file): a change
 *   to any of them would leave every existing snapshot unreadable, so it
 *   must be a deliberate new version, never a silent edit. The pinned
 *   values were computed independently of this code, with Python's
 *   pyca/cryptography (HKDF, AESSIV) and zlib.compress:
 *     k = HKDF(SHA256, 64, b"dbgit encryption at rest", b"dbgit 1 chunk contents").derive(bytes(range(32)))
 *     b"dbgE\x01c" + AESSIV(k).encrypt(zlib.compress(text), [b"dbgE\x01c"])
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbgit/crypt.h"
#include "dbgit/store.h"
#include "dbgit/util.h"

#include "check.h"

static size_t unhex(const char *hex, unsigned char *out)
{
	size_t n = strlen(hex) / 2;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		sscanf(hex + 2 * i, "%2x", &v);
		out[i] = (unsigned char)v;
	}
	return n;
}

static void tohex(const unsigned char *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
	out[2 * n] = '\0';
}

static void test_hkdf(void)
{
	unsigned char ikm[80], salt[80], info[80], okm[82];
	char hex[200];
	/* RFC 5869 A.1 */
	size_t ni = unhex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", ikm);
	size_t ns = unhex("000102030405060708090a0b0c", salt);
	size_t nf = unhex("f0f1f2f3f4f5f6f7f8f9", info);
	CHECK(crypt_hkdf(ikm, ni, salt, ns, info, nf, okm, 42) == 0, "HKDF runs");
	tohex(okm, 42, hex);
	CHECK(!strcmp(hex,
		      "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"),
	      "RFC 5869 A.1: %s", hex);
	/* RFC 5869 A.3: empty salt and info */
	CHECK(crypt_hkdf(ikm, ni, NULL, 0, "", 0, okm, 42) == 0, "HKDF runs without salt");
	tohex(okm, 42, hex);
	CHECK(!strcmp(hex,
		      "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"),
	      "RFC 5869 A.3: %s", hex);
}

static void test_siv_rfc5297(void)
{
	unsigned char key[32], ad[32], pt[32], out[64], back[32];
	char hex[200];
	size_t nk = unhex("fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff", key);
	size_t na = unhex("101112131415161718191a1b1c1d1e1f2021222324252627", ad);
	size_t np = unhex("112233445566778899aabbccddee", pt);
	CHECK(crypt_siv_seal("AES-128-SIV", key, nk, ad, na, pt, np, out) == 0, "SIV seal runs");
	tohex(out, np + 16, hex);
	CHECK(!strcmp(hex, "85632d07c6e8f37f950acd320a2ecc9340c02b9690c4dc04daef7f6afe5c"),
	      "RFC 5297 A.1: %s", hex);
	CHECK(crypt_siv_open("AES-128-SIV", key, nk, ad, na, out, np + 16, back) == 0 &&
		  !memcmp(back, pt, np),
	      "RFC 5297 A.1 opens");
	out[3] ^= 1;
	CHECK(crypt_siv_open("AES-128-SIV", key, nk, ad, na, out, np + 16, back) < 0,
	      "a changed tag is refused");
}

static void test_siv256(void)
{
	unsigned char key[64], out[200], back[200];
	for (int i = 0; i < 64; i++)
		key[i] = (unsigned char)(i * 7 + 1);
	const char *msg = "INSERT INTO t VALUES(1,'secret');\n";
	size_t n = strlen(msg);
	CHECK(crypt_siv_seal("AES-256-SIV", key, 64, "ad", 2, msg, n, out) == 0, "AES-256-SIV seals");
	unsigned char again[200];
	crypt_siv_seal("AES-256-SIV", key, 64, "ad", 2, msg, n, again);
	CHECK(!memcmp(out, again, n + 16), "deterministic: same plaintext, same ciphertext");
	CHECK(crypt_siv_open("AES-256-SIV", key, 64, "ad", 2, out, n + 16, back) == 0 &&
		  !memcmp(back, msg, n),
	      "round trip");
	for (size_t i = 0; i < n + 16; i++) {
		out[i] ^= 0x40;
		CHECK(crypt_siv_open("AES-256-SIV", key, 64, "ad", 2, out, n + 16, back) < 0,
		      "byte %zu changed: refused", i);
		out[i] ^= 0x40;
	}
	CHECK(crypt_siv_open("AES-256-SIV", key, 64, "aD", 2, out, n + 16, back) < 0,
	      "other associated data refused");
	key[5] ^= 1;
	CHECK(crypt_siv_open("AES-256-SIV", key, 64, "ad", 2, out, n + 16, back) < 0, "another key refused");
}

static struct crypt_key *fixed_key(void)
{
	unsigned char raw[32];
	for (int i = 0; i < 32; i++)
		raw[i] = (unsigned char)i;
	return crypt_key_from_bytes(raw, "fixed");
}

static void test_formats(void)
{
	struct crypt_key *k = fixed_key();
	struct buf sealed = BUF_INIT, plain = BUF_INIT;
	CHECK(k && !strcmp(k->id, "108cf8ee68d2bc3f"), "pinned key id: %s", k ? k->id : "(none)");

	const char *text = "INSERT INTO \"t\" VALUES(1,'hello');\n";
	CHECK(crypt_seal(k, CRYPT_CHUNK, text, strlen(text), &sealed) == 0, "chunk seals");
	char hex[1024];
	tohex((unsigned char *)sealed.data, sealed.len, hex);
	CHECK(!strncmp(hex, "646267450163", 12), "header: magic dbgE, version 1, kind c: %.12s", hex);
	CHECK(
	    !strcmp(hex,
		    "64626745016341e8b6d00a71225077b5db4976d82fe2322a65514bbab54479ccfd30349c026b7beff82b8cc"
		    "e7844e88448c4e873c79b1b7c355d4f6dff560774a9"),
	    "pinned chunk blob: %s", hex);
	CHECK(crypt_open(k, CRYPT_CHUNK, sealed.data, sealed.len, 1 << 20, "t", &plain) == 0 &&
		  plain.len == strlen(text) && !memcmp(plain.data, text, plain.len),
	      "chunk opens");
	CHECK(crypt_open(k, CRYPT_MANIFEST, sealed.data, sealed.len, 1 << 20, "t", &plain) < 0,
	      "a chunk is not a manifest");
	CHECK(crypt_open(k, CRYPT_CHUNK, sealed.data, sealed.len, 10, "t", &plain) < 0,
	      "more than max once inflated: refused");
	for (size_t i = 0; i < sealed.len; i++) {
		sealed.data[i] ^= 0x01;
		CHECK(crypt_open(k, CRYPT_CHUNK, sealed.data, sealed.len, 1 << 20, "t", &plain) < 0,
		      "blob byte %zu changed: refused", i);
		sealed.data[i] ^= 0x01;
	}
	CHECK(crypt_open(k, CRYPT_CHUNK, sealed.data, sealed.len - 1, 1 << 20, "t", &plain) < 0,
	      "cut short: refused");

	/* The empty chunk (an empty file) round-trips too. */
	CHECK(crypt_seal(k, CRYPT_CHUNK, "", 0, &sealed) == 0 &&
		  crypt_open(k, CRYPT_CHUNK, sealed.data, sealed.len, 16, "t", &plain) == 0 && plain.len == 0,
	      "empty chunk");

	char name[256], back[256];
	CHECK(crypt_name_seal(k, "1-rows-000000.sql", name) == 0, "name seals");
	CHECK(!strcmp(name, "EeOFmWGUjDxwR9GswEVJKYz_vt86cA3vAlEaPW2tecq8"), "pinned name: %s", name);
	CHECK(crypt_name_open(k, name, back, "t") == 0 && !strcmp(back, "1-rows-000000.sql"), "name opens");
	name[3] = name[3] == 'a' ? 'b' : 'a';
	CHECK(crypt_name_open(k, name, back, "t") < 0, "a changed name is refused");
	CHECK(crypt_name_open(k, "0-begin-000000.sql", back, "t") < 0, "a plain name is refused");
	CHECK(crypt_name_seal(k, "t", name) == 0 && strlen(name) == 23, "a one-byte name: %s", name);
	CHECK(crypt_name_open(k, name, back, "t") == 0 && !strcmp(back, "t"), "opens too");
	char longname[200];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK(crypt_name_seal(k, longname, name) < 0, "a component over 175 bytes is refused");
	longname[CRYPT_MAX_NAME_PLAIN] = '\0';
	CHECK(crypt_name_seal(k, longname, name) == 0 && strlen(name) <= 255, "175 bytes fit: %zu",
	      strlen(name));
	CHECK(crypt_name_open(k, name, back, "t") == 0 && !strcmp(back, longname), "and open");
	buf_free(&sealed);
	buf_free(&plain);
	crypt_key_free(k);
}

static void test_key_file(void)
{
	char dir[] = "/tmp/dbgit-test-crypt-XXXXXX";
	CHECK(mkdtemp(dir) != NULL, "temp dir");
	char *path = xasprintf("%s/k", dir);
	CHECK(crypt_keygen(path) == 0, "keygen writes");
	struct stat sb;
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 07777) == 0600, "mode 0600: %o", sb.st_mode & 07777);
	CHECK(crypt_keygen(path) == ERR_EXISTS, "an existing file is refused");
	struct crypt_key *k = NULL;
	CHECK(crypt_key_load(&k, path) == 0 && k && strlen(k->id) == 16, "loads");
	crypt_key_free(k);
	chmod(path, 0640);
	err_clear();
	CHECK(crypt_key_load(&k, path) == ERR_USAGE && strstr(err_last(), "group or others"),
	      "readable by the group: refused: %s", err_last());
	err_clear();
	/* The pinned format: a version line, 64 hex digits. */
	char *p2 = xasprintf("%s/k2", dir);
	int fd = open(p2, O_WRONLY | O_CREAT | O_EXCL, 0600);
	const char *text = "dbgit-key 1\n000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text), "write");
	close(fd);
	CHECK(crypt_key_load(&k, p2) == 0 && !strcmp(k->id, "108cf8ee68d2bc3f"), "the key file format: id %s",
	      k ? k->id : "");
	crypt_key_free(k);
	unlink(p2);
	fd = open(p2, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(write(fd, "dbgit-key 2\n00\n", 15) == 15, "write");
	close(fd);
	CHECK(crypt_key_load(&k, p2) == ERR_USAGE && strstr(err_last(), "line 1"), "another version: %s",
	      err_last());
	err_clear();
	unlink(p2);
	unlink(path);
	rmdir(dir);
	free(p2);
	free(path);
}

/* Encrypted snapshots are cut finer (no deltas for ciphertext), but never
 * past max_blob_size, and coarser again when max_blob_size is raised. */
static void test_sealed_chunks(void)
{
	struct chunker c;
	chunker_init_sealed(&c, CHUNK_LINES, 48u << 20);
	CHECK(c.avg == 8192 && c.max == 32768 && c.min == 1024, "48M: avg %zu max %zu min %zu", c.avg, c.max,
	      c.min);
	chunker_init_sealed(&c, CHUNK_LINES, 1u << 30);
	CHECK(c.avg > 8192 && c.max <= (1u << 30), "1G: avg %zu", c.avg);
	chunker_init_sealed(&c, CHUNK_LINES, 4096);
	CHECK(c.max <= 4096, "tiny max_blob_size: max %zu", c.max);
	chunker_init_sealed(&c, CHUNK_FIXED, 48u << 20);
	CHECK(c.max == 256 * 1024, "pages: %zu", c.max);
}

int main(void)
{
	test_sealed_chunks();
	test_hkdf();
	test_siv_rfc5297();
	test_siv256();
	test_formats();
	test_key_file();
	return CHECK_DONE();
}
