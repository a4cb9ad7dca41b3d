#!/bin/bash
# t1100: what changed between two nights. A known set of inserts, updates
# and deletes is made between two snapshots; `dbgit diff` shows exactly
# those rows (even in a table that spans many chunk files) and `--stat`
# counts them per table, for SQL and for binary-only snapshots.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }

# A table of 60000 rows (several chunks) and a small one.
sqlite3 "$T/app.db" <<'SQL'
CREATE TABLE big(id INTEGER PRIMARY KEY, name TEXT, amount REAL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60000)
INSERT INTO big SELECT i, 'customer number ' || i || ' with a longer name to fill the line', i * 0.25 FROM n;
CREATE TABLE tags(k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID;
INSERT INTO tags VALUES ('a', '1'), ('b', '2'), ('c', '3');
CREATE TABLE gone(x);
INSERT INTO gone VALUES (1), (2);
SQL
write_config "$T/dbgit.toml" "$REPO" '[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"" \
	'' '[[job]]' 'name = "bin"' 'engine = "sqlite"' "path = \"$T/app.db\"" 'format = "binary"'
dg init >/dev/null
dg backup >/dev/null

# The day's changes: 5 inserts (3 in the middle of the big table, shifting
# later rows within its chunk), 4 updates, 2 deletes in big; in tags 1
# insert, 1 update, 1 delete; table gone dropped, table fresh created with
# 2 rows, an index added.
sqlite3 "$T/app.db" <<'SQL'
INSERT INTO big VALUES (70001, 'new a', 1.0), (70002, 'new b', 2.0);
DELETE FROM big WHERE id IN (30001, 30002, 30003);
INSERT INTO big VALUES (30001, 'reinserted 1', 1.5), (30002, 'reinserted 2', 2.5);
UPDATE big SET amount = amount + 0.5 WHERE id IN (10, 20000, 45000);
UPDATE big SET name = 'renamed' WHERE id = 59999;
INSERT INTO big VALUES (30003, 'customer number 30003 with a longer name to fill the line', 7500.75);
INSERT INTO tags VALUES ('d', '4');
UPDATE tags SET v = 'two' WHERE k = 'b';
DELETE FROM tags WHERE k = 'c';
DROP TABLE gone;
CREATE TABLE fresh(y);
INSERT INTO fresh VALUES (1), (2);
CREATE INDEX big_name ON big(name);
DELETE FROM big WHERE id IN (100, 200);
SQL
dg backup >/dev/null

test_case "the big table spans several chunk files" '
	n=$(git --git-dir="$REPO" ls-tree -r --name-only backup/app | grep -c "^1-table/big/1-rows-")
	[ "$n" -ge 3 ]
'

test_case "diff --stat counts rows added, removed and changed per table" '
	dg diff app --stat --json >"$T/stat.json"
	python3 - "$T/stat.json" <<PY
import json, sys
s = json.load(open(sys.argv[1]))
t = {x["name"]: (x["added"], x["removed"], x["changed"]) for x in s["tables"]}
want = {"big": (2, 2, 6), "tags": (1, 1, 1), "gone": (0, 2, 0), "fresh": (2, 0, 0)}
assert t == want, t
assert sorted(s["schema"]) == ["+ index big_name", "+ table fresh", "- table gone"], s["schema"]
PY
'

test_case "diff --stat as text names each table once" '
	dg diff app --stat >"$T/stat.txt"
	grep -E "^  big +\+2 -2 ~6$" "$T/stat.txt"
	grep -E "^  tags +\+1 -1 ~1$" "$T/stat.txt"
	grep -F "schema: + index big_name" "$T/stat.txt"
'

test_case "the SQL diff shows exactly the rows that changed, across chunk files" '
	dg diff app --no-color >"$T/diff.txt"
	# big: 6 changed rows appear as - and +, 2 added as +, 2 removed as -;
	# 30003 was deleted and put back as it was: not a change.
	minus=$(grep -c "^-INSERT INTO \"big\"" "$T/diff.txt")
	plus=$(grep -c "^+INSERT INTO \"big\"" "$T/diff.txt")
	[ "$minus" -eq 8 ]
	[ "$plus" -eq 8 ]
	# no chunk-file names, whole tables
	test_must_fail grep -q "rows-0000" "$T/diff.txt"
	grep -q "^+++ b/1-table/big/1-rows.sql" "$T/diff.txt"
	test_must_fail grep -q "^[-+]INSERT INTO \"big\" VALUES(30003," "$T/diff.txt"
	grep -q "^-INSERT INTO \"tags\" VALUES(.c.,.3.);" "$T/diff.txt"
	grep -q "^+CREATE INDEX big_name" "$T/diff.txt"
	test_must_fail grep -q $(printf "\\033") "$T/diff.txt"
'

test_case "diff --color colours added and removed lines" '
	dg diff app --color >"$T/color.txt"
	grep -q "$(printf "\\033")\[32m+INSERT" "$T/color.txt"
	grep -q "$(printf "\\033")\[31m-INSERT" "$T/color.txt"
'

test_case "diff between explicit revisions; the same snapshot twice shows nothing" '
	first=$(git --git-dir="$REPO" rev-parse backup/app~1)
	dg diff app "$first" HEAD >"$T/d2.txt"
	cmp "$T/d2.txt" <(dg diff app --no-color)
	dg diff app HEAD HEAD >"$T/none.txt"
	[ ! -s "$T/none.txt" ]
	dg diff app HEAD HEAD --stat | grep -q "no changes"
'

test_case "binary-only snapshots: --stat works, a text diff says it needs SQL" '
	dg diff bin --stat --json >"$T/bstat.json"
	python3 -c "
import json, sys
s = json.load(open(\"$T/bstat.json\"))
t = {x[\"name\"]: (x[\"added\"], x[\"removed\"], x[\"changed\"]) for x in s[\"tables\"]}
assert t[\"big\"] == (2, 2, 6) and t[\"tags\"] == (1, 1, 1), t
"
	expect_exit 2 dg diff bin
	stderr_has "needs SQL snapshots"
	[ "$(wc -l <"$T/.stderr")" -eq 1 ]
'

test_case "diff with one snapshot only, or an unknown revision, is a clear usage error" '
	write_config "$T/one.toml" "$REPO" "[[job]]" "name = \"solo\"" "engine = \"sqlite\"" "path = \"$T/app.db\""
	"$DBGIT" --config "$T/one.toml" backup >/dev/null
	expect_exit 2 "$DBGIT" --config "$T/one.toml" diff solo
	stderr_has "only one snapshot"
	expect_exit 2 dg diff app nosuchrev
	stderr_has "unknown revision"
'

test_done
