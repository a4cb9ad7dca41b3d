#!/bin/bash
# The hostile-snapshot guards (sqlite_exec.c) still let real schemas
# through: CHECK (json_valid(...)), JSON generated columns, expression
# indexes, views and triggers calling SQLite's pure built-ins back up,
# verify, restore and diff, as SQL and as a binary copy. And a binary
# snapshot whose views and triggers call what no snapshot may
# (load_extension, fts3_tokenizer) restores, verifies and diffs without
# dbgit ever running them.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }

sqlite3 "$T/json.db" <<'SQL'
CREATE TABLE doc(id INTEGER PRIMARY KEY, body TEXT CHECK (json_valid(body)),
  name TEXT GENERATED ALWAYS AS (body ->> '$.name') STORED,
  kind TEXT GENERATED ALWAYS AS (json_extract(body, '$.kind')) VIRTUAL,
  made TEXT DEFAULT (strftime('%Y', 'now')));
CREATE INDEX doc_name ON doc(lower(name));
CREATE INDEX doc_kind ON doc(kind);
CREATE VIEW doc_names AS SELECT printf('%05d', id) AS n, json_object('name', name) AS j FROM doc;
CREATE TRIGGER doc_touch AFTER UPDATE ON doc BEGIN
  UPDATE doc SET body = json_set(body, '$.touched', 1) WHERE id = new.id AND json_type(body, '$.touched') IS NULL;
END;
INSERT INTO doc(body) VALUES ('{"name":"Ada","kind":"a"}'), ('{"name":"Bob","kind":"b"}');
SQL
cp "$T/json.db" "$T/jsonbin.db"
sqlite3 "$T/evil.db" <<SQL
CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
CREATE VIEW v AS SELECT load_extension('$T/evil.so') AS x;
CREATE VIEW w AS SELECT fts3_tokenizer('simple') AS x;
CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT load_extension('$T/evil.so'); END;
INSERT INTO t(v) VALUES ('one');
SQL
write_config "$T/dbgit.toml" "$REPO" \
	'[[job]]' 'name = "json"' 'engine = "sqlite"' "path = \"$T/json.db\"" \
	'[[job]]' 'name = "jsonbin"' 'engine = "sqlite"' "path = \"$T/jsonbin.db\"" 'format = "both"' \
	'[[job]]' 'name = "evil"' 'engine = "sqlite"' "path = \"$T/evil.db\"" 'format = "binary"'
dg init >/dev/null

test_case "JSON checks, generated columns, expression indexes, views and triggers restore" '
	expect_exit 0 dg backup json --no-push
	sqlite3 json.db "INSERT INTO doc(body) VALUES ('\''{\"name\":\"Cy\"}'\'')"
	expect_exit 0 dg backup json --no-push
	expect_exit 0 dg verify json --all
	expect_exit 0 dg restore json --to json-restored.db
	same_db json.db json-restored.db
	[ "$(sqlite3 json-restored.db "SELECT n FROM doc_names WHERE j LIKE '\''%Cy%'\''")" = 00003 ]
	expect_exit 0 dg diff json --stat
	grep -q doc .stdout
'

test_case "the same as SQL and binary copy, both restored" '
	expect_exit 0 dg backup jsonbin --no-push
	expect_exit 0 dg restore jsonbin --to jb-sql.db --format sql
	same_db jsonbin.db jb-sql.db
	expect_exit 0 dg restore jsonbin --to jb-bin.db --format binary
	same_db jsonbin.db jb-bin.db
'

test_case "a binary snapshot with views and triggers calling load_extension is read, never run" '
	expect_exit 0 dg backup evil --no-push
	sqlite3 evil.db "DELETE FROM t"
	sqlite3 -cmd ".bail on" evil.db "CREATE TABLE t2(x)"
	expect_exit 0 dg backup evil --no-push
	expect_exit 0 dg verify evil --all
	expect_exit 0 dg restore evil --to evil-restored.db
	expect_exit 0 dg diff evil --stat
	[ "$(sqlite3 evil-restored.db "SELECT count(*) FROM sqlite_schema WHERE type IN ('\''view'\'','\''trigger'\'')")" = 3 ]
'

test_done
