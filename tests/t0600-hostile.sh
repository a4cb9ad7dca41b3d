#!/bin/bash
# A snapshot is untrusted input (issue "Trust"): whoever can push to the
# remote a repository is later cloned from can add or change a .sql file
# and its manifest. Restoring, verifying or diffing such a snapshot fails
# with one line naming the snapshot file and line, creates no target, and
# writes nothing outside its own scratch database. The README's plain
# recipe (sqlite3 -safe -bail) refuses the same attacks.
. "$TEST_SRCDIR/lib/test-lib.sh"
. "$TEST_SRCDIR/lib/tamper.sh" # plant

REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
G() { git --git-dir="$REPO" "$@"; }

make_demo_db "$T/app.db"
sqlite3 "$T/app.db" "CREATE TABLE secrets(id INTEGER PRIMARY KEY, s TEXT);
INSERT INTO secrets VALUES (1, 'MARKER-7f3a9c-private');"
write_config "$T/dbgit.toml" "$REPO" \
	'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\""
dg init >/dev/null
dg backup >/dev/null
GOOD=$(G rev-parse backup/app)


# refused WHAT: restore and verify of the planted tip both fail, exit 1,
# with one line naming the file and line and saying WHAT; no target.
refused() {
	expect_exit 1 dg restore app --to "$T/out.db"
	stderr_has "1-table/orders/1-rows-000001.sql line 2: $1"
	[ "$(wc -l <"$T/.stderr")" = 1 ]
	test_must_fail test -e "$T/out.db"
	expect_exit 1 dg verify app
	grep -qF "1-table/orders/1-rows-000001.sql line 2: $1" "$T/.stdout" "$T/.stderr"
	[ -z "$(ls -a "$T" | grep dbgit-restore)" ]
}

test_case "ATTACH of a database outside is refused, and the file is never created" '
	plant 1-table/orders/1-rows-000001.sql "-- looks harmless
ATTACH DATABASE '\''$T/outside.db'\'' AS o;
CREATE TABLE o.pwned(x);
"
	refused "ATTACH is not allowed in a snapshot"
	test_must_fail test -e "$T/outside.db"
'

test_case "ATTACH hidden behind a comment on the same line is refused too" '
	plant 1-table/orders/1-rows-000001.sql "-- looks harmless
/* x */ ATTACH '\''$T/outside.db'\'' AS o;
"
	refused "ATTACH is not allowed in a snapshot"
	test_must_fail test -e "$T/outside.db"
'

test_case "ATTACH after a harmless statement on the same line is refused" '
	plant 1-table/orders/1-rows-000001.sql "-- looks harmless
DELETE FROM customers WHERE 0; ATTACH '\''$T/outside.db'\'' AS o;
"
	refused "ATTACH is not allowed in a snapshot"
	test_must_fail test -e "$T/outside.db"
'

test_case "an existing file outside is not changed through ATTACH" '
	sqlite3 "$T/victim.db" "CREATE TABLE v(x); INSERT INTO v VALUES (1);"
	sum=$(sha256sum <"$T/victim.db")
	plant 1-table/orders/1-rows-000001.sql "-- looks harmless
ATTACH '\''$T/victim.db'\'' AS v; DELETE FROM v.v;
"
	refused "ATTACH is not allowed in a snapshot"
	[ "$(sha256sum <"$T/victim.db")" = "$sum" ]
'

test_case "VACUUM INTO a file outside is refused" '
	plant 1-table/orders/1-rows-000001.sql "-- looks harmless
VACUUM INTO '\''$T/copy.db'\'';
"
	refused "VACUUM is not allowed in a snapshot"
	test_must_fail test -e "$T/copy.db"
'

test_case "PRAGMA writable_schema=1 is refused" '
	plant 1-table/orders/1-rows-000001.sql "-- looks harmless
PRAGMA writable_schema=1;
UPDATE sqlite_schema SET sql = '\''x'\'';
"
	refused "PRAGMA writable_schema is not allowed in a snapshot"
'

test_case "a schema row planted the way dbgit writes a virtual table must be one" '
	plant 1-table/orders/1-rows-000001.sql "-- looks harmless
PRAGMA writable_schema=ON;
INSERT INTO sqlite_schema(type,name,tbl_name,rootpage,sql) VALUES('\''table'\'','\''t2'\'','\''t2'\'',2,'\''CREATE TABLE t2(a)'\'');
"
	expect_exit 1 dg restore app --to "$T/out.db"
	stderr_has "1-table/orders/1-rows-000001.sql line 3: a schema row that is not a virtual table"
	test_must_fail test -e "$T/out.db"
'

test_case "other PRAGMAs (journal_mode, temp_store_directory) are refused" '
	plant 1-table/orders/1-rows-000001.sql "-- looks harmless
PRAGMA journal_mode=WAL;
"
	refused "PRAGMA journal_mode is not allowed in a snapshot"
'

test_case "load_extension() is refused as a function, not tried" '
	plant 1-table/orders/1-rows-000001.sql "-- looks harmless
INSERT INTO customers(name) VALUES (load_extension('\''$T/evil.so'\''));
"
	refused "function load_extension() is not allowed in a snapshot"
