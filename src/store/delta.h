#ifndef DBGIT_DELTA_H
#define DBGIT_DELTA_H
#include <stddef.h>
#include <stdint.h>
#include "dbgit/util.h"
int delta_create(const unsigned char *src, size_t src_len, const unsigned char *dst, size_t dst_len,
		 size_t max_len, struct buf *out);
int delta_apply(const unsigned char *src, size_t src_len, const unsigned char *delta, size_t delta_len,
		struct buf *out);
int64_t delta_target_size(const unsigned char *delta, size_t delta_len);
#endif
