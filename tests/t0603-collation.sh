#!/bin/bash
# A database with an application-defined collation (registered by the
# application's code at run time) cannot be read in order, nor re-created,
# by anyone else: the backup refuses it with one clear line naming the
# database, table and collation instead of "no such collation sequence",
# and commits nothing. SQLite's own collations work; exclude_tables can
# leave such a table out.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }

# app_db FILE SQL: a database made by an "application" that defines the
# collation appcoll.
app_db() {
	python3 - "$1" "$2" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.create_collation("appcoll", lambda a, b: (a > b) - (a < b))
c.executescript(sys.argv[2])
c.commit()
PY
}

app_db "$T/col.db" "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT COLLATE appcoll);
INSERT INTO people(name) VALUES ('b'), ('a');"
app_db "$T/wr.db" "CREATE TABLE kv(k TEXT PRIMARY KEY COLLATE appcoll, v) WITHOUT ROWID;
INSERT INTO kv VALUES ('x', 1);"
app_db "$T/idx.db" "CREATE TABLE tags(id INTEGER PRIMARY KEY, t TEXT);
CREATE INDEX tags_t ON tags(t COLLATE appcoll); INSERT INTO tags(t) VALUES ('q');"
app_db "$T/ok.db" "CREATE TABLE plain(id INTEGER PRIMARY KEY, t TEXT COLLATE NOCASE, u TEXT COLLATE RTRIM);
CREATE TABLE odd(x TEXT COLLATE appcoll); INSERT INTO plain(t, u) VALUES ('A', 'b  ');"
write_config "$T/dbgit.toml" "$REPO" \
	'[[job]]' 'name = "col"' 'engine = "sqlite"' "path = \"$T/col.db\"" \
	'[[job]]' 'name = "wr"' 'engine = "sqlite"' "path = \"$T/wr.db\"" \
	'[[job]]' 'name = "idx"' 'engine = "sqlite"' "path = \"$T/idx.db\"" \
	'[[job]]' 'name = "ok"' 'engine = "sqlite"' "path = \"$T/ok.db\"" 'exclude_tables = ["odd"]'
dg init >/dev/null

no_branch() { test_must_fail git --git-dir="$REPO" rev-parse -q --verify "refs/heads/backup/$1"; }

test_case "a column with the application's collation is refused by name" '
	expect_exit 1 dg backup col --no-push
	stderr_has "database $T/col.db: table people uses collation appcoll, which only the application defines: dbgit cannot read it in order"
	[ "$(wc -l <.stderr)" = 1 ]
	no_branch col
'

test_case "a WITHOUT ROWID key in that collation is refused the same way" '
	expect_exit 1 dg backup wr --no-push
	stderr_has "table kv uses collation appcoll"
	test_must_fail grep -q "no such collation" .stderr
	no_branch wr
'

test_case "an index in that collation is refused, naming the index" '
	expect_exit 1 dg backup idx --no-push
	stderr_has "table tags uses collation appcoll (index tags_t)"
	no_branch idx
'

test_case "NOCASE and RTRIM work; an excluded table may use any collation" '
	expect_exit 0 dg backup ok --no-push
	expect_exit 0 dg restore ok --to ok-restored.db
	[ "$(sqlite3 ok-restored.db "SELECT count(*) FROM plain WHERE t = '\''a'\''")" = 1 ]
'

test_done
