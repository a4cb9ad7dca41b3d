/*
 * rotate: retention. rotate_plan decides which snapshots stay, with restic's
 * `forget` semantics; rotate_branch rewrites a job branch so that only those
 * remain.
 *
 * Invariants:
 * - Every kept snapshot is rebuilt with its original tree, message,
 *   encoding, author and committer (names and dates), so `git log` shows the
 *   same history minus the dropped commits.
 * - Commits older than the oldest dropped one are reused as they are, so
 *   their ids (and whatever a remote already holds of them) stay valid.
 * - The branch moves once, by compare-and-swap from the tip it was read
 *   at, after every new commit is written: a crash leaves the old branch.
 * - Nothing is deleted here; store_reclaim gives the space back.
 */
#include <git2.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbgit/rotate.h"
#include "dbgit/store.h"
#include "dbgit/util.h"
#include "store_internal.h"

enum bucket_kind { B_LAST, B_HOURLY, B_DAILY, B_WEEKLY, B_MONTHLY, B_YEARLY };

int rotate_policy_empty(const struct keep_policy *p)
{
	return !p || (p->last == 0 && p->hourly == 0 && p->daily == 0 && p->weekly == 0 &&
		      p->monthly == 0 && p->yearly == 0 && p->within <= 0);
}

/* The bucket a snapshot falls in, as one comparable number (restic's
 * ymdh/ymd/yw/ym/y). Local time, like restic's snapshot times. */
static long long bucket_of(enum bucket_kind kind, int64_t t, size_t nr)
{
	if (kind == B_LAST)
		return (long long)nr;
	time_t tt = (time_t)t;
	struct tm tm;
	if (!localtime_r(&tt, &tm))
		return (long long)nr; /* out of range: its own bucket */
	long long y = (long long)tm.tm_year + 1900;
	switch (kind) {
	case B_HOURLY:
		return ((y * 100 + tm.tm_mon + 1) * 100 + tm.tm_mday) * 100 + tm.tm_hour;
	case B_DAILY:
		return (y * 100 + tm.tm_mon + 1) * 100 + tm.tm_mday;
	case B_WEEKLY: {
		/* ISO 8601 week-based year and week, as Go's ISOWeek. */
		char s[16];
		strftime(s, sizeof(s), "%G%V", &tm);
		return atoll(s);
	}
	case B_MONTHLY:
		return y * 100 + tm.tm_mon + 1;
	case B_YEARLY:
		return y;
	default:
		return (long long)nr;
	}
}

static void add_reason(char *r, const char *what)
{
	size_t len = strlen(r);
	snprintf(r + len, 64 - len, "%s%s", len ? ", " : "", what);
}

int rotate_plan(const struct keep_policy *p, const int64_t *times, size_t n, int64_t now,
		int *keep, char (*reasons)[64])
{
	for (size_t i = 0; i < n; i++) {
		keep[i] = 0;
		reasons[i][0] = '\0';
	}
	if (rotate_policy_empty(p)) {
		/* Like restic's empty policy: keep everything, but tell the
		 * caller, since a rotation without a rule is a mistake. */
		for (size_t i = 0; i < n; i++) {
			keep[i] = 1;
			add_reason(reasons[i], "no policy");
		}
		return err_set(ERR_USAGE, "retention policy has no rule (set one of last, hourly, "
					  "daily, weekly, monthly, yearly, within in [keep])");
	}
	if (n == 0)
		return 0;

	struct {
		int count; /* left; negative = unlimited */
		enum bucket_kind kind;
		long long last;
		int seen;
		const char *name;
	} b[] = {
		{p->last, B_LAST, 0, 0, "last"},	 {p->hourly, B_HOURLY, 0, 0, "hourly"},
		{p->daily, B_DAILY, 0, 0, "daily"},	 {p->weekly, B_WEEKLY, 0, 0, "weekly"},
		{p->monthly, B_MONTHLY, 0, 0, "monthly"}, {p->yearly, B_YEARLY, 0, 0, "yearly"},
	};

	/* "within" counts back from the newest snapshot that is not in the
	 * future (restic's findLatestTimestamp); with none such, everything
	 * is within. */
	int have_latest = 0;
	int64_t latest = 0;
	for (size_t i = 0; i < n; i++)
		if (times[i] < now && (!have_latest || times[i] > latest)) {
			latest = times[i];
			have_latest = 1;
		}
	int64_t cutoff = INT64_MIN;
	if (have_latest && p->within > 0)
		cutoff = latest < INT64_MIN + p->within ? INT64_MIN : latest - p->within;

	for (size_t nr = 0; nr < n; nr++) {
		if (p->within > 0 && (!have_latest || times[nr] > cutoff)) {
			keep[nr] = 1;
			add_reason(reasons[nr], "within");
		}
		for (size_t k = 0; k < sizeof(b) / sizeof(b[0]); k++) {
			if (b[k].count == 0)
				continue;
			long long val = bucket_of(b[k].kind, times[nr], nr);
			/* A new bucket, or the oldest snapshot while counts are
			 * left: restic keeps it to stretch the history. */
			if (!b[k].seen || val != b[k].last || nr == n - 1) {
				keep[nr] = 1;
				b[k].last = val;
				b[k].seen = 1;
				if (b[k].count > 0)
					b[k].count--;
				add_reason(reasons[nr], b[k].name);
			}
		}
	}
	if (!keep[0]) {
		keep[0] = 1;
		add_reason(reasons[0], "newest");
	}
	return 0;
}

