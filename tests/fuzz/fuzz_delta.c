/*
 * libFuzzer target: git pack deltas (src/store/delta.c). The input is
 *   [mode] [split: 2 bytes, little-endian] payload
 * and payload is cut at split (modulo its length) into src and rest.
 *  - delta_apply(src, rest): rest is an arbitrary, hostile delta. It is
 *    refused with one "delta: " line, or applied to exactly the size
 *    delta_target_size reads.
 *  - delta_create(src, dst) then delta_apply: dst is rest, or with mode
 *    bit 1 rest spliced into the middle of src (so that most of it is a
 *    copy). The delta gives dst back, is never much worse than dst stored
 *    whole, and with mode bit 0 respects a max_len of half of dst.
 * Any crash, leak, sanitizer report or broken promise is a bug.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/store/delta.h"
#include "dbgit/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_message(void)
{
	if (strncmp(err_last(), "delta: ", 7) || strchr(err_last(), '\n')) {
		fprintf(stderr, "bad message: %s\n", err_last());
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	unsigned mode = data[0];
	size_t split = (size_t)data[1] | (size_t)data[2] << 8;
	const unsigned char *payload = data + 3;
	size_t len = size - 3;
	split = len ? split % (len + 1) : 0;
	const unsigned char *src = payload, *rest = payload + split;
	size_t src_len = split, rest_len = len - split;
	struct buf out = BUF_INIT, dst = BUF_INIT, delta = BUF_INIT;

	/* rest as a delta. */
	err_clear();
	int rc = delta_apply(src, src_len, rest, rest_len, &out);
	if (rc < 0) {
		if (rc != ERR_VERIFY)
			abort();
		check_message();
		if (out.len)
			abort();
	} else if (rc != 0 || (int64_t)out.len != delta_target_size(rest, rest_len)) {
		abort();
	}

	/* rest as a target. */
	if (mode & 2) {
		size_t at = src_len / 2;
		buf_add(&dst, src, at);
		buf_add(&dst, rest, rest_len);
		buf_add(&dst, src + at, src_len - at);
	} else {
		buf_add(&dst, rest, rest_len);
	}
	size_t max_len = mode & 1 ? dst.len / 2 : SIZE_MAX;
	err_clear();
	rc = delta_create(src, src_len, (const unsigned char *)dst.data, dst.len, max_len, &delta);
	if (rc < 0) {
		fprintf(stderr, "delta_create: %s\n", err_last());
		abort();
	}
	if (rc == 1) {
		if (dst.len && max_len == SIZE_MAX)
			abort(); /* only an empty target or the limit make it give up */
	} else {
		/* Two sizes, the bytes, an insert opcode per 127 (copies only
		 * ever save). */
		if (delta.len > max_len || delta.len > 10 + dst.len + dst.len / 127 + 1) {
			fprintf(stderr, "delta of %zu bytes for %zu\n", delta.len, dst.len);
			abort();
		}
		if (delta_target_size((const unsigned char *)delta.data, delta.len) != (int64_t)dst.len)
			abort();
		if (delta_apply(src, src_len, (const unsigned char *)delta.data, delta.len, &out) < 0) {
			fprintf(stderr, "own delta refused: %s\n", err_last());
			abort();
		}
		if (out.len != dst.len || memcmp(out.data, dst.data, dst.len))
			abort();
	}
	buf_free(&out);
	buf_free(&dst);
	buf_free(&delta);
	return 0;
}
