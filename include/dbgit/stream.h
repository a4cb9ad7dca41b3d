/*
 * stream: the two narrow interfaces between engines and the store, so that
 * neither knows the other. An engine writes a dump into a dump_sink as a set
 * of named files; the store chunks them into blobs. To restore, the store
 * hands an engine a dump_source that yields the snapshot's files back in
 * byte-wise sorted path order.
 */
#ifndef DBGIT_STREAM_H
#define DBGIT_STREAM_H

#include <stddef.h>
#include <sys/types.h>

/* How the store may cut a file into chunks. */
enum chunk_mode {
	CHUNK_LINES, /* text, one record per line: cut after a line, at
	                content-defined points, so an edit moves few chunks */
	CHUNK_FIXED, /* pages: fixed-size chunks, so a changed page changes one */
};

struct dump_sink {
	/* Starts a logical file. path is relative ("1-table/t/1-rows.sql"). The
	 * store names chunks "<path without ext>-NNNNNN<ext>". */
	int (*open)(struct dump_sink *s, const char *path, enum chunk_mode mode);
	int (*write)(struct dump_sink *s, const void *data, size_t len);
	int (*close)(struct dump_sink *s);
};

struct dump_source {
	/* Moves to the next file: returns 1 and sets *path, 0 at the end,
	 * negative on error. */
	int (*next)(struct dump_source *s, const char **path);
	/* Reads from the current file: bytes read, 0 at its end, <0 on error. */
	ssize_t (*read)(struct dump_source *s, void *buf, size_t len);
};

#endif
