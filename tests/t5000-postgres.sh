#!/bin/bash
# t5000: engine = "postgres" against a real PostgreSQL 15 (own cluster,
# scram-sha-256, own port and socket). A snapshot is stable (a logically
# empty change that moves rows on disk changes no file but MANIFEST.json),
# verified in a scratch database that is dropped afterwards, restored
# --to a database equal to the source, and the password never shows on a
# command line. A failing tool fails the job with its own first line and
# commits nothing.
. "$TEST_SRCDIR/lib/test-lib.sh"
. "$TEST_SRCDIR/lib/pg.sh"

pg_start
REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
job() {
	printf '%s\n' '[[job]]' "name = \"$1\"" 'engine = "postgres"' "socket = \"$PG_SOCK\"" "port = $PG_PORT" \
		'user = "dbgit"' "database = \"$2\"" "password_file = \"${3:-$PG_PASS}\""
	shift 3
	printf '%s\n' "$@" ''
}
pgq postgres -c "CREATE DATABASE app"
pgq app >/dev/null <<'SQL'
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE "odd ""name" (id serial PRIMARY KEY, "my col" text, m mood, b bytea, n numeric,
	f float8, r real, ts timestamptz, j jsonb, js json, a int[], ta text[]);
INSERT INTO "odd ""name" ("my col", m, b, n, f, r, ts, j, js, a, ta) VALUES
 (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (E'tab\there\nnew line \\ back', 'happy',
  (SELECT decode(string_agg(lpad(to_hex(g), 2, '0'), ''), 'hex') FROM generate_series(0, 255) g),
  1234567890.123456789012345678901234567890, '-0', '-0', '2024-01-02 03:04:05.123456+05:30',
  '{"a": [1, 2.50, null], "k": "\u00e9"}', '{"b":  1,  "b": 2}', '{1,NULL,3}', '{"x y","{}",NULL}'),
 ('x', 'sad', '\x', 'NaN', 'NaN', 'NaN', 'infinity', '[]', '[]', '{}', '{}'),
 ('y', 'ok', '\xff', '-1e-30', 'Infinity', 'Infinity', '-infinity', 'null', 'null', '{}', '{}'),
 ('z', 'ok', '\x00', 0, '-Infinity', '-Infinity', '1999-12-31 23:59:59.999999-08', '"s"', '"s"', '{}', '{}'),
 ('w', 'ok', '\x00', 0.1, 4.9e-324, 1.4e-45, '2000-01-01 00:00:00+00', '1', '1', '{}', '{}');
CREATE TABLE nopk (a text, b int);
INSERT INTO nopk VALUES ('b', 2), ('a', 1), ('a', 1);
CREATE SCHEMA "other schema";
CREATE TABLE "other schema".items (k text PRIMARY KEY, v int NOT NULL DEFAULT 3 CHECK (v > 0), note text);
INSERT INTO "other schema".items SELECT 'k' || g, g, repeat('n', g % 50) FROM generate_series(1, 5000) g;
CREATE TABLE child (id int PRIMARY KEY, item text REFERENCES "other schema".items (k));
INSERT INTO child VALUES (1, 'k1'), (2, 'k2');
CREATE VIEW "other schema".big AS SELECT k FROM "other schema".items WHERE v > 10;
CREATE FUNCTION "other schema".stamp() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.note := 'trig'; RETURN NEW; END$$;
CREATE TRIGGER stamp BEFORE INSERT ON "other schema".items FOR EACH ROW EXECUTE FUNCTION "other schema".stamp();
CREATE INDEX ON nopk (b);
CREATE SEQUENCE lone START 5;
SELECT nextval('lone');
SQL

write_config "$T/dbgit.toml" "$REPO" "$(job pg app "$PG_PASS")" "$(job nover app "$PG_PASS" 'verify = "none"')" \
	"$(job badpw app "$T/wrong.pass")" "$(job open app "$T/open.pass")" \
	"$(job ex app "$PG_PASS" 'exclude_tables = ["nopk"]')" \
	"$(job exd app "$PG_PASS" 'exclude_table_data = ["nopk"]')"
printf 'not-the-password\n' >"$T/wrong.pass"
chmod 600 "$T/wrong.pass"
install -m 0644 "$PG_PASS" "$T/open.pass"
dg init >/dev/null
# one tree's files but MANIFEST.json, path and blob
files() { git --git-dir="$REPO" ls-tree -r "$1" | grep -v 'MANIFEST.json$'; }
scratch_dbs() { pgq postgres -c "SELECT count(*) FROM pg_database WHERE datname LIKE 'dbgit%'"; }

test_case "a snapshot is taken, verified in a scratch database, and that database dropped" '
	dg backup pg
	dg show pg --json >m.json
	python3 -c "
import json; m = json.load(open(\"m.json\"))
assert m[\"engine\"] == \"postgres\" and m[\"formats\"] == [\"sql\"], m
assert m[\"verification\"][\"result\"] == \"passed\", m
t = {x[\"name\"]: x[\"rows\"] for x in m[\"tables\"]}
assert t[\"other schema.items\"] == 5000 and t[\"public.odd \\\"name\"] == 6 and t[\"public.nopk\"] == 3, t
assert t[\"(sequences)\"] == 2, t
types = {s[\"type\"] for s in m[\"schema\"]}
assert types == {\"table\", \"index\", \"view\", \"trigger\", \"function\"}, types
"
	[ "$(scratch_dbs)" = 0 ]
	git --git-dir="$REPO" fsck --full
	git --git-dir="$REPO" ls-tree -r --name-only backup/pg >names
	grep -qx "2-table/other%20schema.items/rows-000000.sql" names
	grep -qx "4-post-data-000000.sql" names
	git --git-dir="$REPO" show backup/pg:1-schema-000000.sql >schema.sql
	test_must_fail grep -q "^.restrict" schema.sql
'

test_case "a logically empty change that moves rows on disk changes no file but MANIFEST.json" '
	pgq app -c "UPDATE nopk SET a = a" -c "UPDATE \"other schema\".items SET v = v WHERE v % 3 = 0" \
		-c "UPDATE \"odd \"\"name\" SET n = n" -c "VACUUM FULL"
	dg backup pg
	files backup/pg~1 >one
	files backup/pg >two
	cmp one two
	[ "$(git --git-dir="$REPO" diff --name-only backup/pg~1 backup/pg)" = MANIFEST.json ]
'

test_case "restore --to a new database gives back every table, value and object" '
	dg restore pg --to copy1
	pg_same_db app copy1
	[ "$(pgq copy1 -c "SELECT nextval(\$\$lone\$\$)")" = 6 ]
	[ "$(pgq copy1 -c "SELECT count(*) FROM \"other schema\".big")" = 4990 ]
	pgq copy1 -c "INSERT INTO \"other schema\".items (k, v) VALUES (\$\$new\$\$, 1)"
	[ "$(pgq copy1 -c "SELECT note FROM \"other schema\".items WHERE k = \$\$new\$\$")" = trig ]
	[ "$(pgq copy1 -c "SELECT encode(b, \$\$hex\$\$) FROM \"odd \"\"name\" WHERE id = 2" | wc -c)" = 513 ]
	[ "$(pgq copy1 -c "SELECT n FROM \"odd \"\"name\" WHERE id = 2")" = 1234567890.123456789012345678901234567890 ]
	[ "$(scratch_dbs)" = 0 ]
'

test_case "restore --to a database that holds tables needs --force, and keeps it until verified" '
	expect_exit 2 dg restore pg --to copy1
	stderr_has "database copy1 already holds"
	pgq copy1 -c "CREATE TABLE extra (x int)"
	dg restore pg --to copy1 --force
	pg_same_db app copy1
	expect_exit 2 dg restore pg --to "no/slash"
	expect_exit 2 dg restore pg --to "host=elsewhere"
	stderr_has "is not a PostgreSQL database name"
'

test_case "the password is on no command line while the dump runs, nor in the repository" '
	pgq app -c "CREATE TABLE bulk AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 300000) g" \
		-c "ALTER TABLE bulk ADD PRIMARY KEY (id)"
	pw=$(cat "$PG_PASS")
	dg backup pg &
	bg=$!
	: >seen
	while kill -0 $bg 2>/dev/null; do
		# a process may end between the glob and the read: its line is empty
		for f in /proc/[0-9]*/cmdline; do cat "$f" 2>/dev/null | tr "\0" " " >>seen; echo >>seen; done
	done
	wait $bg
	# the tools ran while we looked (pg_dump runs for a moment only)
	grep -q "psql -X" seen
	test_must_fail grep -qF "$pw" seen
	git --git-dir="$REPO" log -p --all >log.txt
	test_must_fail grep -qF "$pw" log.txt
	pgq app -c "DROP TABLE bulk"
'

test_case "diff --stat counts exactly the rows changed, added and removed" '
	# The case before dropped its big table on purpose: no shrink guard.
	dg backup pg --allow-shrink
	pgq app -c "UPDATE \"other schema\".items SET v = v + 1000 WHERE k IN (\$\$k1\$\$, \$\$k2000\$\$, \$\$k4999\$\$)" \
		-c "DELETE FROM \"other schema\".items WHERE k IN (\$\$k77\$\$, \$\$k78\$\$)" \
		-c "INSERT INTO \"other schema\".items (k, v) VALUES (\$\$a\$\$, 1)" \
		-c "UPDATE \"odd \"\"name\" SET f = 2.5 WHERE id = 2" -c "INSERT INTO nopk VALUES (\$\$c\$\$, 3)" \
		-c "CREATE INDEX by_v ON \"other schema\".items (v)"
	dg backup pg
	dg diff pg --stat >stat
	cat stat
	grep -Eq "^ +other schema.items +\+1 -2 ~3$" stat
	grep -Eq "^ +public.odd \"name +\+0 -0 ~1$" stat
	grep -Eq "^ +public.nopk +\+1 -0 ~0$" stat
	grep -q "schema: + index other schema.by_v" stat
	[ "$(grep -Ec " \+[0-9]+ -[0-9]+ ~[0-9]+$" stat)" = 3 ]
	[ "$(scratch_dbs)" = 0 ]
'

test_case "a snapshot that restores to other content is not committed; its scratch database is dropped" '
	before=$(git --git-dir="$REPO" rev-parse backup/pg)
	pgq app -c "SELECT nextval(\$\$lone\$\$)" >/dev/null
	DBGIT_TEST_CORRUPT=alter:3-sequences expect_exit 1 dg backup pg
	stderr_has "verification failed, nothing committed"
	stderr_has "(sequences)"
	[ "$(git --git-dir="$REPO" rev-parse backup/pg)" = "$before" ]
	[ "$(scratch_dbs)" = 0 ]
	DBGIT_TEST_CORRUPT=drop-line:2-table/public.nopk expect_exit 1 dg backup pg
	stderr_has "verification failed, nothing committed"
	[ "$(scratch_dbs)" = 0 ]
	dg backup pg
'

test_case "a stop signal during verification drops the scratch database and commits nothing" '
	pgq app -c "CREATE TABLE bulk AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 400000) g" \
		-c "ALTER TABLE bulk ADD PRIMARY KEY (id)"
	before=$(git --git-dir="$REPO" rev-parse backup/pg)
	"$DBGIT" --config "$T/dbgit.toml" backup pg 2>err &
	bg=$!
	for i in $(seq 1 600); do [ "$(scratch_dbs)" = 0 ] || break; sleep 0.05; done
	[ "$(scratch_dbs)" = 1 ]
	kill -TERM $bg
	rc=0
	wait $bg || rc=$?
	[ "$rc" -ne 0 ]
	[ "$(scratch_dbs)" = 0 ]
	[ "$(git --git-dir="$REPO" rev-parse backup/pg)" = "$before" ]
	pgq app -c "DROP TABLE bulk"
'

test_case "exclude_tables leaves a table, its rows and its index out; verification passes" '
	dg backup ex
	dg show ex --json >m.json
	python3 -c "
import json; m = json.load(open(\"m.json\"))
names = [t[\"name\"] for t in m[\"tables\"]]
assert \"public.nopk\" not in names and \"other schema.items\" in names, names
assert not [s for s in m[\"schema\"] if s.get(\"tbl_name\") == \"public.nopk\"], m[\"schema\"]
assert m[\"verification\"][\"result\"] == \"passed\"
"
	git --git-dir="$REPO" ls-tree -r --name-only backup/ex >names
	test_must_fail grep -q nopk names
'

test_case "exclude_table_data keeps a table and its index but none of its rows; restored empty" '
	dg backup exd
	git --git-dir="$REPO" ls-tree -r --name-only backup/exd >names
	test_must_fail grep -q "nopk/rows" names
	grep -q "items/rows" names
	git --git-dir="$REPO" grep -q "CREATE TABLE \"public\".\"nopk\"" backup/exd
	dg restore exd --to copyexd
	[ "$(pgq copyexd -c "SELECT count(*) FROM nopk")" = 0 ]
	[ "$(pgq copyexd -c "SELECT count(*) FROM pg_indexes WHERE tablename = \$\$nopk\$\$")" = 1 ]
	[ "$(pgq copyexd -c "SELECT count(*) FROM \"other schema\".items")" = "$(pgq app -c "SELECT count(*) FROM \"other schema\".items")" ]
	[ "$(scratch_dbs)" = 0 ]
'

test_case "verify = \"none\" takes a snapshot without a scratch database" '
	dg backup nover
	dg show nover --json | grep -q "\"skipped\""
	dg list nover | grep -q skipped
'

test_case "check reaches the source and the repository, writes nothing, and names what is broken" '
	git --git-dir="$REPO" for-each-ref >refs.before
	dg check pg >out
	grep -qx "pg: source ok" out
	expect_exit 1 dg check badpw
	stderr_has "job '\''badpw'\'': psql: "
	stderr_has "password authentication failed"
	expect_exit 1 dg check
	stderr_has "job '\''open'\'': password_file"
	git --git-dir="$REPO" for-each-ref >refs.after
	cmp refs.before refs.after
	[ "$(scratch_dbs)" = 0 ]
'

test_case "a wrong password, an open password file, a stopped server, a missing psql: one line, no commit" '
	expect_exit 1 dg backup badpw
	stderr_has "password authentication failed"
	[ "$(wc -l <.stderr)" = 1 ]
	test_must_fail git --git-dir="$REPO" rev-parse -q --verify backup/badpw
	expect_exit 1 dg backup open
	stderr_has "readable by group or others"
	test_must_fail git --git-dir="$REPO" rev-parse -q --verify backup/open
	before=$(git --git-dir="$REPO" rev-parse backup/pg)
	mkdir bin
	ln -s "$(command -v git)" bin/git
	expect_exit 1 env PATH="$T/bin" "$DBGIT" --config "$T/dbgit.toml" backup pg
	stderr_has "psql: not found in PATH"
	pg_stop
	expect_exit 1 dg backup pg
	stderr_has "psql: error: connection to server on socket"
	[ "$(wc -l <.stderr)" = 1 ]
	expect_exit 1 dg check pg
	stderr_has "job '\''pg'\'': psql: error: connection to server"
	[ "$(git --git-dir="$REPO" rev-parse backup/pg)" = "$before" ]
'

test_done
