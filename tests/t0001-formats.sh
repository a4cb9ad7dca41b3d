#!/bin/bash
# format = "binary" and format = "both": a page-exact copy through SQLite's
# online backup API, cut into fixed-size chunks whose concatenation, in
# sorted path order, is the database file - byte for byte what
# `sqlite3 SRC .backup` makes. Restorable by dbgit and by `cat`.
. "$TEST_SRCDIR/lib/test-lib.sh"


REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
py() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); $2" "$1"; }
# blobs_of REV: the blob ids of a snapshot, sorted.
blobs_of() { git --git-dir="$REPO" ls-tree -r "$1" | awk '{print $3}' | sort -u; }

make_demo_db "$T/app.db"
# About 3 MB, so the binary copy spans several chunks.
sqlite3 "$T/app.db" "CREATE TABLE big(id INTEGER PRIMARY KEY, t TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 12000)
INSERT INTO big(t) SELECT printf('%.200c row %d', 'x', i) FROM n;"
cp "$T/app.db" "$T/both.db"
write_config "$T/dbgit.toml" "$REPO" \
	'[[job]]' 'name = "bin"' 'engine = "sqlite"' "path = \"$T/app.db\"" 'format = "binary"' \
	'[[job]]' 'name = "both"' 'engine = "sqlite"' "path = \"$T/both.db\"" 'format = "both"'

test_case "a binary backup restores byte for byte what sqlite3 .backup makes" '
	expect_exit 0 dg init
	expect_exit 0 dg backup bin
	expect_exit 0 dg list bin
	grep " bin " .stdout | grep -q " binary "
	expect_exit 0 dg restore bin --to r-bin.db
	sqlite3 app.db ".backup fresh.db"
	cmp r-bin.db fresh.db
	same_db app.db r-bin.db
'

test_case "binary chunks are fixed-size, at most max_blob_size, under binary/" '
	git --git-dir="$REPO" ls-tree -r -l backup/bin >tree.txt
	grep -v MANIFEST.json tree.txt >chunks.txt
	[ "$(grep -vc "	binary/" chunks.txt)" = 0 ]
	[ "$(wc -l <chunks.txt)" -ge 3 ]
	# Every chunk but the last has one size; none is larger.
	sizes=$(awk "{print \$4}" chunks.txt)
	first=$(echo "$sizes" | head -1)
	[ "$(echo "$sizes" | sed \$d | sort -u)" = "$first" ]
	[ "$(echo "$sizes" | tail -1)" -le "$first" ]
	[ "$first" -le $((48 * 1024 * 1024)) ]
'

test_case "the binary chunks concatenated with cat are the database (README)" '
	rm -rf ex
	mkdir ex
	git --git-dir="$REPO" archive backup/bin | tar -x -C ex
	(cd ex && find binary -type f -print0 | LC_ALL=C sort -z | xargs -0 cat) >plain.db
	cmp plain.db fresh.db
	[ "$(sqlite3 plain.db "PRAGMA integrity_check")" = ok ]
'

test_case "one changed row in a binary backup adds few new blobs" '
	sqlite3 app.db "UPDATE big SET t = \"changed\" WHERE id = 6000"
	expect_exit 0 dg backup bin --json
	blobs_of backup/bin~1 >old.txt
	blobs_of backup/bin >new.txt
	new=$(comm -13 old.txt new.txt | wc -l)
	echo "new blobs: $new"
	# The page that changed, page 1 (its change counter) and the manifest.
	[ "$new" -le 3 ]
	py .stdout "assert j[0][\"new_blobs\"] <= 2, j"
	expect_exit 0 dg restore bin --to r-bin2.db
	same_db app.db r-bin2.db
'

test_case "format both: one commit holds SQL and binary, each restores" '
	expect_exit 0 dg backup both
	expect_exit 0 dg show both --json
	py .stdout "assert sorted(j[\"formats\"]) == [\"binary\", \"sql\"], j[\"formats\"]; assert j[\"verification\"][\"result\"] == \"passed\""
	expect_exit 0 dg list both
	grep " both " .stdout | grep -Eq " (binary\+sql|sql\+binary) "
	expect_exit 0 dg restore both --to r-default.db
	sqlite3 both.db ".backup fresh-both.db"
	cmp r-default.db fresh-both.db
	expect_exit 0 dg restore both --format sql --to r-sql.db
	same_db both.db r-sql.db
	expect_exit 0 dg restore both --format binary --to r-binary.db
	cmp r-binary.db fresh-both.db
'

test_case "format both restores without dbgit, either way (README)" '
	rm -rf exb
	mkdir exb
	git --git-dir="$REPO" archive backup/both | tar -x -C exb
	(cd exb && find . -name "*.sql" | LC_ALL=C sort | xargs cat) | sqlite3 plain-sql.db
	same_db both.db plain-sql.db
	(cd exb && find binary -type f -print0 | LC_ALL=C sort -z | xargs -0 cat) >plain-bin.db
	cmp plain-bin.db fresh-both.db
'

test_case "restore --format asks for a copy the snapshot lacks: exit 2, nothing written" '
	expect_exit 2 dg restore bin --format sql --to nope.db
	stderr_has "no sql copy"
	[ ! -e nope.db ]
	[ -z "$(ls -a | grep dbgit-restore)" ]
'

test_done
