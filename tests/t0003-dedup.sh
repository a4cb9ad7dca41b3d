#!/bin/bash
# Storage grows with what changed, not with the database: a few updated
# rows in a 20 MB table add a few blobs while the dump is many chunks; new
# rows at the end leave every earlier chunk alone; no blob exceeds
# max_blob_size.
. "$TEST_SRCDIR/lib/test-lib.sh"


REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
py() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); $2" "$1"; }
blobs_of() { git --git-dir="$REPO" ls-tree -r "$1" | awk '{print $3}' | sort -u; }
# new_blobs OLD NEW: blobs NEW has that OLD has not.
new_blobs() { comm -13 <(blobs_of "$1") <(blobs_of "$2") | wc -l; }

# 200k rows of ~100 bytes: a 20 MB dump.
sqlite3 "$T/big.db" "CREATE TABLE events(id INTEGER PRIMARY KEY, at TEXT, kind TEXT, payload TEXT);
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 200000)
INSERT INTO events SELECT i, datetime(1700000000 + i * 37, 'unixepoch'), 'kind' || (i % 13),
       hex(randomblob(30)) FROM s;
CREATE TABLE small(k TEXT PRIMARY KEY, v);
INSERT INTO small VALUES ('a', 1), ('b', 2);"
sqlite3 "$T/mid.db" "CREATE TABLE t(id INTEGER PRIMARY KEY, x TEXT);
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 20000)
INSERT INTO t SELECT i, hex(randomblob(50)) FROM s;
CREATE TABLE blobs(id INTEGER PRIMARY KEY, b BLOB);
INSERT INTO blobs VALUES (1, randomblob(150000));"
write_config "$T/dbgit.toml" "$REPO" 'max_blob_size = "64K"' \
	'[[job]]' 'name = "big"' 'engine = "sqlite"' "path = \"$T/big.db\"" 'max_blob_size = "48M"' \
	'[[job]]' 'name = "mid"' 'engine = "sqlite"' "path = \"$T/mid.db\"" 'format = "both"'
"$DBGIT" --config "$T/dbgit.toml" init >/dev/null

test_case "a 20 MB table is stored as many chunks" '
	expect_exit 0 dg backup big
	chunks=$(git --git-dir="$REPO" ls-tree -r --name-only backup/big -- 1-table/events | grep -c "1-rows-")
	echo "$chunks chunks"
	[ "$chunks" -ge 20 ]
'

test_case "three updated rows add at most six blobs" '
	sqlite3 big.db "UPDATE events SET kind = \"edited\" WHERE id IN (17, 100000, 199990)"
	expect_exit 0 dg backup big --json
	py .stdout "assert j[0][\"new_blobs\"] <= 6, j"
	n=$(new_blobs backup/big~1 backup/big)
	echo "$n new blobs"
	[ "$n" -le 6 ]
	[ "$n" -ge 2 ]
	expect_exit 0 dg restore big --to r1.db
	same_db big.db r1.db
'

test_case "the git objects added by the second snapshot are few" '
	# What a push would send: objects in the new commit not in the old.
	n=$(git --git-dir="$REPO" rev-list --objects backup/big --not backup/big~1 | wc -l)
	echo "$n new objects"
	# commit + root tree + 1-table, events trees + changed chunks + manifest
	[ "$n" -le 12 ]
'

test_case "appended rows leave every earlier chunk unchanged" '
	sqlite3 big.db "WITH RECURSIVE s(i) AS (SELECT 200001 UNION ALL SELECT i + 1 FROM s WHERE i < 203000)
		INSERT INTO events SELECT i, \"2030-01-01\", \"new\", hex(randomblob(30)) FROM s"
	expect_exit 0 dg backup big
	git --git-dir="$REPO" ls-tree -r backup/big~1 -- 1-table/events/ | grep 1-rows- >old.txt
	git --git-dir="$REPO" ls-tree -r backup/big -- 1-table/events/ | grep 1-rows- >new.txt
	# All chunks but the last of the old list are in the new one, same path.
	sed \$d old.txt >prefix.txt
	[ -s prefix.txt ]
	[ -z "$(comm -23 <(sort prefix.txt) <(sort new.txt))" ]
	# 300 kB appended at an average chunk of 256 kB: the old last chunk and a
	# few new ones (a Poisson count of cuts; 8 leaves room for bad luck).
	[ "$(new_blobs backup/big~1 backup/big)" -le 8 ]
'

test_case "no blob exceeds max_blob_size (64K), SQL and binary" '
	expect_exit 0 dg backup mid
	git --git-dir="$REPO" ls-tree -r -l backup/mid >tree.txt
	big=$(grep -v MANIFEST.json tree.txt | awk "{print \$4}" | sort -n | tail -1)
	echo "largest chunk $big bytes"
	[ "$big" -le 65536 ]
	[ "$(grep -c "	binary/" tree.txt)" -ge 3 ]
	# The 150 kB blob row is cut mid-line, and still restores.
	[ "$(git --git-dir="$REPO" ls-tree -r --name-only backup/mid -- 1-table/blobs | grep -c 1-rows-)" -ge 3 ]
	expect_exit 0 dg restore mid --format sql --to r-mid.db
	same_db mid.db r-mid.db
	rm -rf ex
	mkdir ex
	git --git-dir="$REPO" archive backup/mid | tar -x -C ex
	(cd ex && find . -name "*.sql" | LC_ALL=C sort | xargs cat) | sqlite3 plain-mid.db
	same_db mid.db plain-mid.db
'

test_case "the job setting overrides [repository] max_blob_size" '
	git --git-dir="$REPO" ls-tree -r -l backup/big >tree.txt
	big=$(grep -v MANIFEST.json tree.txt | awk "{print \$4}" | sort -n | tail -1)
	[ "$big" -gt 65536 ]
'

test_done
