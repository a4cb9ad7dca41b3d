#!/bin/bash
# Issue 10 (restore and verification time): the checks on a restored
# database were rearranged for speed - the backup's own verification leaves
# PRAGMA foreign_key_check out where the comparison of rows and schema
# implies its count, and integrity_check runs on a second connection beside
# the checksums. Each fault they caught is still refused, with the same
# one-line error: rows that violate a foreign key (before commit, and in a
# committed snapshot), a manifest whose foreign key count the rows do not
# have, a corrupted index (in the source, and in a committed binary copy).
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
tip() { git --git-dir="$REPO" rev-parse -q --verify "refs/heads/backup/$1" || echo none; }
G() { git --git-dir="$REPO" "$@"; }
py() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); $2" "$1"; }

# replace JOB PATH FILE: a new tip for JOB whose file PATH holds FILE's
# bytes - valid git objects, the rest (manifest included) as it was.
replace() {
	local job=$1 path=$2 file=$3 blob tree
	blob=$(G hash-object -w "$file")
	G read-tree --index-output="$T/r.idx" "backup/$job"
	GIT_INDEX_FILE="$T/r.idx" G update-index --cacheinfo "100644,$blob,$path"
	tree=$(GIT_INDEX_FILE="$T/r.idx" G write-tree)
	rm -f "$T/r.idx"
	G update-ref "refs/heads/backup/$job" "$(echo tampered | G commit-tree "$tree" -p "backup/$job")"
}

