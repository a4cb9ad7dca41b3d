#!/bin/bash
# Verification (issue 3): a faithful snapshot verifies; a damaged one -
# damaged in the repository after commit, or between write and commit -
# fails with a message naming the snapshot and the file or table, exit 1,
# and no branch moves.
. "$TEST_SRCDIR/lib/test-lib.sh"


REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
py() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); $2" "$1"; }
tip() { git --git-dir="$REPO" rev-parse -q --verify "refs/heads/backup/$1" || echo none; }
G() { git --git-dir="$REPO" "$@"; }

# rewrite_loose ID PYCODE: rewrites the loose object ID; PYCODE edits the
# bytearray `body` (the object's content, after its header).
rewrite_loose() {
	python3 - "$REPO/objects/${1:0:2}/${1:2}" "$2" <<'EOF2'
import sys, zlib
p, code = sys.argv[1], sys.argv[2]
raw = zlib.decompress(open(p, "rb").read())
head, body = raw.split(b"\0", 1)
body = bytearray(body)
exec(code)
open(p, "wb").write(zlib.compress(head + b"\0" + bytes(body)))
EOF2
}
# tamper JOB PATH SEDEXPR: a new tip for JOB whose file PATH is edited by
# sed - valid git objects, same manifest, so only verification can tell.
tamper() {
	local job=$1 path=$2 expr=$3 blob tree commit
	blob=$(G cat-file blob "backup/$job:$path" | sed "$expr" | G hash-object -w --stdin)
	G read-tree --index-output="$T/tamper.idx" "backup/$job"
	GIT_INDEX_FILE="$T/tamper.idx" G update-index --cacheinfo "100644,$blob,$path"
	tree=$(GIT_INDEX_FILE="$T/tamper.idx" G write-tree)
	commit=$(G log -1 --format=%B "backup/$job" | G commit-tree "$tree" -p "backup/$job~1")
	G update-ref "refs/heads/backup/$job" "$commit"
	rm -f "$T/tamper.idx"
}

make_demo_db "$T/app.db"
make_demo_db "$T/bin.db"
make_demo_db "$T/fast.db"
write_config "$T/dbgit.toml" "$REPO" \
	'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"" \
	'[[job]]' 'name = "bin"' 'engine = "sqlite"' "path = \"$T/bin.db\"" 'format = "binary"' \
	'[[job]]' 'name = "fast"' 'engine = "sqlite"' "path = \"$T/fast.db\"" 'verify = "none"'
dg init >/dev/null

test_case "three faithful snapshots verify, one by one and --all" '
	for i in 1 2 3; do
		sqlite3 app.db "INSERT INTO plain VALUES ($i, \"row $i\")"
		DBGIT_NOW=2026-02-0${i}T00:00:00Z expect_exit 0 dg backup app
	done
	expect_exit 0 dg verify app
	grep -q "$(tip app | cut -c1-12)  passed" .stdout
	expect_exit 0 dg verify app HEAD~2
	expect_exit 0 dg verify app --all
	[ "$(grep -c passed .stdout)" = 3 ]
	expect_exit 0 dg verify app --all --json
	py .stdout "assert [s[\"result\"] for s in j] == [\"passed\"] * 3, j"
'

test_case "verify = none is recorded in the manifest and listed as skipped" '
	expect_exit 0 dg backup fast
	expect_exit 0 dg show fast --json
	py .stdout "assert j[\"verification\"] == {\"mode\": \"none\", \"result\": \"skipped\"}, j[\"verification\"]"
	expect_exit 0 dg list fast
	grep " fast " .stdout | grep -q skipped
	expect_exit 0 dg list fast --json
	py .stdout "assert j[0][\"verified\"] == \"skipped\", j"
	G log -1 --format=%B backup/fast | grep -q "verification skipped"
	# It can still be restore-tested later.
	expect_exit 0 dg verify fast
'

# Faults between write and commit (DBGIT_TEST_CORRUPT, see src/cycle.c).
test_case "a row lost before commit: exit 1, table named, nothing committed" '
	before=$(tip app)
	sqlite3 app.db "INSERT INTO orders VALUES (5, 1, 9.5, \"five\", NULL)"
	DBGIT_TEST_CORRUPT=drop-line:1-table/orders/1-rows expect_exit 1 dg backup app
	stderr_has "verification failed"
	stderr_has "table orders: 5 rows in the source, 4 in the snapshot"
	stderr_has "nothing committed"
	[ "$(tip app)" = "$before" ]
	[ "$(G rev-list --count backup/app)" = 3 ]
'

test_case "a value changed before commit: exit 1, table named, --keep-failed keeps the scratch" '
	before=$(tip app)
	DBGIT_TEST_CORRUPT=alter:1-table/customers/1-rows expect_exit 1 dg backup app --keep-failed "$T/kept"
	stderr_has "verification failed"
	stderr_has "table customers: same 4 rows but different content"
	[ "$(tip app)" = "$before" ]
	ls kept/
	kept=$(ls -d kept/app-*)
	[ -f "$kept/restored-sql.db" ]
	# The kept database is the damaged restore: the user can look at it.
	[ -n "$(sqldiff --table customers app.db "$kept/restored-sql.db")" ]
	stderr_has "$kept"
'

