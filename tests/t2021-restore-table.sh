#!/bin/bash
# restore --table (issue 11): some tables - schema, rows, the indexes and
# triggers on them - into a new database, exactly as in the source and
# nothing else; the other tables' files are not even read.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
G() { git --git-dir="$REPO" "$@"; }
# only_tables DB NAMES...: DB holds exactly these tables (sqlite_sequence
# aside) and no view.
only_tables() {
	local db=$1
	shift
	sqlite3 "$db" "SELECT name FROM sqlite_schema WHERE type IN ('table','view') AND name <> 'sqlite_sequence' ORDER BY name" >got.txt
	printf '%s\n' "$@" | sort >want.txt
	diff want.txt got.txt
}
# same_table A B T: sqldiff finds no difference in T's rows or schema.
same_table() {
	sqldiff --table "$3" "$1" "$2" >d.txt
	[ ! -s d.txt ]
	sqldiff --schema --table "$3" "$1" "$2" >d.txt
	[ ! -s d.txt ]
	[ "$(sqlite3 "$1" "SELECT count(*) FROM \"$3\"")" = "$(sqlite3 "$2" "SELECT count(*) FROM \"$3\"")" ]
}

make_demo_db "$T/app.db"
make_demo_db "$T/bin.db"
make_demo_db "$T/both.db"
write_config "$T/dbgit.toml" "$REPO" \
	'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"" \
	'[[job]]' 'name = "bin"' 'engine = "sqlite"' "path = \"$T/bin.db\"" 'format = "binary"' \
	'[[job]]' 'name = "both"' 'engine = "sqlite"' "path = \"$T/both.db\"" 'format = "both"'
dg init >/dev/null
dg backup >/dev/null

test_case "one table: its schema, index and rows, exactly, and nothing else" '
	expect_exit 0 dg restore app --table orders --to orders.db
	stderr_has "restored 1 table of app snapshot"
	only_tables orders.db orders
	same_table app.db orders.db orders
	[ "$(sqlite3 orders.db "SELECT name FROM sqlite_schema WHERE type = '"'"'index'"'"'")" = orders_customer ]
	# The trigger on customers (whose body writes orders) is not there.
	[ "$(sqlite3 orders.db "SELECT count(*) FROM sqlite_schema WHERE type = '"'"'trigger'"'"'")" = 0 ]
	[ "$(stat -c %a orders.db)" = 600 ]
	sqlite3 orders.db "PRAGMA integrity_check" >ic.txt
	[ "$(cat ic.txt)" = ok ]
'

test_case "two tables (names in any case): an AUTOINCREMENT table keeps its trigger and sequence" '
	expect_exit 0 dg restore app HEAD --table Customers --table kv --to two.db
	only_tables two.db customers kv
	same_table app.db two.db customers
	same_table app.db two.db kv
	[ "$(sqlite3 two.db "SELECT name FROM sqlite_schema WHERE type = '"'"'trigger'"'"'")" = customers_email ]
	[ "$(sqlite3 two.db "SELECT name || seq FROM sqlite_sequence")" = customers4 ]
	[ "$(sqlite3 two.db "PRAGMA user_version")" = 42 ]
'

test_case "the other tables are not read: a blob of theirs missing does not stop it" '
	blob=$(G rev-parse "backup/app:1-table/plain/1-rows-000000.sql")
	mv "$REPO/objects/${blob:0:2}/${blob:2}" "$T/plain-blob"
	expect_exit 1 dg restore app --to whole.db
	stderr_has "1-table/plain/1-rows-000000.sql"
	[ ! -e whole.db ]
	expect_exit 0 dg restore app --table orders --to orders-again.db
	same_table app.db orders-again.db orders
	mv "$T/plain-blob" "$REPO/objects/${blob:0:2}/${blob:2}"
'

test_case "format both restores from the SQL copy; binary only is refused, nothing written" '
	expect_exit 0 dg restore both --table gen --to gen.db
	only_tables gen.db gen
	same_table both.db gen.db gen
	expect_exit 2 dg restore bin --table orders --to bin-orders.db
	stderr_has "holds only a binary copy: --table needs an SQL copy"
	[ ! -e bin-orders.db ]
	expect_exit 2 dg restore both --table gen --format binary --to x.db
	[ ! -e x.db ]
'

test_case "an unknown table is named with the snapshot tables, exit 2; an existing target is kept" '
	expect_exit 2 dg restore app --table nope --to nope.db
	stderr_has "has no table '"'"'nope'"'"' (tables: customers,"
	[ ! -e nope.db ]
	echo keep >kept.db
	expect_exit 2 dg restore app --table orders --to kept.db
	[ "$(cat kept.db)" = keep ]
	expect_exit 0 dg restore app --table orders --to kept.db --force
	same_table app.db kept.db orders
	expect_exit 2 dg restore app --to t.db --table
	expect_exit 2 dg restore app --to t.db --table=
'

test_done
