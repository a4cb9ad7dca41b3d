#!/bin/bash
# The one schema row a snapshot may write directly is a virtual table's,
# and only of a module dbgit allows (sqlite_exec.c). The module is read
# past the table's name: a quoted name may itself hold " USING fts5".
. "$TEST_SRCDIR/lib/test-lib.sh"
. "$TEST_SRCDIR/lib/tamper.sh" # plant

REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
G() { git --git-dir="$REPO" "$@"; }

make_demo_db "$T/app.db"
# Names and layouts SQLite keeps as written: a quoted name with quotes and
# the word USING inside, and a line break before USING.
sqlite3 "$T/app.db" 'CREATE VIRTUAL TABLE "odd ""q"" USING fts5" USING fts5(t);
INSERT INTO "odd ""q"" USING fts5" VALUES ('"'"'one'"'"');
CREATE VIRTUAL TABLE [br] USING rtree(id, x0, x1);
CREATE VIRTUAL TABLE nl
USING fts5(t);'
write_config "$T/dbgit.toml" "$REPO" \
	'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\""
dg init >/dev/null

test_case "virtual tables with quoted names and a line break before USING back up and restore" '
	expect_exit 0 dg backup
	expect_exit 0 dg restore app --to "$T/good.db"
	same_db "$T/app.db" "$T/good.db"
'

GOOD=$(G rev-parse backup/app)


test_case "a module hidden behind a quoted name holding USING fts5 is refused" '
	plant 1-table/orders/1-rows-000001.sql "PRAGMA writable_schema=ON;
INSERT INTO sqlite_schema(type,name,tbl_name,rootpage,sql) VALUES('\''table'\'','\''x USING fts5'\'','\''x USING fts5'\'',0,'\''CREATE VIRTUAL TABLE \"x USING fts5\" USING dbstat'\'');
"
	expect_exit 1 dg restore app --to "$T/out.db"
	stderr_has "1-table/orders/1-rows-000001.sql line 2: a schema row that is not a virtual table'\''s is not allowed in a snapshot"
	test_must_fail test -e "$T/out.db"
'

test_case "the same with the module after a bracketed name" '
	plant 1-table/orders/1-rows-000001.sql "PRAGMA writable_schema=ON;
INSERT INTO sqlite_schema(type,name,tbl_name,rootpage,sql) VALUES('\''table'\'','\''y USING rtree'\'','\''y USING rtree'\'',0,'\''CREATE VIRTUAL TABLE [y USING rtree] USING sqlite_dbpage'\'');
"
	expect_exit 1 dg restore app --to "$T/out.db"
	stderr_has "1-table/orders/1-rows-000001.sql line 2: a schema row that is not a virtual table'\''s is not allowed in a snapshot"
	test_must_fail test -e "$T/out.db"
'

test_case "a virtual table of an allowed module named after a table-valued function is refused, by its row or its SQL" '
	plant 1-table/orders/1-rows-000001.sql "PRAGMA writable_schema=ON;
INSERT INTO sqlite_schema(type,name,tbl_name,rootpage,sql) VALUES('\''table'\'','\''pragma_table_list'\'','\''pragma_table_list'\'',0,'\''CREATE VIRTUAL TABLE pragma_table_list USING fts5(x)'\'');
"
	expect_exit 1 dg restore app --to "$T/out.db"
	stderr_has "1-table/orders/1-rows-000001.sql line 2: a schema row that is not a virtual table'\''s is not allowed in a snapshot"
	test_must_fail test -e "$T/out.db"
	plant 1-table/orders/1-rows-000001.sql "PRAGMA writable_schema=ON;
INSERT INTO sqlite_schema(type,name,tbl_name,rootpage,sql) VALUES('\''table'\'','\''z'\'','\''z'\'',0,'\''CREATE VIRTUAL TABLE \"pragma_index_list\" USING fts5(x)'\'');
"
	expect_exit 1 dg restore app --to "$T/out.db"
	stderr_has "1-table/orders/1-rows-000001.sql line 2: a schema row that is not a virtual table'\''s is not allowed in a snapshot"
	test_must_fail test -e "$T/out.db"
'

test_done
