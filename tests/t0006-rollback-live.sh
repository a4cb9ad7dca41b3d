#!/bin/bash
# t0006: a rollback-journal (non-WAL) database backed up while the
# application keeps writing to it. A writer moves money between accounts
# in small transactions, so every consistent moment has the same total;
# every snapshot, SQL and binary, must show that total and verify.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }

python3 - "$T/bank.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("PRAGMA journal_mode = DELETE")
db.execute("CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)")
db.execute("CREATE TABLE moves(id INTEGER PRIMARY KEY, src INTEGER, dst INTEGER, amount INTEGER)")
db.executemany("INSERT INTO accounts VALUES (?, 100)", [(i,) for i in range(1, 2001)])
db.commit()
PY
write_config "$T/dbgit.toml" "$REPO" '[[job]]' 'name = "bank"' 'engine = "sqlite"' \
	"path = \"$T/bank.db\"" 'format = "both"' 'busy_timeout = 10000'
dg init >/dev/null

# The application: moves until told to stop, one short transaction each.
cat >"$T/writer.py" <<'PY'
import os, random, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
stop = sys.argv[2]
n = 0
while not os.path.exists(stop) and n < 200000:
    a, b = random.sample(range(1, 2001), 2)
    db.execute("BEGIN IMMEDIATE")
    db.execute("UPDATE accounts SET balance = balance - 7 WHERE id = ?", (a,))
    db.execute("INSERT INTO moves(src, dst, amount) VALUES (?, ?, 7)", (a, b))
    db.execute("UPDATE accounts SET balance = balance + 7 WHERE id = ?", (b,))
    db.execute("COMMIT")
    n += 1
print(n)
PY
python3 "$T/writer.py" "$T/bank.db" "$T/stop" >"$T/writer.out" 2>&1 &
test_track_pid $!
writer=$!
sleep 0.5

test_case "three backups while the writer runs all commit and verify" '
	for i in 1 2 3; do dg backup; sleep 0.3; done
	[ "$(git --git-dir="$REPO" rev-list --count backup/bank)" = 3 ]
	dg verify bank --all
'

touch "$T/stop"
wait "$writer" 2>/dev/null

test_case "the writer really wrote during the backups" '
	[ "$(cat writer.out)" -gt 50 ]
	[ "$(sqlite3 bank.db "SELECT journal_mode FROM pragma_journal_mode")" = delete ]
'

test_case "every snapshot, from SQL and from the binary copy, is one consistent moment" '
	for rev in HEAD~2 HEAD~1 HEAD; do
		for fmt in sql binary; do
			rm -f r.db
			dg restore bank $rev --format $fmt --to r.db 2>/dev/null
			[ "$(sqlite3 r.db "SELECT sum(balance) FROM accounts")" = 200000 ]
			moves=$(sqlite3 r.db "SELECT count(*) FROM moves")
			echo "$rev $fmt $moves" >>counts
		done
		# the SQL and binary copies of one snapshot hold the same moment
		[ "$(grep "^$rev " counts | cut -d" " -f3 | sort -u | wc -l)" = 1 ]
	done
	# and the moments differ: the writer moved on between backups
	[ "$(cut -d" " -f3 counts | sort -u | wc -l)" -ge 2 ]
'

test_done
