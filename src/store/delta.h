/*
 * Private to src/store: git's pack delta format (gitformat-pack,
 * "Deltified representation"), so that the pack writer can store a chunk
 * as the difference from its previous version (OFS_DELTA / REF_DELTA).
 *
 * A delta is two sizes (source, then target), each a little-endian base-128
 * varint, then instructions: 0x80|bits copies from the source (bits 0-3 say
 * which offset bytes follow, bits 4-6 which size bytes; size 0 means
 * 0x10000), 1..127 inserts that many following bytes, 0 is reserved.
 */
#ifndef DBGIT_STORE_DELTA_H
#define DBGIT_STORE_DELTA_H

#include <stddef.h>
#include <stdint.h>

#include "dbgit/util.h" /* struct buf */

/* A delta that turns src into dst, in git's pack delta format (two size
 * varints, then copy and insert instructions), appended to out (cleared
 * first). Returns 0, or 1 when the delta would exceed max_len bytes (then
 * out's content is unspecified: the caller stores dst whole; also when dst
 * is empty, since git cannot read an empty blob stored as a delta), or a
 * negative err_set() error (out of memory). src_len and dst_len < 2^32.
 * Memory O(src_len / 16 + max_len); time about linear in src_len + dst_len. */
int delta_create(const unsigned char *src, size_t src_len, const unsigned char *dst, size_t dst_len,
		 size_t max_len, struct buf *out);
/* Applies delta (untrusted: every size, offset and opcode checked; a
 * reserved opcode 0, a copy past src, output not exactly the declared size,
 * a delta under git's minimum of 4 bytes or to an empty target are errors,
 * never a crash) to src; out is cleared and gets the result.
 * Returns 0 or ERR_VERIFY with a one-line message. */
int delta_apply(const unsigned char *src, size_t src_len, const unsigned char *delta, size_t delta_len,
		struct buf *out);
/* The target size a delta declares (its second varint), or -1 if it is malformed. */
int64_t delta_target_size(const unsigned char *delta, size_t delta_len);

#endif
