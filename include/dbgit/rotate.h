/*
 * rotate: retention by rewriting a job branch so that only the retained
 * snapshots remain (each with its original tree, message, author and
 * dates; commits older than the first dropped one keep their ids), then
 * giving the space of dropped snapshots back.
 */
#ifndef DBGIT_ROTATE_H
#define DBGIT_ROTATE_H

#include <stddef.h>
#include <stdint.h>

#include "dbgit/config.h"

struct store;

/* Pure policy (restic's forget semantics). times: snapshot times, newest
 * first. Sets keep[i] to 1 for kept snapshots and writes which rules kept
 * them into reasons[i] ("last, daily"). The newest is always kept. */
int rotate_plan(const struct keep_policy *p, const int64_t *times, size_t n, int64_t now,
		int *keep, char (*reasons)[64]);

/* Buckets (hour, day, ISO week, month, year) are taken in local time, as
 * restic does; set TZ=UTC for UTC buckets. A negative count means "all".
 * "within" keeps what is newer than (newest snapshot not after now) minus
 * within. A policy with no rule is ERR_USAGE (everything marked kept). */
int rotate_policy_empty(const struct keep_policy *p);

/* Applies the policy to branch (a full ref "refs/heads/backup/app" or a
 * short "backup/app"). With dry_run changes nothing.
 * Sets *rewritten when the branch moved. The branch moves by
 * compare-and-swap with a reflog entry that names the old tip. */
int rotate_branch(struct store *st, const char *branch, const struct keep_policy *p,
		  int dry_run, int *rewritten);

/* One snapshot of the plan, newest first. */
struct rotate_entry {
	char id[41]; /* "" for the pending snapshot of rotate_preview */
	int64_t time;
	int keep;
	char reasons[64]; /* the rules that keep it ("last, daily") */
};

/* What rotate_branch_ex did (or, dry run, would do), for a command to
 * report: the module prints nothing. Free with rotate_result_free. */
struct rotate_result {
	size_t total, kept;
	struct rotate_entry *plan; /* total entries; NULL if the branch has none */
	size_t n_plan;
	int rewritten;
	char old_tip[41]; /* "" if the branch does not exist */
	char new_tip[41]; /* == old_tip unless rewritten */
};
/* rotate_branch with an explicit clock (for the "within" rule). */
int rotate_branch_ex(struct store *st, const char *branch, const struct keep_policy *p,
		     int64_t now, int dry_run, struct rotate_result *res);
/* The plan if a snapshot taken at pending were committed now (backup
 * --dry-run): that snapshot is plan[0] with id "". Changes nothing. */
int rotate_preview(struct store *st, const char *branch, const struct keep_policy *p, int64_t now,
		   int64_t pending, struct rotate_result *res);
void rotate_result_free(struct rotate_result *res);

/* Removes objects no ref reaches any more: expires reflogs, writes one
 * pack of everything reachable, then deletes old packs and loose objects.
 * Crash-safe: no reachable object is ever missing. Blobs it has named for
 * the packer before (the lineage cache in the repository) are not read
 * again. */
int store_reclaim(struct store *st);

struct reclaim_result {
	uint64_t bytes_before, bytes_after; /* size of objects/ */
	size_t objects;                     /* objects in the new pack */
	size_t reflog_dropped;              /* reflog entries expired */
	size_t names;                       /* blobs named for the packer */
	size_t names_read;                  /* of them, read (not in the lineage cache) */
};
int store_reclaim_ex(struct store *st, struct reclaim_result *res);

/* True when loose objects have piled up enough to be worth packing: at
 * least 32 MiB of them, or 1/32 of the packs' size if less (at least
 * 1 MiB), and more than one snapshot in the repository. */
int store_wants_pack(struct store *st);

/* What store_maintain did. */
enum store_pack_kind {
	STORE_PACK_NONE,      /* nothing worth packing */
	STORE_PACK_APPEND,    /* loose objects and the other packs added to the largest (packw.c) */
	STORE_PACK_FULL,      /* store_reclaim_ex: everything rewritten */
};
struct pack_result {
	enum store_pack_kind kind;
	struct reclaim_result full;   /* kind == STORE_PACK_FULL */
	size_t loose, packs_merged;   /* what the nightly pack took */
	size_t objects;               /* objects in its new pack */
	size_t copied, added;         /* of them: copied from the largest pack, new */
	size_t whole, deltas;         /* the new ones stored whole, as deltas */
	size_t rebased;               /* previous versions re-stored as deltas */
	size_t lines_read;            /* chunks read to pair them (not in the lineage cache) */
	size_t packs_after;           /* packs in the repository afterwards */
	size_t names, names_read;     /* as in reclaim_result */
};

/* The nightly maintenance, in proportion to the change (packw.c says
 * how): a full store_reclaim_ex when dropped (a rotation dropped
 * snapshots: only that gives space back), else, when store_wants_pack,
 * one pack of the largest pack's entries as they are, the loose objects
 * and the other packs, each new chunk whole and its previous version
 * re-stored as a delta against it; a full reclaim when the largest pack
 * cannot be extended. Crash-safe like store_reclaim. res may be NULL. */
int store_maintain(struct store *st, int dropped, struct pack_result *res);

#endif
