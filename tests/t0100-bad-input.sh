#!/bin/bash
# Bad input, as cron meets it: each failure is one line on stderr naming
# the thing at fault, the documented exit status, and nothing lost - the
# branch tip stays where it was and no snapshot is added.
. "$TEST_SRCDIR/lib/test-lib.sh"


REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
tip() { git --git-dir="$REPO" rev-parse -q --verify "refs/heads/backup/$1" || echo none; }
# one_line: the last command's stderr is exactly one line starting "dbgit".
one_line() {
	[ "$(wc -l <"$T/.stderr")" = 1 ] || { echo "stderr is not one line:" >&2; cat "$T/.stderr" >&2; return 1; }
	grep -q "^dbgit" "$T/.stderr" || { echo "stderr does not start with dbgit:" >&2; cat "$T/.stderr" >&2; return 1; }
}

make_demo_db "$T/app.db"
write_config "$T/dbgit.toml" "$REPO" \
	'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"" 'busy_timeout = 200' \
	'[[job]]' 'name = "other"' 'engine = "sqlite"' "path = \"$T/other.db\""
cp "$T/app.db" "$T/other.db"
dg init >/dev/null
dg backup >/dev/null
TIP_APP=$(tip app)
TIP_OTHER=$(tip other)
# unchanged: neither branch moved and no other ref appeared.
unchanged() {
	[ "$(tip app)" = "$TIP_APP" ] || { echo "backup/app moved" >&2; return 1; }
	[ "$(tip other)" = "$TIP_OTHER" ] || { echo "backup/other moved" >&2; return 1; }
	[ "$(git --git-dir="$REPO" for-each-ref | wc -l)" = 2 ] ||
		{ echo "refs appeared:" >&2; git --git-dir="$REPO" for-each-ref >&2; return 1; }
}

test_case "a missing database file: exit 1, named, nothing committed" '
	mv app.db app.db.away
	expect_exit 1 dg backup app
	stderr_has "$T/app.db does not exist"
	one_line
	mv app.db.away app.db
	unchanged
'

test_case "a file that is not SQLite: exit 1, \"not a SQLite database\"" '
	mv app.db app.db.away
	printf "name,email\nada,ada@example.org\n%.0s" $(seq 300) >app.db
	expect_exit 1 dg backup app
	stderr_has "$T/app.db is not a SQLite database"
	one_line
	rm app.db
	mv app.db.away app.db
	unchanged
'

test_case "a corrupt database: exit 1, named, nothing committed" '
	sqlite3 corrupt.db "CREATE TABLE t(id INTEGER PRIMARY KEY, x TEXT);
		WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 5000)
		INSERT INTO t SELECT i, hex(randomblob(100)) FROM s;"
	# Overwrite pages 20-29 (of about 260) with garbage.
	dd if=/dev/urandom of=corrupt.db bs=4096 seek=20 count=10 conv=notrunc 2>/dev/null
	cp dbgit.toml good.toml
	sed -i "s#$T/app.db#$T/corrupt.db#" dbgit.toml
	expect_exit 1 dg backup app
	cp good.toml dbgit.toml
	stderr_has "$T/corrupt.db"
	grep -Eq "corrupt|malformed" .stderr
	one_line
	unchanged
'

test_case "a database locked by a writer beyond busy_timeout: exit 1, \"locked\"" '
	python3 -c "