test_case "a damaged page before commit of a binary copy: exit 1, nothing committed" '
	expect_exit 0 dg backup bin
	before=$(tip bin)
	sqlite3 bin.db "INSERT INTO plain VALUES (7, 7)"
	DBGIT_TEST_CORRUPT=flip:binary/ expect_exit 1 dg backup bin
	stderr_has "verification failed"
	[ "$(tip bin)" = "$before" ]
	# Without the fault the same backup goes through.
	expect_exit 0 dg backup bin
	[ "$(tip bin)" != "$before" ]
'

test_case "dry run verifies and commits nothing" '
	before=$(tip app)
	expect_exit 0 dg backup app --dry-run
	[ "$(tip app)" = "$before" ]
	DBGIT_TEST_CORRUPT=drop-line:1-table/orders/1-rows expect_exit 1 dg backup app --dry-run
	stderr_has "table orders"
'

# Faults in snapshots already committed.
test_case "an altered value in a committed blob fails verify (hash check), naming the file and snapshot" '
	cp -a "$REPO/objects" pristine-objects
	id=$(G rev-parse "backup/app~1:1-table/plain/1-rows-000000.sql")
	rewrite_loose "$id" "i = body.index(b\"row 2\"); body[i + 4] = ord(\"9\")"
	tip_before=$(tip app)
	expect_exit 1 dg verify app HEAD~1
	stderr_has "$(G rev-parse backup/app~1 | cut -c1-12)"
	stderr_has "1-table/plain/1-rows-000000.sql"
	[ "$(tip app)" = "$tip_before" ]
	# --all tells which snapshots are bad and which are good.
	expect_exit 1 dg verify app --all --json
	py .stdout "assert [s[\"result\"] for s in j] == [\"passed\", \"failed\", \"passed\"], j; assert any(\"1-table/plain\" in p for p in j[1][\"problems\"]), j[1]"
'

test_case "a truncated chunk fails verify and restore, naming the file" '
	rm -rf "$REPO/objects"
	cp -a pristine-objects "$REPO/objects"
	id=$(G rev-parse "backup/app:1-table/orders/1-rows-000000.sql")
	rewrite_loose "$id" "del body[len(body) // 2:]"
	expect_exit 1 dg verify app
	stderr_has "1-table/orders/1-rows-000000.sql"
	expect_exit 1 dg restore app --to t.db
	stderr_has "1-table/orders/1-rows-000000.sql"
	[ ! -e t.db ]
	rm -rf "$REPO/objects"
	cp -a pristine-objects "$REPO/objects"
	expect_exit 0 dg verify app --all
'

test_case "a dropped row in a well-formed snapshot fails verify, naming the table" '
	good=$(tip app)
	tamper app 1-table/plain/1-rows-000000.sql "1d"
	expect_exit 1 dg verify app
	stderr_has "table plain:"
	stderr_has "rows in the source"
	stderr_has "$(tip app | cut -c1-12)"
	# restore checks too, and writes nothing.
	expect_exit 1 dg restore app --to t.db
	stderr_has "table plain"
	[ ! -e t.db ]
	G update-ref refs/heads/backup/app "$good"
'

test_case "an altered value in a well-formed snapshot fails verify, naming the table" '
	good=$(tip app)
	tamper app 1-table/orders/1-rows-000000.sql "s/123.456/123.457/"
	expect_exit 1 dg verify app
	stderr_has "table orders: same"
	stderr_has "different content"
	G update-ref refs/heads/backup/app "$good"
	tamper app 1-table/kv/1-rows-000000.sql "s/X'\''0102'\''/'\''0102'\''/"
	expect_exit 1 dg verify app
	stderr_has "table kv"
	G update-ref refs/heads/backup/app "$good"
	expect_exit 0 dg verify app
'

test_case "a corrupt page in a committed binary chunk fails verify" '
	good=$(tip bin)
	blob=$(G cat-file blob backup/bin:binary/db-000000.sqlite | python3 -c "
import sys
b = bytearray(sys.stdin.buffer.read())
for i in range(4096, 8192): b[i] ^= 0x5a   # page 2, all of it
sys.stdout.buffer.write(b)" | G hash-object -w --stdin)
	G read-tree --index-output="$T/b.idx" backup/bin
	GIT_INDEX_FILE="$T/b.idx" G update-index --cacheinfo "100644,$blob,binary/db-000000.sqlite"
	tree=$(GIT_INDEX_FILE="$T/b.idx" G write-tree)
	G update-ref refs/heads/backup/bin "$(echo tampered | G commit-tree "$tree" -p backup/bin~1)"
	expect_exit 1 dg verify bin
	stderr_has "$(tip bin | cut -c1-12)"
	grep -Eq "integrity_check|table " .stderr
	G update-ref refs/heads/backup/bin "$good"
	expect_exit 0 dg verify bin
'

test_case "a blob damaged on disk heals: the next backup moves it aside and writes it again" '
	rm -rf "$REPO/objects"
	cp -a pristine-objects "$REPO/objects"
	id=$(G rev-parse "backup/app:1-table/plain/1-rows-000000.sql")
	rewrite_loose "$id" "i = body.index(b\"row 2\"); body[i + 4] = ord(\"9\")"
	expect_exit 1 dg verify app
	tip_before=$(tip app)
	expect_exit 0 dg backup app
	stderr_has "1 damaged object in the repository moved aside"
	[ "$(tip app)" != "$tip_before" ]
	[ -e "$REPO/dbgit-quarantine/$id" ]
	G cat-file -e "$id"
	expect_exit 0 dg verify app --all
	# (reflogs of the earlier cases name objects those cases threw away)
	G fsck --full --no-dangling --no-reflogs
'

test_done
