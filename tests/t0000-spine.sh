#!/bin/bash
# The spine of dbgit, as a user meets it: init a repository, back up a
# SQLite database a few times, list and show the snapshots, restore any of
# them (by revision, commit id, time), and restore without dbgit at all,
# with nothing but git, find, sort, cat and sqlite3.
. "$TEST_SRCDIR/lib/test-lib.sh"


REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
# py FILE CODE: runs CODE with j = the JSON in FILE; an assert fails the case.
# expect_copy N: what snapshot N should restore to: the source as it is
# now, less the excluded table.
expect_copy() {
	cp "$T/app.db" "$T/copy$1.db"
	sqlite3 "$T/copy$1.db" "DROP TABLE sessions"
}
py() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); $2" "$1"; }

make_demo_db "$T/app.db"
sqlite3 "$T/app.db" "CREATE TABLE sessions(key TEXT PRIMARY KEY, data TEXT); INSERT INTO sessions VALUES('s1','secret');"
write_config "$T/dbgit.toml" "$REPO" \
	'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"" 'exclude_tables = ["sessions"]'

test_case "init creates a private bare repository" '
	expect_exit 0 dg init
	grep -q "created repository $REPO" .stdout
	[ "$(git --git-dir="$REPO" rev-parse --is-bare-repository)" = true ]
	[ "$(stat -c %a "$REPO")" = 700 ]
	expect_exit 0 dg init
	grep -q "using existing repository" .stdout
'

test_case "a first backup lists one verified snapshot" '
	expect_copy 1
	DBGIT_NOW=2026-01-01T00:00:00Z expect_exit 0 dg backup
	expect_exit 0 dg list
	[ "$(grep -c " app " .stdout)" = 1 ]
	grep " app " .stdout | grep -q "2026-01-01T00:00:00Z"
	grep " app " .stdout | grep -q "passed"
	expect_exit 0 dg list app --json
	py .stdout "assert len(j) == 1, j; s = j[0]; assert s[\"job\"] == \"app\" and s[\"verified\"] == \"passed\", s; assert s[\"formats\"] == [\"sql\"], s; assert s[\"time\"] == \"2026-01-01T00:00:00Z\", s"
	# The row total is what the source holds (sessions excluded).
	want=0
	for t in $(sqlite3 app.db "SELECT name FROM sqlite_schema WHERE type=\"table\" AND name NOT IN (\"sessions\", \"docs\")"); do
		want=$((want + $(sqlite3 app.db "SELECT count(*) FROM \"$t\"")))
	done
	py .stdout "assert j[0][\"rows\"] == $want, (j[0][\"rows\"], $want)"
'

test_case "show --json prints the whole manifest" '
	expect_exit 0 dg show app --json
	cp .stdout manifest.json
	version=$("$DBGIT" --version | head -n 1 | cut -d" " -f2)
	py manifest.json "
