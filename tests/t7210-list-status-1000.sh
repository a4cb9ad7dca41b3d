#!/bin/bash
# t7210: `list` and `status` on a branch of 1,000 snapshots. The history is
# built with git plumbing from one real snapshot's tree (a commit a night
# for 1,000 nights). list streams them all; status reads only the newest
# manifest plus a count: on a second branch whose 999 older manifests are
# gone from the repository, status is unaffected, while list (which reads
# every one) shows each as invalid - so what status reads is counted.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/repo.git
N=1000
git_() { git -C "$REPO" "$@"; }
make_demo_db "$T/app.db"
write_config "$T/dbgit.toml" "$REPO" \
	'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"" '' \
	'[[job]]' 'name = "old"' 'engine = "sqlite"' "path = \"$T/app.db\""
"$DBGIT" --config "$T/dbgit.toml" init >/dev/null
"$DBGIT" --config "$T/dbgit.toml" backup app >/dev/null
TREE=$(git_ rev-parse "refs/heads/backup/app^{tree}")
# The same snapshot under a manifest whose blob will be deleted: only a
# command that reads the older manifests can notice.
GONE=$(printf '{"gone": true}\n' | git_ hash-object -w --stdin)
OLD_TREE=$( (git_ ls-tree "$TREE" | grep -v "	MANIFEST.json$"; printf '100644 blob %s\tMANIFEST.json\n' "$GONE") | git_ mktree)

# history BRANCH TREE-OF-OLDER: N commits a day apart, oldest first; the
# newest has the real tree.
history() {
	local branch=$1 older=$2 parent="" i c t
	for i in $(seq 1 $N); do
		t=$((1700000000 + i * 86400))
		if [ "$i" = $N ]; then older=$TREE; fi
		c=$(GIT_AUTHOR_DATE="@$t +0000" GIT_COMMITTER_DATE="@$t +0000" \
			git_ commit-tree "$older" ${parent:+-p "$parent"} -m "night $i")
		parent=$c
	done
	git_ update-ref "$branch" "$parent"
}
history refs/heads/backup/app "$TREE"
history refs/heads/backup/old "$OLD_TREE"
rm -f "$REPO/objects/${GONE:0:2}/${GONE:2}"
[ "$(git_ rev-list --count refs/heads/backup/app)" = $N ] || exit 1

test_case "list shows all 1,000 snapshots of a branch, newest first, as text and JSON" '
	expect_exit 0 "$DBGIT" --config "$T/dbgit.toml" list app
	[ "$(wc -l <.stdout)" = $((N + 1)) ]
	[ "$(grep -c " app .* passed$" .stdout)" = $N ]
	sed -n 2p .stdout | grep -q "^$(git -C "$REPO" rev-parse --short=12 refs/heads/backup/app)"
	expect_exit 0 "$DBGIT" --config "$T/dbgit.toml" list app --json
	[ "$(jq length .stdout)" = $N ]
	[ "$(jq -r ".[0].id" .stdout)" = "$(git -C "$REPO" rev-parse refs/heads/backup/app)" ]
	[ "$(jq -r "[.[] | select(.verified == \"passed\")] | length" .stdout)" = $N ]
	[ "$(jq -r ".[$N - 1].time" .stdout)" = "2023-11-15T22:13:20Z" ]
'

test_case "list of every job streams both branches; the missing manifests show as invalid" '
	expect_exit 0 "$DBGIT" --config "$T/dbgit.toml" list
	[ "$(wc -l <.stdout)" = $((2 * N + 1)) ]
	[ "$(grep -c " old .*invalid manifest$" .stdout)" = $((N - 1)) ]
	expect_exit 0 "$DBGIT" --config "$T/dbgit.toml" list --json
	[ "$(jq length .stdout)" = $((2 * N)) ]
'

test_case "status counts 1,000 snapshots and reads only the newest manifest" '
	expect_exit 0 "$DBGIT" --config "$T/dbgit.toml" status
	grep -q "^app: $N snapshots, newest " .stdout
	grep -q "^old: $N snapshots, newest " .stdout
	# 999 manifests of old are gone: status never looked at them.
	test_must_fail grep -q "valid manifest" .stdout
	expect_exit 0 "$DBGIT" --config "$T/dbgit.toml" status --json
	[ "$(jq ".[1].snapshots" .stdout)" = $N ]
	[ "$(jq -r ".[1].newest" .stdout)" = "$(git -C "$REPO" rev-parse refs/heads/backup/old)" ]
	[ "$(jq ".[1].newest_dump_bytes > 0" .stdout)" = true ]
	expect_exit 0 "$DBGIT" --config "$T/dbgit.toml" status --prometheus
	grep -q "^dbgit_snapshots{job=\"old\"} $N$" .stdout
'

test_case "restore --at finds a snapshot deep in a history of 1,000" '
	expect_exit 0 "$DBGIT" --config "$T/dbgit.toml" restore app --at 2023-11-20T00:00:00Z --to "$T/at.db"
	same_db "$T/app.db" "$T/at.db"
'

test_done
