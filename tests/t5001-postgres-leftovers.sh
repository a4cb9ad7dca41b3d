#!/bin/bash
# t5001: engine = "postgres", the parts t5000 leaves out, against a real
# PostgreSQL 15. Large objects (pg_largeobject, which pg_dump --schema-only
# leaves out) are dumped in a stable layout, counted in verification and
# restored with their oids and bytes; a scratch database left behind by a
# dbgit killed with -9 is dropped by the next run, and one whose run is
# still alive is not.
. "$TEST_SRCDIR/lib/test-lib.sh"
. "$TEST_SRCDIR/lib/pg.sh"

pg_start
REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
job() {
	printf '%s\n' '[[job]]' "name = \"$1\"" 'engine = "postgres"' "socket = \"$PG_SOCK\"" "port = $PG_PORT" \
		'user = "dbgit"' "database = \"$2\"" "password_file = \"$PG_PASS\"" ''
}
pgq postgres -c "CREATE DATABASE app" -c "CREATE DATABASE plain"
pgq app >/dev/null <<'SQL'
CREATE TABLE docs (id int PRIMARY KEY, name text, body oid);
-- all 256 byte values; empty; 200 000 bytes (four lo_put lines); one only a table's row points at
INSERT INTO docs VALUES
 (1, 'bytes', lo_from_bytea(70001, (SELECT decode(string_agg(lpad(to_hex(g), 2, '0'), ''), 'hex') FROM generate_series(0, 255) g))),
 (2, 'empty', lo_from_bytea(70002, '')),
 (3, 'big', lo_from_bytea(70003, (SELECT string_agg(decode(md5(g::text), 'hex'), '') FROM generate_series(1, 12500) g)));
SELECT lo_from_bytea(69999, ''); -- an orphan, first in oid order
SQL
pgq plain -c "CREATE TABLE t (id int PRIMARY KEY)" -c "INSERT INTO t VALUES (1)"
write_config "$T/dbgit.toml" "$REPO" "$(job pg app)" "$(job plain plain)"
dg init >/dev/null
files() { git --git-dir="$REPO" ls-tree -r "$1" | grep -v 'MANIFEST.json$'; }
scratch_dbs() { pgq postgres -c "SELECT count(*) FROM pg_database WHERE datname LIKE 'dbgit%'"; }
lo_sums() { pgq "$1" -c "SELECT oid, md5(lo_get(oid)), length(lo_get(oid)) FROM pg_largeobject_metadata ORDER BY oid"; }

test_case "large objects are in the snapshot, one lo_put line per 64 KiB, and counted by verification" '
	dg backup pg
	dg show pg --json >m.json
	python3 -c "