static void full_ref_name(const char *branch, char *out, size_t len)
{
	if (strncmp(branch, "refs/", 5) == 0)
		snprintf(out, len, "%s", branch);
	else
		snprintf(out, len, "refs/heads/%s", branch);
}

void rotate_result_free(struct rotate_result *res)
{
	free(res->plan);
	res->plan = NULL;
	res->n_plan = 0;
}

/* pending > 0: a snapshot taken at that time, not committed yet, is
 * planned as the newest (a dry-run backup's preview); nothing moves. */
static int rotate_run(struct store *st, const char *branch, const struct keep_policy *p,
		      int64_t now, int dry_run, int64_t pending, struct rotate_result *res)
{
	git_repository *repo = store_git(st);
	char refname[1024];
	git_reference *ref = NULL, *resolved = NULL, *moved = NULL;
	git_commit **chain = NULL, *base = NULL;
	int64_t *times = NULL;
	int *keep = NULL;
	char(*reasons)[64] = NULL;
	size_t n = 0, cap = 0, kept = 0;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	full_ref_name(branch, refname, sizeof(refname));
	if (rotate_policy_empty(p))
		return err_set(ERR_USAGE,
			       "%s: retention policy has no rule (set one of last, hourly, daily, "
			       "weekly, monthly, yearly, within in [keep])",
			       refname);

	int e = git_reference_lookup(&ref, repo, refname);
	if (e == GIT_ENOTFOUND && !pending)
		return 0; /* nothing to rotate */
	if (e < 0 && e != GIT_ENOTFOUND)
		return store_git_error(refname);
	if (e == 0 && git_reference_resolve(&resolved, ref) < 0) {
		rc = store_git_error(refname);
		goto out;
	}
	const git_oid *tip = resolved ? git_reference_target(resolved) : NULL;
	if (tip)
		git_oid_tostr(res->old_tip, sizeof(res->old_tip), tip);
	snprintf(res->new_tip, sizeof(res->new_tip), "%s", res->old_tip);
	size_t off = pending ? 1 : 0; /* plan index of chain[0] */

	/* The snapshots, newest first, along first parents. A merge has no
	 * place in a backup branch and cannot be replayed faithfully. */
	git_oid cur = tip ? *tip : (git_oid){{0}};
	for (; tip;) {
		git_commit *c = NULL;
		if (git_commit_lookup(&c, repo, &cur) < 0) {
			rc = store_git_error(refname);
			goto out;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			git_commit **nc = realloc(chain, cap * sizeof(*nc));
			if (!nc) {
				git_commit_free(c);
				rc = err_set(ERR_GENERIC, "out of memory");
				goto out;
			}
			chain = nc;
		}
		chain[n++] = c;
		unsigned parents = git_commit_parentcount(c);
		if (parents > 1) {
			char hex[GIT_OID_HEXSZ + 1];
			git_oid_tostr(hex, sizeof(hex), git_commit_id(c));
			rc = err_set(ERR_GENERIC, "%s: commit %s is a merge; refusing to rewrite", refname,
				     hex);
			goto out;
		}
		if (parents == 0)
			break;
		cur = *git_commit_parent_id(c, 0);
	}

	size_t np = n + off;
	times = calloc(np, sizeof(*times));
	keep = calloc(np, sizeof(*keep));
	reasons = calloc(np, sizeof(*reasons));
	res->plan = calloc(np, sizeof(*res->plan));
	if (!times || !keep || !reasons || !res->plan) {
		rc = err_set(ERR_GENERIC, "out of memory");
		goto out;
	}
	if (pending)
		times[0] = pending;
	for (size_t i = 0; i < n; i++)
		times[i + off] = git_commit_author(chain[i])->when.time;
	if ((rc = rotate_plan(p, times, np, now, keep, reasons)) < 0)
		goto out;
	/* The plan as data: the command says it (rotate --dry-run, backup
	 * --dry-run), this module prints nothing. */
	res->n_plan = np;
	for (size_t i = 0; i < np; i++) {
		struct rotate_entry *en = &res->plan[i];
		if (i >= off)
			git_oid_tostr(en->id, sizeof(en->id), git_commit_id(chain[i - off]));
		en->time = times[i];
		en->keep = keep[i];
		snprintf(en->reasons, sizeof(en->reasons), "%s", reasons[i]);
		kept += keep[i] != 0;
	}
	res->total = np;
	res->kept = kept;

	if (dry_run || pending)
		goto out;
	if (kept == n)
		goto out;

	/* Rebuild from the oldest dropped snapshot upward; below it, reuse. */
	size_t oldest_drop = 0;
	for (size_t i = 0; i < n; i++)
		if (!keep[i])
			oldest_drop = i;
	if (oldest_drop + 1 < n && git_commit_dup(&base, chain[oldest_drop + 1]) < 0) {
		rc = store_git_error(refname);
		goto out;
	}
	git_oid new_tip = {{0}};
	for (size_t i = oldest_drop; i-- > 0;) {
		if (!keep[i])
			continue;
		/* Stopped here, the branch has not moved: the commits written
		 * so far are unreachable and go at the next reclaim. */
		if ((rc = sig_check()) < 0)
			goto out;
		git_commit *c = chain[i];
		git_tree *tree = NULL;
		if (git_commit_tree(&tree, c) < 0) {
			rc = store_git_error(refname);
			goto out;
		}
		const git_commit *parents[1] = {base};
		e = git_commit_create(&new_tip, repo, NULL, git_commit_author(c), git_commit_committer(c),
				      git_commit_message_encoding(c), git_commit_message_raw(c), tree,
				      base ? 1 : 0, parents);
		git_tree_free(tree);
		if (e < 0) {
			rc = store_git_error(refname);
			goto out;
		}
		git_commit_free(base);
		base = NULL;
		if (git_commit_lookup(&base, repo, &new_tip) < 0) {
			rc = store_git_error(refname);
			goto out;
		}
	}

	if ((rc = sig_check()) < 0 || (rc = store_sync(st)) < 0)
		goto out;
	char msg[256];
	snprintf(msg, sizeof(msg), "dbgit rotate: kept %zu of %zu snapshots (was %s)", kept, n,
		 res->old_tip);
	e = git_reference_create_matching(&moved, repo, git_reference_name(resolved), &new_tip, 1,
					  tip, msg);
	if (e == GIT_EMODIFIED) {
		rc = err_set(ERR_GENERIC, "%s moved while it was being rotated; nothing changed",
			     refname);
		goto out;
	}
	if (e < 0) {
		rc = store_git_error(refname);
		goto out;
	}
	git_oid_tostr(res->new_tip, sizeof(res->new_tip), &new_tip);
	res->rewritten = 1;
	/* Durable before reclaim deletes what the old tip reached. */
	if ((rc = store_sync_ref(st, git_reference_name(resolved))) < 0)
		goto out;
	log_info("%s: kept %zu of %zu snapshots, %.12s -> %.12s", refname, kept, n, res->old_tip,
		 res->new_tip);

out:
	for (size_t i = 0; i < n; i++)
		git_commit_free(chain[i]);
	free(chain);
	git_commit_free(base);
	free(times);
	free(keep);
	free(reasons);
	git_reference_free(moved);
	git_reference_free(resolved);
	git_reference_free(ref);
	return rc;
}

int rotate_branch_ex(struct store *st, const char *branch, const struct keep_policy *p,
		     int64_t now, int dry_run, struct rotate_result *res)
{
	return rotate_run(st, branch, p, now, dry_run, 0, res);
}

int rotate_preview(struct store *st, const char *branch, const struct keep_policy *p, int64_t now,
		   int64_t pending, struct rotate_result *res)
{
	return rotate_run(st, branch, p, now, 1, pending > 0 ? pending : 1, res);
}

int rotate_branch(struct store *st, const char *branch, const struct keep_policy *p,
		  int dry_run, int *rewritten)
{
	struct rotate_result res;
	int rc = rotate_branch_ex(st, branch, p, time_now(), dry_run, &res);
	if (rewritten)
		*rewritten = res.rewritten;
	rotate_result_free(&res);
	return rc;
}