import sqlite3, time, sys
db = sqlite3.connect(\"app.db\", isolation_level=None)
db.execute(\"BEGIN EXCLUSIVE\")
db.execute(\"INSERT INTO plain VALUES (9, 9)\")
open(\"locked\", \"w\").close()
time.sleep(8)
" &
	holder=$!
	for _ in $(seq 50); do [ -e locked ] && break; sleep 0.1; done
	test -e locked
	start=$(date +%s)
	expect_exit 1 dg backup app
	took=$(( $(date +%s) - start ))
	kill $holder; wait $holder 2>/dev/null || true
	stderr_has "$T/app.db is locked"
	one_line
	# busy_timeout = 200 ms: it gave up long before the holder let go.
	[ "$took" -lt 6 ]
	unchanged
'

test_case "one failing job does not stop the others; exit 1" '
	mv app.db app.db.away
	expect_exit 1 dg backup
	mv app.db.away app.db
	stderr_has "app"
	[ "$(tip app)" = "$TIP_APP" ]
	[ "$(tip other)" != "$TIP_OTHER" ]
	git --git-dir="$REPO" update-ref refs/heads/backup/other "$TIP_OTHER"
	unchanged
'

test_case "an unknown job: exit 2, named, with the known ones" '
	expect_exit 2 dg backup nope
	stderr_has "unknown job '\''nope'\''"
	stderr_has "app, other"
	one_line
	expect_exit 2 dg list nope
	expect_exit 2 dg show nope
	expect_exit 2 dg restore nope --to x.db
	expect_exit 2 dg verify nope
	# A mix of known and unknown jobs backs up nothing.
	expect_exit 2 dg backup app nope
	unchanged
'

test_case "show with an unknown revision: exit 2, named" '
	expect_exit 2 dg show app no-such-rev
	stderr_has "no-such-rev"
	one_line
'

test_case "restore and verify with an unknown revision: exit 2, named" '
	expect_exit 2 dg restore app deadbeefdeadbeef --to x.db
	stderr_has "deadbeefdeadbeef"
	[ ! -e x.db ]
	expect_exit 2 dg verify app HEAD~5
	stderr_has "HEAD~5"
	# Another job'\''s snapshot is not a revision of this one.
	expect_exit 2 dg restore app "$TIP_OTHER" --to x.db
	stderr_has "not a snapshot on branch"
'

test_case "a repository path that is not a git repository: exit 2" '
	mkdir -p notrepo
	write_config bad.toml "$T/notrepo" "[[job]]" "name = \"app\"" "engine = \"sqlite\"" "path = \"$T/app.db\""
	expect_exit 2 "$DBGIT" --config bad.toml backup
	stderr_has "$T/notrepo is not a git repository"
	one_line
	expect_exit 2 "$DBGIT" --config bad.toml list
	write_config bad2.toml "$T/missing.git" "[[job]]" "name = \"app\"" "engine = \"sqlite\"" "path = \"$T/app.db\""
	expect_exit 2 "$DBGIT" --config bad2.toml backup
	stderr_has "$T/missing.git does not exist"
	[ ! -e missing.git ]
	[ -z "$(ls -A notrepo)" ]
'

test_case "configuration errors: exit 2 with file:line, nothing done" '
	write_config bad.toml "$REPO" "[[job]]" "name = \"app\"" "engine = \"sqlite\"" "pth = \"$T/app.db\""
	expect_exit 2 "$DBGIT" --config bad.toml backup
	stderr_has "bad.toml:8:"
	stderr_has "pth"
	one_line
	printf "[repository\npath = 1\n" >syntax.toml
	expect_exit 2 "$DBGIT" --config syntax.toml list
	stderr_has "syntax.toml"
	stderr_has "line 1"
	expect_exit 2 "$DBGIT" --config nowhere.toml list
	stderr_has "nowhere.toml"
	expect_exit 2 "$DBGIT" --config bad.toml init
	unchanged
'

test_case "a second dbgit while one holds the lock: exit 4" '
	flock "$REPO/dbgit.lock" sleep 5 &
	holder=$!
	sleep 0.5
	expect_exit 4 dg backup app
	kill $holder 2>/dev/null; wait $holder 2>/dev/null || true
	stderr_has "another dbgit"
	stderr_has "$REPO/dbgit.lock"
	one_line
	unchanged
	# Reading needs no lock.
	flock "$REPO/dbgit.lock" sleep 3 &
	holder=$!
	sleep 0.3
	expect_exit 0 dg list
	kill $holder 2>/dev/null; wait $holder 2>/dev/null || true
'

test_case "a ref lock left by a run killed mid-update does not block later runs" '
	flock "$REPO/dbgit.lock" true # the previous case'"'"'s holder may linger
	before=$(tip app)
	echo "$before" >"$REPO/refs/heads/backup/app.lock"
	touch -d "2 hours ago" "$REPO/refs/heads/backup/app.lock"
	sqlite3 app.db "INSERT INTO plain VALUES (77, 77)"
	dg backup app 2>err || { cat err; exit 1; }
	grep -q "removed a stale lock .*backup/app.lock" err || { echo "stderr:"; cat err; exit 1; }
	[ "$(tip app)" != "$before" ]
	[ ! -e "$REPO/refs/heads/backup/app.lock" ]
	# a fresh lock (another process right now) is left alone
	echo x >"$REPO/refs/heads/backup/app.lock"
	sqlite3 app.db "INSERT INTO plain VALUES (78, 78)"
	expect_exit 1 dg backup app
	[ -e "$REPO/refs/heads/backup/app.lock" ]
	rm "$REPO/refs/heads/backup/app.lock"
'
# That case moved backup/app on purpose.
TIP_APP=$(tip app)


# Root ignores file modes: make the repository read-only with a read-only
# bind mount (or chattr +i), or say why this case is skipped.
RO=
if [ "$(id -u)" != 0 ]; then
	if chmod -R a-w "$REPO"; then RO=chmod; fi
elif mount --bind -o ro "$REPO" "$REPO" 2>/dev/null; then
	RO=mount
fi
ro_undo() {
	if [ "$RO" = mount ]; then umount "$REPO"; fi
	if [ "$RO" = chmod ]; then chmod -R u+w "$REPO"; fi
	_test_cleanup
}
trap ro_undo EXIT
if [ -n "$RO" ]; then
	test_case "a read-only repository: backup fails clearly, reading still works ($RO)" '
		sqlite3 app.db "INSERT INTO plain VALUES (10, 10)"
		set +e; dg backup app >.stdout 2>.stderr; rc=$?; set -e
		echo "exit $rc"; cat .stderr
		[ "$rc" -ne 0 ]
		[ "$rc" -ne 4 ]
		grep -q "$REPO" .stderr
		grep -Eqi "read-only|permission" .stderr
		one_line
		unchanged
		expect_exit 0 dg list app
		expect_exit 0 dg restore app --to from-ro.db
		expect_exit 0 dg verify app
	'
else
	echo "ok - a read-only repository # SKIP cannot make the repository read-only as root here"
fi

test_done
