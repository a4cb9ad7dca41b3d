#!/bin/bash
# A WAL database backed up while another process keeps writing to it: each
# snapshot is one consistent moment (every transaction wholly in or out),
# verifies, and restores - SQL and binary alike.
. "$TEST_SRCDIR/lib/test-lib.sh"


REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }

# Each transaction adds a row to a and to b and counts it in c, so in any
# consistent snapshot count(a) = count(b) = c.n.
sqlite3 "$T/live.db" "PRAGMA journal_mode = WAL;
CREATE TABLE a(id INTEGER PRIMARY KEY, v INTEGER, pad TEXT);
CREATE TABLE b(id INTEGER PRIMARY KEY, v INTEGER);
CREATE TABLE c(n INTEGER);
INSERT INTO c VALUES (0);
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 20000)
INSERT INTO a(v, pad) SELECT i, printf('%.200c', 'p') FROM s;
INSERT INTO b(v) SELECT v FROM a;
UPDATE c SET n = 20000;" >/dev/null
cat >"$T/writer.py" <<'EOF2'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
i = 0
while True:
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO a(v, pad) VALUES (?, 'w')", (i,))
    db.execute("INSERT INTO b(v) VALUES (?)", (i,))
    db.execute("UPDATE c SET n = n + 1")
    db.execute("COMMIT")
    i += 1
    if i % 200 == 0:
        open(sys.argv[2], "w").write(str(i))
EOF2
write_config "$T/dbgit.toml" "$REPO" \
	'[[job]]' 'name = "live"' 'engine = "sqlite"' "path = \"$T/live.db\"" 'format = "both"'
"$DBGIT" --config "$T/dbgit.toml" init >/dev/null

python3 "$T/writer.py" "$T/live.db" "$T/progress" &
WRITER=$!
test_track_pid "$WRITER"

# consistent DB: count(a) = count(b) = c.n and integrity_check ok; prints n.
consistent() {
	local r
	r=$(sqlite3 "$1" "SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM b), (SELECT n FROM c), (SELECT count(*) FROM pragma_integrity_check WHERE integrity_check != 'ok')")
	local na nb nc bad
	IFS='|' read -r na nb nc bad <<<"$r"
	[ "$na" = "$nb" ] && [ "$nb" = "$nc" ] && [ "$bad" = 0 ] || { echo "inconsistent $1: $r" >&2; return 1; }
	echo "$na"
}

test_case "the writer is running" '
	for _ in $(seq 50); do [ -s progress ] && break; sleep 0.1; done
	[ -s progress ]
	kill -0 "$WRITER"
'

test_case "three backups during continuous writes all verify" '
	for i in 1 2 3; do
		expect_exit 0 dg backup live
		sleep 0.3
	done
	[ "$(git --git-dir="$REPO" rev-list --count backup/live)" = 3 ]
	expect_exit 0 dg verify live --all
	kill -0 "$WRITER"
'

test_case "each snapshot is one consistent moment, in SQL and in binary" '
	prev=0
	for rev in HEAD~2 HEAD~1 HEAD; do
		rm -f s.db b.db
		expect_exit 0 dg restore live "$rev" --format sql --to s.db
		expect_exit 0 dg restore live "$rev" --format binary --to b.db
		ns=$(consistent s.db)
		nb=$(consistent b.db)
		echo "$rev: $ns rows"
		# Both copies are the same read transaction.
		[ "$ns" = "$nb" ]
		[ -z "$(sqldiff s.db b.db)" ]
		# And the writer was really writing between snapshots.
		[ "$ns" -gt "$prev" ]
		prev=$ns
		# The manifest counted what the snapshot holds.
		expect_exit 0 dg show live "$rev" --json
		python3 -c "import json,sys; j=json.load(sys.stdin); assert [t[\"rows\"] for t in j[\"tables\"] if t[\"name\"] == \"a\"] == [$ns], j[\"tables\"]" <.stdout
	done
	[ "$prev" -gt 20000 ]
'

test_case "restores leave no temp, -wal or -shm files behind" '
	ls -a >files.txt
	test_must_fail grep -E "dbgit-restore|^[sb]\.db-(wal|shm|journal)$" files.txt
'

test_case "the writer never saw an error and stops cleanly" '
	kill -0 "$WRITER"
	kill "$WRITER"
	wait "$WRITER" 2>/dev/null || true
	consistent live.db
'

test_done