# A parent and a child table: the child's first row file line ends in its
# foreign key, so DBGIT_TEST_CORRUPT=alter makes it point at no parent.
sqlite3 "$T/app.db" <<'SQL'
CREATE TABLE parent(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE child(id INTEGER PRIMARY KEY, note TEXT, parent_id INTEGER REFERENCES parent(id));
CREATE INDEX child_parent ON child(parent_id);
INSERT INTO parent VALUES (1, 'one'), (2, 'two'), (3, 'three');
INSERT INTO child VALUES (1, 'a', 1), (2, 'b', 2), (3, 'c', 3), (4, 'd', 1);
SQL
cp "$T/app.db" "$T/bin.db"
write_config "$T/dbgit.toml" "$REPO" \
	'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"" \
	'[[job]]' 'name = "bin"' 'engine = "sqlite"' "path = \"$T/bin.db\"" 'format = "binary"'
dg init >/dev/null

test_case "a faithful snapshot verifies and restores; its rows keep their foreign keys" '
	expect_exit 0 dg backup app
	expect_exit 0 dg verify app
	expect_exit 0 dg restore app --to r.db
	same_db app.db r.db
	[ -z "$(sqlite3 r.db "PRAGMA foreign_key_check")" ]
'

test_case "rows that violate a foreign key before commit: refused, the table named, nothing committed" '
	before=$(tip app)
	sqlite3 app.db "INSERT INTO child VALUES (5, \"e\", 2)"
	DBGIT_TEST_CORRUPT=alter:1-table/child/1-rows expect_exit 1 dg backup app --keep-failed "$T/kept"
	stderr_has "verification failed"
	stderr_has "table child: same 5 rows but different content"
	stderr_has "nothing committed"
	[ "$(tip app)" = "$before" ]
	# The kept restore is the damaged one: its row points at no parent.
	kept=$(ls -d kept/app-*)
	[ "$(sqlite3 "$kept/restored-sql.db" "PRAGMA foreign_key_check")" = "child|1|parent|0" ]
	expect_exit 0 dg backup app
	[ "$(tip app)" != "$before" ]
'

test_case "a source that violates its foreign keys: recorded, verified, restored as it is" '
	sqlite3 app.db "INSERT INTO child VALUES (6, \"f\", 9)"
	expect_exit 0 dg backup app
	G show backup/app:MANIFEST.json >m.json
	py m.json "assert j[\"foreign_key_violations\"] == 1, j"
	expect_exit 0 dg verify app
	rm -f r.db
	expect_exit 0 dg restore app --to r.db
	same_db app.db r.db
	[ "$(sqlite3 r.db "PRAGMA foreign_key_check")" = "child|6|parent|0" ]
	sqlite3 app.db "DELETE FROM child WHERE id = 6"
	expect_exit 0 dg backup app
'

test_case "a committed snapshot whose rows violate a foreign key: restore and verify refuse it" '
	good=$(tip app)
	G cat-file blob backup/app:1-table/child/1-rows-000000.sql | sed "1s/,1);\$/,7);/" >rows.sql
	G cat-file blob backup/app:1-table/child/1-rows-000000.sql >orig.sql
	test_must_fail cmp -s rows.sql orig.sql
	replace app 1-table/child/1-rows-000000.sql rows.sql
	rm -f t.db
	expect_exit 1 dg restore app --to t.db
	stderr_has "does not match its manifest: table child: same 5 rows but different content"
	[ ! -e t.db ]
	expect_exit 1 dg verify app
	stderr_has "table child: same 5 rows but different content"
	G update-ref refs/heads/backup/app "$good"
	expect_exit 0 dg verify app
'

test_case "a manifest whose foreign key count the rows do not have: restore and verify refuse it" '
	good=$(tip app)
	G cat-file blob backup/app:MANIFEST.json |
		sed "s/\"foreign_key_violations\":\([[:space:]]*\)0,/\"foreign_key_violations\":\13,/" >m.json
	py m.json "assert j[\"foreign_key_violations\"] == 3, j"
	replace app MANIFEST.json m.json
	rm -f t.db
	expect_exit 1 dg restore app --to t.db
	stderr_has "does not match its manifest: foreign_key_violations: 3 in the source, 0 in the snapshot"
	[ ! -e t.db ]
	expect_exit 1 dg verify app
	stderr_has "foreign_key_violations: 3 in the source, 0 in the snapshot"
	G update-ref refs/heads/backup/app "$good"
'

# An index whose entries are not its table's: its definition swapped for
# another column'"'"'s under writable_schema, its b-tree left as it was.
corrupt_index() {
	sqlite3 "$1" "PRAGMA writable_schema=ON;
		UPDATE sqlite_schema SET sql = \"CREATE INDEX child_parent ON child(note)\" WHERE name = \"child_parent\";"
	[ "$(sqlite3 "$1" "PRAGMA integrity_check" | head -1)" != ok ]
}

test_case "a corrupted index in the source of a binary copy: refused before commit by integrity_check" '
	expect_exit 0 dg backup bin
	before=$(tip bin)
	cp bin.db good-bin.db
	corrupt_index bin.db
	expect_exit 1 dg backup bin
	stderr_has "verification failed"
	stderr_has ": integrity_check: "
	stderr_has "nothing committed"
	[ "$(tip bin)" = "$before" ]
	cp good-bin.db bin.db
'

test_case "a committed binary copy with a corrupted index: restore and verify refuse it, integrity first" '
	good=$(tip bin)
	cp bin.db bad.db
	corrupt_index bad.db
	replace bin binary/db-000000.sqlite bad.db
	rm -f t.db
	expect_exit 1 dg restore bin --to t.db
	# The schema differs too (the index'"'"'s text): the integrity line comes first.
	stderr_has "does not match its manifest: integrity_check: "
	[ ! -e t.db ]
	expect_exit 1 dg verify bin
	stderr_has "integrity_check: "
	expect_exit 1 dg verify bin --json
	py .stdout "p = j[0][\"problems\"]; assert p[0].startswith(\"integrity_check: \"), p; assert any(\"child_parent\" in x for x in p[1:]) or len(p) > 1, p"
	G update-ref refs/heads/backup/bin "$good"
	expect_exit 0 dg verify bin
	rm -f t.db
	expect_exit 0 dg restore bin --to t.db
	same_db bin.db t.db
'

test_done
