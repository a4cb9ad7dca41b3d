/*
 * libFuzzer target: encrypted blobs and sealed tree names as anyone who can
 * push to a remote could write them. The bytes go to crypt_open (header,
 * authentication, bounded inflate) and, as a name, to crypt_name_open; each
 * must refuse them in one line or give back what a seal of that content
 * would. They also go the other way: sealed, then opened, they must come
 * back unchanged. Any crash, leak, sanitizer report or failed round trip
 * is a bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dbgit/crypt.h"
#include "dbgit/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct crypt_key *key(void)
{
	static struct crypt_key *k;
	if (!k) {
		unsigned char raw[32];
		for (int i = 0; i < 32; i++)
			raw[i] = (unsigned char)i;
		k = crypt_key_from_bytes(raw, "fuzz");
	}
	return k;
}

static void one_line(void)
{
	if (strchr(err_last(), '\n'))
		abort();
	err_clear();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct crypt_key *k = key();
	struct buf out = BUF_INIT, sealed = BUF_INIT, back = BUF_INIT;
	err_clear();
	/* As a blob from the repository. */
	if (crypt_open(k, CRYPT_CHUNK, data, size, 1 << 16, "fuzz", &out) < 0)
		one_line();
	else if (out.len > (1 << 16))
		abort();
	if (crypt_open(k, CRYPT_MANIFEST, data, size, 1 << 16, "fuzz", &out) < 0)
		one_line();
	/* As a tree entry name. */
	char name[300], plain[256], again[256];
	size_t n = size < sizeof(name) - 1 ? size : sizeof(name) - 1;
	memcpy(name, data, n);
	name[n] = '\0';
	if (crypt_name_open(k, name, plain, "fuzz") < 0) {
		one_line();
	} else if (crypt_name_seal(k, plain, again) < 0 || strcmp(again, name)) {
		abort(); /* one spelling per name */
	}
	/* As content and as a name to seal: the round trips. */
	if (crypt_seal(k, CRYPT_CHUNK, data, size, &sealed) < 0 ||
	    crypt_open(k, CRYPT_CHUNK, sealed.data, sealed.len, size, "fuzz", &back) < 0 ||
	    back.len != size || (size && memcmp(back.data, data, size)))
		abort();
	if (strlen(name) && strlen(name) <= CRYPT_MAX_NAME_PLAIN && !strchr(name, '/')) {
		char s[256];
		if (crypt_name_seal(k, name, s) < 0 || crypt_name_open(k, s, plain, "fuzz") < 0 ||
		    strcmp(plain, name))
			abort();
	}
	err_clear();
	buf_free(&out);
	buf_free(&sealed);
	buf_free(&back);
	return 0;
}
