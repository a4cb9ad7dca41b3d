#!/bin/bash
# t0007: exclude_tables as users use it - leaving out sessions, logs or a
# table of secrets - never stores the excluded rows, and never turns every
# nightly backup into a failure.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
sqlite3 "$T/app.db" <<'SQL'
CREATE TABLE log(id INTEGER PRIMARY KEY AUTOINCREMENT, msg TEXT);
INSERT INTO log(msg) VALUES ('a'), ('b');
CREATE TABLE parent(id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE child(id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id));
INSERT INTO parent VALUES (1, 'p');
INSERT INTO child VALUES (1, 1);
CREATE TABLE secret(pw TEXT);
INSERT INTO secret VALUES ('hunter2');
CREATE VIEW secret_view AS SELECT pw FROM secret;
CREATE TABLE keep(a);
INSERT INTO keep VALUES (1);
SQL
job() { # job NAME FORMAT EXCLUDE-LIST
	write_config "$T/$1.toml" "$REPO" '[[job]]' "name = \"$1\"" 'engine = "sqlite"' \
		"path = \"$T/app.db\"" "format = \"$2\"" "exclude_tables = $3"
}

test_case "excluding with a binary copy is refused: a page copy holds every table" '
	job bin binary "[\"secret\"]"
	expect_exit 2 "$DBGIT" --config bin.toml init
	stderr_has "exclude_tables works with format = \"sql\" only"
	stderr_has "bin.toml:"
	test_must_fail test -e "$REPO"
	job both both "[\"secret\"]"
	expect_exit 2 "$DBGIT" --config both.toml init
'

test_case "excluding the only AUTOINCREMENT table still backs up (no sqlite_sequence left)" '
	job nolog sql "[\"log\"]"
	"$DBGIT" --config nolog.toml init >/dev/null
	"$DBGIT" --config nolog.toml backup
	"$DBGIT" --config nolog.toml restore nolog --to nolog.db
	[ "$(sqlite3 nolog.db "SELECT count(*) FROM sqlite_schema WHERE name IN (\"log\", \"sqlite_sequence\")")" = 0 ]
	[ "$(sqlite3 nolog.db "SELECT count(*) FROM keep")" = 1 ]
'

test_case "excluding a foreign-key parent table still backs up" '
	job noparent sql "[\"parent\"]"
	"$DBGIT" --config noparent.toml backup
	"$DBGIT" --config noparent.toml restore noparent --to noparent.db
	[ "$(sqlite3 noparent.db "SELECT count(*) FROM child")" = 1 ]
'

test_case "sqlite_sequence keeps only the kept tables, and a secret never reaches the repository" '
	job nosecret sql "[\"secret\"]"
	"$DBGIT" --config nosecret.toml backup 2>err
	grep -q "secret_view refers to excluded table .secret. and will not work after a restore" err
	test_must_fail sh -c "git --git-dir=\"$REPO\" grep -q hunter2 backup/nosecret"
	"$DBGIT" --config nosecret.toml restore nosecret --to nosecret.db
	[ "$(sqlite3 nosecret.db "SELECT seq FROM sqlite_sequence WHERE name = \"log\"")" = 2 ]
	[ "$(sqlite3 nosecret.db "SELECT count(*) FROM sqlite_schema WHERE name = \"secret\"")" = 0 ]
'

test_done
