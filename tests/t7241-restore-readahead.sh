#!/bin/bash
# Issue 10: a restore reads the snapshot's files on a thread of its own, up
# to 1 MiB ahead of SQLite (sqlite_restore.c, "Read-ahead"). What the
# restore sees must not change: every chunk in order, a damaged chunk far
# past the window refused with its own name and nothing written, some
# tables only (the files the restore leaves unread), a stop signal.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
G() { git --git-dir="$REPO" "$@"; }

# rewrite_loose ID PYCODE: as in t1000.
rewrite_loose() {
	python3 - "$REPO/objects/${1:0:2}/${1:2}" "$2" <<'EOF2'
import sys, zlib
p, code = sys.argv[1], sys.argv[2]
raw = zlib.decompress(open(p, "rb").read())
head, body = raw.split(b"\0", 1)
body = bytearray(body)
exec(code)
open(p, "wb").write(zlib.compress(head + b"\0" + bytes(body)))
EOF2
}

# Two tables of about 4 MiB of rows each: many chunks, several windows.
make_rows_db "$T/app.db" 40000
sqlite3 "$T/app.db" "CREATE TABLE u(id INTEGER PRIMARY KEY, t_id INTEGER REFERENCES t(id), v TEXT);
	INSERT INTO u SELECT id, id, hex(randomblob(40)) FROM t;"
write_config "$T/dbgit.toml" "$REPO" '[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\""
dg init >/dev/null

test_case "a restore of many chunks gives every row back, in order" '
	expect_exit 0 dg backup app
	[ "$(G ls-tree --name-only backup/app 1-table/u/ | wc -l)" -ge 1 ]
	[ "$(G ls-tree -r --name-only backup/app | grep -c "^1-table/.*/1-rows-")" -ge 8 ]
	expect_exit 0 dg restore app --to r.db
	same_db app.db r.db
'

test_case "some tables only: the other tables are neither restored nor read" '
	rm -f r.db
	expect_exit 0 dg restore app --table u --to r.db
	[ "$(sqlite3 r.db "SELECT count(*) FROM u")" = 40000 ]
	[ -z "$(sqldiff --table u app.db r.db)" ]
	test_must_fail sqlite3 r.db "SELECT count(*) FROM t"
'

test_case "a damaged chunk far past the first window: refused by its name, nothing written" '
	cp -a "$REPO/objects" pristine
	last=$(G ls-tree -r --name-only backup/app | grep "^1-table/u/1-rows-" | tail -1)
	rewrite_loose "$(G rev-parse "backup/app:$last")" "del body[len(body) // 2:]"
	rm -f r.db
	expect_exit 1 dg restore app --to r.db
	stderr_has "$last"
	[ ! -e r.db ]
	test_must_fail compgen -G ".r.db.dbgit-restore-*"
	expect_exit 1 dg verify app
	stderr_has "$last"
	rm -rf "$REPO/objects"
	mv pristine "$REPO/objects"
	expect_exit 0 dg verify app
'

# paused STAGE: a restore in the background (its pid in $pid) until it
# says it paused at STAGE (DBGIT_TEST_PAUSE_RESTORE, the test build's hook).
paused() {
	DBGIT_TEST_PAUSE_RESTORE=$1 "$DBGIT" --config "$T/dbgit.toml" -v restore app --to r.db >out 2>err &
	pid=$!
	for _ in $(seq 1 300); do
		if grep -q "restore paused at $1" err; then
			return 0
		fi
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
	done
	cat err >&2
	return 1
}

test_case "a stop signal during the restore: no target, no temp file" '
	rm -f r.db
	"$DBGIT" --config "$T/dbgit.toml" restore app --to r.db 2>err &
	pid=$!
	sleep 0.$((RANDOM % 10))
	kill -TERM $pid 2>/dev/null || true
	rc=0
	wait $pid || rc=$?
	if [ $rc = 0 ]; then
		same_db app.db r.db   # finished before the signal
	else
		[ $rc = 143 ]
		[ ! -e r.db ]
	fi
	test_must_fail compgen -G ".r.db.dbgit-restore-*"
'

test_case "a stop signal after the checks, before the rename: exit 143, no target" '
	rm -f r.db
	paused checked
	compgen -G ".r.db.dbgit-restore-*" >/dev/null
	kill -TERM $pid
	rc=0
	wait $pid || rc=$?
	[ $rc = 143 ]
	[ ! -e r.db ]
	test_must_fail compgen -G ".r.db.dbgit-restore-*"
	grep -q "stopped by SIGTERM" err
'

test_case "a stop signal after the rename finds the restore done: exit 0, the target whole" '
	rm -f r.db
	paused renamed
	kill -TERM $pid
	rc=0
	wait $pid || rc=$?
	[ $rc = 0 ]
	same_db app.db r.db
	test_must_fail compgen -G ".r.db.dbgit-restore-*"
	grep -q "SIGTERM came after r.db was complete" err
	grep -q "restored app snapshot" err
	test_must_fail grep -q "stopped by" err
'

test_done
