/* TEMPORARY STUB: replaced by the delta helper's encoder. */
#include "delta.h"
int delta_create(const unsigned char *src, size_t src_len, const unsigned char *dst, size_t dst_len,
		 size_t max_len, struct buf *out)
{
	(void)src; (void)src_len; (void)dst; (void)dst_len; (void)max_len; (void)out;
	return 1;
}