import json; m = json.load(open(\"m.json\"))
t = {x[\"name\"]: x[\"rows\"] for x in m[\"tables\"]}
assert t[\"(large objects)\"] == 4, t
assert m[\"verification\"][\"result\"] == \"passed\", m
"
	# the file is stored as content-defined chunks: put them together
	git --git-dir="$REPO" ls-tree --name-only backup/pg >names
	: >lo.sql
	for f in $(grep "^2-large-objects-[0-9]*\.sql\$" names); do git --git-dir="$REPO" show "backup/pg:$f" >>lo.sql; done
	grep -qx "SELECT pg_catalog.lo_create(70001);" lo.sql
	grep -qx "SELECT pg_catalog.lo_create(70002);" lo.sql
	[ "$(grep -c "^SELECT pg_catalog.lo_put(70003, " lo.sql)" = 4 ]
	[ "$(grep -c "^SELECT pg_catalog.lo_put(70002, " lo.sql)" = 0 ]
	grep -q "^SELECT pg_catalog.lo_put(70001, 0, pg_catalog.decode(.000102" lo.sql
	[ "$(scratch_dbs)" = 0 ]
	git --git-dir="$REPO" fsck --full
'

test_case "a database without large objects has no such file and no such summary" '
	dg backup plain
	git --git-dir="$REPO" ls-tree -r --name-only backup/plain >names
	test_must_fail grep -q large-objects names
	dg show plain --json >m.json
	test_must_fail grep -q "large objects" m.json
'

test_case "the same large objects give the same files; a changed one changes only its lines" '
	pgq app -c "VACUUM FULL pg_largeobject" >/dev/null
	dg backup pg
	files backup/pg~1 >one
	files backup/pg >two
	cmp one two
	pgq app -c "SELECT lo_put(70003, 100, \$\$XY\$\$::bytea)" >/dev/null
	dg backup pg
	[ "$(git --git-dir="$REPO" diff --name-only backup/pg~1 backup/pg | sort | tr "\n" " ")" = "2-large-objects-000000.sql MANIFEST.json " ]
	dg diff pg >d
	[ "$(grep -c "^-SELECT pg_catalog.lo_put(70003, 0," d)" = 1 ]
	[ "$(grep -c "^+SELECT pg_catalog.lo_put(70003, 0," d)" = 1 ]
'

test_case "a snapshot whose large object was tampered with fails verification" '
	before=$(git --git-dir="$REPO" rev-parse backup/pg)
	DBGIT_TEST_CORRUPT=drop-line:2-large-objects expect_exit 1 dg backup pg
	stderr_has "verification failed, nothing committed"
	stderr_has "(large objects)"
	[ "$(git --git-dir="$REPO" rev-parse backup/pg)" = "$before" ]
	[ "$(scratch_dbs)" = 0 ]
'

test_case "restore --to gives back every large object with its oid and bytes" '
	dg restore pg --to copy1
	lo_sums app >a
	lo_sums copy1 >b
	cmp a b
	[ "$(wc -l <b)" = 4 ]
	pg_same_db app copy1
	[ "$(pgq copy1 -c "SELECT encode(lo_get(body), \$\$hex\$\$) FROM docs WHERE id = 1" | wc -c)" = 513 ]
'

test_case "a scratch database left by a dbgit killed with -9 is dropped by the next run" '
	pgq app -c "CREATE TABLE bulk AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 400000) g" \
		-c "ALTER TABLE bulk ADD PRIMARY KEY (id)"
	before=$(git --git-dir="$REPO" rev-parse backup/pg)
	"$DBGIT" --config "$T/dbgit.toml" backup pg 2>err &
	bg=$!
	for i in $(seq 1 600); do [ "$(scratch_dbs)" = 0 ] || break; sleep 0.05; done
	[ "$(scratch_dbs)" = 1 ]
	kill -KILL $bg
	rc=0
	wait $bg || rc=$?
	[ "$rc" = 137 ]
	left=$(pgq postgres -c "SELECT datname FROM pg_database WHERE datname LIKE \$\$dbgit%\$\$")
	case "$left" in dbgit_pg_${bg}_*) ;; *) echo "unexpected: $left"; false ;; esac
	[ "$(git --git-dir="$REPO" rev-parse backup/pg)" = "$before" ]
	# one of a run still alive (this shell stands in for it), and one of
	# job "pg_7" (its pid part is not that of a run of job "pg"), stay
	pgq postgres -c "CREATE DATABASE dbgit_pg_$$_target" -c "CREATE DATABASE dbgit_pg_7_$$_0"
	dg -v backup pg 2>err
	grep -q "dropped scratch database $left" err
	[ "$(scratch_dbs)" = 2 ]
	[ "$(pgq postgres -c "SELECT count(*) FROM pg_database WHERE datname IN (\$\$dbgit_pg_$$_target\$\$, \$\$dbgit_pg_7_$$_0\$\$)")" = 2 ]
	pgq postgres -c "DROP DATABASE dbgit_pg_$$_target" -c "DROP DATABASE dbgit_pg_7_$$_0"
	pgq app -c "DROP TABLE bulk"
'

test_done
