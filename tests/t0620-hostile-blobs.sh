#!/bin/bash
# Memory stays bounded whatever a repository holds (issue "Trust"): a blob
# of zeros compresses a thousandfold, so a push of a few MB can plant a
# file of gigabytes. dbgit never writes a blob over max_blob_size; a larger
# one is refused from its header, before libgit2 inflates it whole.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
G() { git --git-dir="$REPO" "$@"; }

make_demo_db "$T/app.db"
write_config "$T/dbgit.toml" "$REPO" 'max_blob_size = "1M"' \
	'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\""
dg init >/dev/null
dg backup >/dev/null
GOOD=$(G rev-parse backup/app)

# plant_blob PATH BLOB: a new tip of backup/app, the good snapshot's tree
# with PATH holding BLOB, under the same MANIFEST.json.
plant_blob() {
	local tree commit
	G read-tree --index-output="$T/plant.idx" "$GOOD"
	GIT_INDEX_FILE="$T/plant.idx" G update-index --add --cacheinfo "100644,$2,$1"
	tree=$(GIT_INDEX_FILE="$T/plant.idx" G write-tree)
	rm -f "$T/plant.idx"
	commit=$(G log -1 --format=%B "$GOOD" | G commit-tree "$tree" -p "$GOOD")
	G update-ref refs/heads/backup/app "$commit"
}

# 96 MiB of zeros: about 100 KB in the repository.
ZEROS=$(head -c 100663296 /dev/zero | G hash-object -w --stdin)
# A chunk dbgit wrote itself, planted again: under the limit.
SMALL=$(G cat-file blob "$GOOD:1-table/orders/1-rows-000000.sql" | G hash-object -w --stdin)

test_case "restore refuses a blob over max_blob_size before reading it, naming file and sizes" '
	plant_blob 1-table/orders/1-rows-000000.sql "$ZEROS"
	expect_exit 1 dg restore app --to "$T/out.db"
	stderr_has "1-table/orders/1-rows-000000.sql (blob ${ZEROS:0:12}) holds 100663296 bytes, more than a snapshot file may (16777216: max_blob_size, at least 16 MiB)"
	[ "$(wc -l <"$T/.stderr")" = 1 ]
	test_must_fail test -e "$T/out.db"
'

test_case "verify and diff --stat refuse it the same way; no scratch left" '
	expect_exit 1 dg verify app
	grep -qF "holds 100663296 bytes, more than a snapshot file may" "$T/.stdout" "$T/.stderr"
	expect_exit 1 dg diff app --stat
	stderr_has "holds 100663296 bytes, more than a snapshot file may"
	[ -z "$(ls -a "$T" | grep dbgit-)" ]
'

test_case "a chunk under the limit is read as before; with max_blob_size = 1M the snapshot restores" '
	plant_blob 1-table/orders/1-rows-000000.sql "$SMALL"
	expect_exit 0 dg restore app --to "$T/ok.db"
	same_db "$T/app.db" "$T/ok.db"
'

test_done
