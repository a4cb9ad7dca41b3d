#!/bin/bash
# t0703: an application that commits in a tight loop, in WAL and in
# rollback-journal mode, with two CPU hogs beside it (a busy server). Every
# one of ten backups gets its read lock between two of the writer's
# transactions within busy_timeout, commits and verifies: SQLite's own busy
# handler sleeps in growing steps (up to 100 ms) and kept finding the lock
# taken, so 2-4 of 10 failed "locked by another writer beyond busy_timeout".
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
export DBGIT_CONFIG=$T/dbgit.toml
write_config "$DBGIT_CONFIG" "$REPO" \
	'[[job]]' 'name = "wal"' 'engine = "sqlite"' "path = \"$T/wal.db\"" 'format = "both"' '' \
	'[[job]]' 'name = "rollback"' 'engine = "sqlite"' "path = \"$T/rollback.db\"" 'format = "both"'
"$DBGIT" init >/dev/null

# The application: one short transaction after another, as fast as it can,
# until told to stop. Every transaction keeps sum(balance) at 100 * rows.
cat >"$T/writer.py" <<'PY'
import os, random, sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
n = 0
while not os.path.exists(sys.argv[2]):
    a, b = random.sample(range(1, 5001), 2)
    db.execute("BEGIN IMMEDIATE")
    db.execute("UPDATE accounts SET balance = balance - 3 WHERE id = ?", (a,))
    db.execute("UPDATE accounts SET balance = balance + 3 WHERE id = ?", (b,))
    db.execute("COMMIT")
    n += 1
    if n % 100 == 0:
        open(sys.argv[3], "w").write(str(n))
PY

for mode in wal rollback; do
	journal=WAL
	if [ $mode = rollback ]; then journal=DELETE; fi
	sqlite3 "$T/$mode.db" "PRAGMA journal_mode = $journal;
		CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL, pad TEXT);
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
		INSERT INTO accounts SELECT i, 100, hex(randomblob(40)) FROM n;" >/dev/null
done

for mode in wal rollback; do
	test_case "$mode mode: ten backups beside a tight-loop writer and two CPU hogs all commit" '
		rm -f stop progress
		yes >/dev/null &
		test_track_pid $!
		hog1=$!
		yes >/dev/null &
		test_track_pid $!
		hog2=$!
		python3 writer.py '$mode'.db stop progress &
		test_track_pid $!
		writer=$!
		for _ in $(seq 100); do [ -s progress ] && break; sleep 0.1; done
		[ -s progress ]
		failed=0
		for i in 1 2 3 4 5 6 7 8 9 10; do
			"$DBGIT" backup '$mode' --no-rotate 2>>errors || failed=$((failed + 1))
		done
		kill -0 $writer
		touch stop
		wait $writer
		kill $hog1 $hog2
		echo "writer: $(cat progress)+ transactions; backups failed: $failed"
		[ "$failed" = 0 ] || { cat errors; exit 1; }
		[ "$(git --git-dir="$REPO" rev-list --count backup/'$mode')" = 10 ]
		[ "$(cat progress)" -gt 100 ]
	'
	test_case "$mode mode: every snapshot verifies and holds one consistent moment" '
		expect_exit 0 "$DBGIT" verify '$mode' --all
		for rev in HEAD~9 HEAD~5 HEAD; do
			rm -f r.db
			expect_exit 0 "$DBGIT" restore '$mode' $rev --to r.db
			[ "$(sqlite3 r.db "SELECT sum(balance) FROM accounts")" = 500000 ]
		done
	'
done

test_done
