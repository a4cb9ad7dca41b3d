#!/bin/bash
# Found when tried as a new user (issue 11): --at with a date alone means
# the end of that day, and --at reads times in UTC as list prints them;
# -v lines keep their order when redirected; a WAL database comes back in
# WAL mode; exclude_table_data keeps the schema, leaves the rows out and is
# recorded in the manifest.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
G() { git --git-dir="$REPO" "$@"; }
night() { sqlite3 "$1" "SELECT b FROM plain WHERE a = 2"; }

make_demo_db "$T/app.db"
sqlite3 "$T/wal.db" "PRAGMA journal_mode=WAL; CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT); INSERT INTO t(b) VALUES ('x'), ('y');" >/dev/null
make_demo_db "$T/django.db"
sqlite3 "$T/django.db" "CREATE TABLE django_session(session_key TEXT PRIMARY KEY, session_data TEXT, expire_date TEXT);
	CREATE INDEX django_session_expire ON django_session(expire_date);
	INSERT INTO django_session VALUES ('k1', 'secret-session-data', '2026-12-01'), ('k2', 'more', '2026-12-02');"
write_config "$T/dbgit.toml" "$REPO" \
	'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"" \
	'[[job]]' 'name = "wal"' 'engine = "sqlite"' "path = \"$T/wal.db\"" \
	'[[job]]' 'name = "django"' 'engine = "sqlite"' "path = \"$T/django.db\"" \
	'exclude_table_data = ["django_session"]' \
	'[[job]]' 'name = "gone"' 'engine = "sqlite"' "path = \"$T/missing.db\""
dg init >/dev/null

test_case "--at 2026-11-20 restores the snapshot taken on the 20th (the end of that day)" '
	for d in 19 20 21; do
		sqlite3 app.db "UPDATE plain SET b = \"night $d\" WHERE a = 2"
		DBGIT_NOW=2026-11-${d}T03:00:00Z expect_exit 0 dg backup app
	done
	expect_exit 0 dg restore app --at 2026-11-20 --to at20.db
	[ "$(night at20.db)" = "night 20" ]
	expect_exit 0 dg restore app --at 2026-11-21 --to at21.db
	[ "$(night at21.db)" = "night 21" ]
	expect_exit 2 dg restore app --at 2026-11-18 --to at18.db
	[ ! -e at18.db ]
	expect_exit 2 dg restore app --at 2026-11-31 --to bad.db
	stderr_has "2026-11-31"
'

test_case "--at and list agree on UTC, whatever TZ says; an offset is honoured" '
	expect_exit 0 dg list app
	grep -q "2026-11-20T03:00:00Z" .stdout
	# 02:00 UTC on the 20th is before that night'"'"'s 03:00Z snapshot. Read
	# as New York time (07:00Z) it would pick the 20th.
	TZ=America/New_York expect_exit 0 dg restore app --at 2026-11-20T02:00 --to utc.db
	[ "$(night utc.db)" = "night 19" ]
	TZ=America/New_York expect_exit 0 dg restore app --at 2026-11-20T03:00 --to utc3.db
	[ "$(night utc3.db)" = "night 20" ]
	expect_exit 0 dg restore app --at 2026-11-20T03:59+01:00 --to offset.db
	[ "$(night offset.db)" = "night 19" ]
	expect_exit 0 dg restore app --at 2026-11-20T04:00+01:00 --to offset2.db
	[ "$(night offset2.db)" = "night 20" ]
'

test_case "-v lines keep their order when stdout and stderr go to one file" '
	sqlite3 app.db "UPDATE plain SET b = \"night 22\" WHERE a = 2"
	DBGIT_NOW=2026-11-22T03:00:00Z dg -v backup app gone >both.log 2>&1 || echo "exit $?" >>both.log
	grep -q "^exit 1$" both.log
	ok=$(grep -n "^app: snapshot" both.log | cut -d: -f1)
	bad=$(grep -n "job .gone." both.log | head -n 1 | cut -d: -f1)
	[ -n "$ok" ]
	[ -n "$bad" ]
	[ "$ok" -lt "$bad" ]
'

test_case "a WAL database comes back in WAL mode (dbgit restore and the git + sqlite3 recipe)" '
	expect_exit 0 dg backup wal
	expect_exit 0 dg show wal --json
	python3 -c "import json; j=json.load(open(\".stdout\")); assert j[\"journal_mode\"] == \"wal\", j.get(\"journal_mode\")"
	expect_exit 0 dg restore wal --to wal-restored.db
	[ "$(sqlite3 wal-restored.db "PRAGMA journal_mode")" = wal ]
	same_db wal.db wal-restored.db
	[ ! -e wal-restored.db-wal ]
	# A database in rollback mode stays in it.
	expect_exit 0 dg restore app --to rollback.db
	[ "$(sqlite3 rollback.db "PRAGMA journal_mode")" = delete ]
	mkdir snap
	G archive backup/wal | tar -x -C snap
	(cd snap && find . -type f -name "*.sql" -print0 | LC_ALL=C sort -z | xargs -0 cat) | sqlite3 -safe -bail recipe.db >/dev/null
	[ "$(sqlite3 recipe.db "PRAGMA journal_mode")" = wal ]
	same_db wal.db recipe.db
'

test_case "exclude_table_data: the table comes back empty with its index, rows never stored" '
	expect_exit 0 dg backup django
	G ls-tree -r --name-only backup/django >files.txt
	grep -q "^1-table/django_session/0-schema" files.txt
	test_must_fail grep -q "^1-table/django_session/1-rows" files.txt
	G grep -q secret-session-data backup/django >grep.out 2>&1 || echo "not found" >grep.out
	grep -qx "not found" grep.out
	expect_exit 0 dg show django --json
	python3 -c "import json; j=json.load(open(\".stdout\")); assert j[\"exclude_table_data\"] == [\"django_session\"], j"
	expect_exit 0 dg restore django --to dj.db
	[ "$(sqlite3 dj.db "SELECT count(*) FROM django_session")" = 0 ]
	[ "$(sqlite3 dj.db "SELECT name FROM sqlite_schema WHERE type = '"'"'index'"'"' AND sql IS NOT NULL AND tbl_name = '"'"'django_session'"'"'")" = django_session_expire ]
	sqldiff --schema django.db dj.db >schema.diff
	[ ! -s schema.diff ]
	sqldiff --table orders django.db dj.db >orders.diff
	[ ! -s orders.diff ]
	expect_exit 0 dg verify django
'

test_case "exclude_table_data with a binary copy, or with exclude_tables for the same table, is a config error" '
	cp dbgit.toml good.toml
	printf "[[job]]\nname = \"b\"\nengine = \"sqlite\"\npath = \"%s/app.db\"\nformat = \"both\"\nexclude_table_data = [\"kv\"]\n" "$T" >>dbgit.toml
	expect_exit 2 dg backup b
	stderr_has "exclude_table_data works with format = \"sql\" only"
	cp good.toml dbgit.toml
	printf "[[job]]\nname = \"c\"\nengine = \"sqlite\"\npath = \"%s/app.db\"\nexclude_tables = [\"kv\"]\nexclude_table_data = [\"kv\"]\n" "$T" >>dbgit.toml
	expect_exit 2 dg backup c
	stderr_has "in both exclude_tables and exclude_table_data"
	cp good.toml dbgit.toml
'

test_done