'

test_case "a trigger that would call a forbidden function is refused when it fires" '
	plant 1-table/orders/1-rows-000001.sql "-- looks harmless
CREATE TRIGGER t AFTER INSERT ON customers BEGIN SELECT fts3_tokenizer('\''x'\''); END; INSERT INTO customers(name) VALUES ('\''x'\'');
"
	refused "function fts3_tokenizer() is not allowed in a snapshot"
'

test_case "a recursive WITH that writes rows without end is refused" '
	plant 1-table/orders/1-rows-000001.sql "-- looks harmless
INSERT INTO customers(name) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100000) SELECT '\''n'\'' FROM c;
"
	refused "WITH RECURSIVE is not allowed in a snapshot"
'

test_case "a top-level SELECT is not part of a dump" '
	plant 1-table/orders/1-rows-000001.sql "-- looks harmless
SELECT 1;
"
	refused "SELECT is not allowed in a snapshot"
'

test_case "a sqlite3 dot-command line is refused as not SQL, and the shell never runs" '
	plant 1-table/orders/1-rows-000001.sql "-- looks harmless
.shell touch $T/pwned
"
	refused "a sqlite3 shell dot-command is not SQL"
	test_must_fail test -e "$T/pwned"
'

test_case "the README recipe with sqlite3 -safe -bail refuses the dot-command too" '
	rm -rf snap
	mkdir snap
	git --git-dir="$REPO" archive backup/app | tar -x -C snap
	(cd snap && find . -type f -name "*.sql" -print0 | LC_ALL=C sort -z | xargs -0 cat) | test_must_fail sqlite3 -safe -bail restored.db
	test_must_fail test -e "$T/pwned"
'

test_case "the README recipe with sqlite3 -safe -bail refuses ATTACH" '
	plant 1-table/orders/1-rows-000001.sql "-- looks harmless
ATTACH '\''$T/outside.db'\'' AS o; CREATE TABLE o.x(a);
"
	rm -rf snap restored.db
	mkdir snap
	git --git-dir="$REPO" archive backup/app | tar -x -C snap
	(cd snap && find . -type f -name "*.sql" -print0 | LC_ALL=C sort -z | xargs -0 cat) | test_must_fail sqlite3 -safe -bail restored.db
	test_must_fail test -e "$T/outside.db"
'

test_case "a failed restore never quotes row data (a unique marker) in its message" '
	rows=$(G cat-file blob "$GOOD:1-table/secrets/1-rows-000000.sql")
	grep -q MARKER-7f3a9c <<<"$rows"
	plant 1-table/secrets/1-rows-000001.sql "$rows
"
	expect_exit 1 dg restore app --to "$T/out.db"
	stderr_has "1-table/secrets/1-rows-000001.sql line 1: UNIQUE constraint failed"
	test_must_fail grep -q MARKER "$T/.stderr"
	expect_exit 1 dg verify app
	test_must_fail grep -q MARKER "$T/.stderr" "$T/.stdout"
	plant 1-table/secrets/1-rows-000001.sql "INSERT INTO secrets VALUES (2, MARKER-7f3a9c MARKER-7f3a9c);
"
	expect_exit 1 dg restore app --to "$T/out.db"
	stderr_has "1-table/secrets/1-rows-000001.sql line 1: "
	test_must_fail grep -q MARKER "$T/.stderr"
'

test_case "the good snapshot still restores, virtual table and all" '
	G update-ref refs/heads/backup/app "$GOOD"
	rm -f "$T/out.db"
	expect_exit 0 dg restore app --to "$T/out.db"
	same_db "$T/app.db" "$T/out.db"
	[ "$(sqlite3 "$T/out.db" "SELECT title FROM docs WHERE docs MATCH '\''lazy'\''")" = bye ]
	expect_exit 0 dg verify app
'

test_case "a TEMP table or trigger beside the restored tables is refused (it would take their rows or see them first)" '
	rm -f "$T/out.db"
	plant 1-table/orders/1-rows-000001.sql "-- looks harmless
CREATE TEMP TABLE orders(id INTEGER PRIMARY KEY, raw BLOB);
"
	refused "CREATE TEMP orders is not allowed in a snapshot"
	plant 1-table/orders/1-rows-000001.sql "-- looks harmless
CREATE TEMP TRIGGER tr AFTER INSERT ON main.orders BEGIN SELECT 1; END;
"
	refused "CREATE TEMP tr is not allowed in a snapshot"
'

test_case "a table or view named like one of SQLite table-valued functions is refused (dbgit asks the schema through them)" '
	rm -f "$T/out.db"
	plant 1-table/orders/1-rows-000001.sql "-- looks harmless
CREATE VIEW pragma_table_list AS SELECT 1;
"
	refused "the name pragma_table_list is reserved"
	plant 1-table/orders/1-rows-000001.sql "-- looks harmless
CREATE TABLE \"Pragma_Index_List\"(a);
"
	refused "the name Pragma_Index_List is reserved"
	plant 1-table/orders/1-rows-000001.sql "-- looks harmless
CREATE VIRTUAL TABLE json_each USING fts5(x);
"
	refused "the name json_each is reserved"
'

test_done