assert j[\"format_version\"] == 1
assert j[\"job\"] == \"app\" and j[\"engine\"] == \"sqlite\"
assert j[\"source\"] == \"$T/app.db\", j[\"source\"]
assert j[\"dbgit_version\"] == \"$version\"
assert j[\"started\"] == \"2026-01-01T00:00:00Z\" and j[\"finished\"]
assert j[\"verification\"][\"result\"] == \"passed\", j[\"verification\"]
assert j[\"formats\"] == [\"sql\"]
names = [t[\"name\"] for t in j[\"tables\"]]
assert names == sorted(names), names
assert \"customers\" in names and \"sqlite_sequence\" in names and \"sessions\" not in names, names
for t in j[\"tables\"]:
    assert len(t[\"checksum\"]) == 64 and isinstance(t[\"rows\"], int), t
assert sum(f[\"size\"] for f in j[\"files\"]) == j[\"size\"]
"
	# Per-table rows are the source counts.
	for t in customers orders kv plain gen; do
		n=$(sqlite3 app.db "SELECT count(*) FROM $t")
		py manifest.json "assert [x[\"rows\"] for x in j[\"tables\"] if x[\"name\"] == \"$t\"] == [$n]"
	done
	# Every file listed is in the commit, with that size and blob.
	git --git-dir="$REPO" ls-tree -r -l backup/app >tree.txt
	py manifest.json "
tree = {}
for line in open(\"tree.txt\"):
    meta, path = line.rstrip(\"\n\").split(\"\t\")
    mode, kind, blob, size = meta.split()
    tree[path] = (blob, int(size))
for f in j[\"files\"]:
    assert tree[f[\"path\"]] == (f[\"blob\"], f[\"size\"]), f
assert set(tree) == {f[\"path\"] for f in j[\"files\"]} | {\"MANIFEST.json\"}, set(tree) ^ {f[\"path\"] for f in j[\"files\"]}
"
	# The human form says the same.
	expect_exit 0 dg show app
	grep -q "^job *app" .stdout
	grep -q "^verification *passed" .stdout
	grep -Eq "^customers +4 +[0-9a-f]{64}" .stdout
'

test_case "changes make new snapshots; list shows them newest first" '
	sqlite3 app.db "INSERT INTO customers(name, email, balance) VALUES (\"Eve\", \"eve@example.org\", 2.5); UPDATE orders SET total = total * 2 WHERE id = 2; PRAGMA user_version = 43;"
	expect_copy 2
	DBGIT_NOW=2026-01-02T00:00:00Z expect_exit 0 dg backup app
	sqlite3 app.db "DELETE FROM kv WHERE k = \"c\"; CREATE TABLE later(x); INSERT INTO later VALUES (1), (2);"
	expect_copy 3
	DBGIT_NOW=2026-01-03T00:00:00Z expect_exit 0 dg backup app
	expect_exit 0 dg list --json
	py .stdout "assert [s[\"time\"][:10] for s in j] == [\"2026-01-03\", \"2026-01-02\", \"2026-01-01\"], j"
	[ "$(git --git-dir="$REPO" rev-list --count backup/app)" = 3 ]
'

test_case "restore by revision, commit id prefix, latest and time" '
	first=$(git --git-dir="$REPO" rev-list --reverse backup/app | head -1)
	expect_exit 0 dg restore app --to r-latest.db
	same_db copy3.db r-latest.db
	expect_exit 0 dg restore app latest --to r-latest2.db
	same_db copy3.db r-latest2.db
	expect_exit 0 dg restore app HEAD~1 --to r-head1.db
	same_db copy2.db r-head1.db
	expect_exit 0 dg restore app HEAD~2 --to r-head2.db
	same_db copy1.db r-head2.db
	expect_exit 0 dg restore app "${first:0:10}" --to r-id.db
	same_db copy1.db r-id.db
	expect_exit 0 dg restore app --at 2026-01-01T12:00:00Z --to r-at1.db
	same_db copy1.db r-at1.db
	expect_exit 0 dg restore app --at 2026-01-02T00:00:00Z --to r-at2.db
	same_db copy2.db r-at2.db
	expect_exit 0 dg restore app --at 2027-01-01T00:00:00Z --to r-at3.db
	same_db copy3.db r-at3.db
	# The excluded table is not in any snapshot.
	[ -z "$(sqlite3 r-latest.db "SELECT name FROM sqlite_schema WHERE name = \"sessions\"")" ]
	# Restored files differ where the sources differ (same_db can fail).
	test_must_fail same_db copy1.db r-latest.db 2>/dev/null
'

test_case "restore --at before the first snapshot is refused" '
	expect_exit 2 dg restore app --at 2025-12-31T00:00:00Z --to none.db
	stderr_has "no snapshot"
	[ ! -e none.db ]
'

test_case "git fsck is clean and git log shows the snapshots by the configured author" '
	git --git-dir="$REPO" fsck --full --strict
	git --git-dir="$REPO" log --format="%an <%ae>|%ad|%s" --date=iso-strict backup/app >log.txt
	cat log.txt
	[ "$(wc -l <log.txt)" = 3 ]
	[ "$(cut -d"|" -f1 log.txt | sort -u)" = "dbgit test <dbgit@example.invalid>" ]
	grep -q "|2026-01-01T00:00:00+00:00|app 2026-01-01T00:00:00Z$" log.txt
	grep -q "|2026-01-03T00:00:00+00:00|app 2026-01-03T00:00:00Z$" log.txt
	# One parent chain, no merge, MANIFEST.json at the root of each.
	[ "$(git --git-dir="$REPO" rev-list --min-parents=2 backup/app | wc -l)" = 0 ]
	for c in $(git --git-dir="$REPO" rev-list backup/app); do
		git --git-dir="$REPO" cat-file -e "$c:MANIFEST.json"
	done
'

test_case "restore with nothing but git archive, find, sort, cat and sqlite3 (README)" '
	rm -rf ex
	mkdir ex
	git --git-dir="$REPO" archive backup/app | tar -x -C ex
	(cd ex && find . -type f -name "*.sql" -print0 | LC_ALL=C sort -z | xargs -0 cat) | sqlite3 -safe -bail plain.db
	same_db copy3.db plain.db
	# And an older snapshot, by its commit.
	rm -rf ex1
	mkdir ex1
	git --git-dir="$REPO" archive "backup/app~2" | tar -x -C ex1
	(cd ex1 && find . -type f -name "*.sql" -print0 | LC_ALL=C sort -z | xargs -0 cat) | sqlite3 -safe -bail plain1.db
	same_db copy1.db plain1.db
'

test_case "the FTS5 table restored by the README commands still answers queries" '
	[ "$(sqlite3 plain.db "SELECT title FROM docs WHERE docs MATCH \"lazy\"")" = bye ]
	sqlite3 plain.db "INSERT INTO docs VALUES (\"new\", \"searchable words\")"
	[ "$(sqlite3 plain.db "SELECT title FROM docs WHERE docs MATCH \"searchable\"")" = new ]
'

test_case "a backup with no changes adds a snapshot that reuses every blob" '
	DBGIT_NOW=2026-01-04T00:00:00Z expect_exit 0 dg backup app --json
	py .stdout "assert j[0][\"status\"] == \"committed\" and j[0][\"new_blobs\"] == 0, j"
	[ "$(git --git-dir="$REPO" rev-parse "backup/app^{tree}")" != "$(git --git-dir="$REPO" rev-parse "backup/app~1^{tree}")" ]
	git --git-dir="$REPO" diff --stat backup/app~1 backup/app -- . ":!MANIFEST.json" >d.txt
	[ ! -s d.txt ]
'

test_case "help and usage errors exit 2" '
	expect_exit 0 "$DBGIT" help restore
	grep -q "usage: dbgit restore" .stdout
	expect_exit 2 dg restore app
	stderr_has "--to"
	expect_exit 2 dg frobnicate
	expect_exit 2 dg list --bogus
'

test_done
