#!/bin/bash
# Restore targets (issue "Trust"): only a regular file is ever replaced,
# and only with --force; a symlink (dangling or not), a device, a FIFO or a
# directory is refused (exit 2, one line) and left as it was; a file that
# appears during the restore is not clobbered; the old database's -wal is
# kept until the rename succeeded; temp files of dead restores are swept;
# the replaced file's mode is kept.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }

make_demo_db "$T/app.db"
sqlite3 "$T/app.db" "CREATE TABLE big(id INTEGER PRIMARY KEY, t TEXT);
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 150000)
INSERT INTO big(t) SELECT hex(randomblob(60)) FROM s;"
write_config "$T/dbgit.toml" "$REPO" \
	'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\""
dg init >/dev/null
dg backup >/dev/null

one_line() { [ "$(wc -l <"$T/.stderr")" = 1 ]; }
no_temp() { [ -z "$(ls -a "$1" | grep -E "dbgit-restore")" ] || { ls -la "$1" >&2; return 1; }; }

test_case "a FIFO at the target is refused, even with --force, and stays a FIFO" '
	mkfifo fifo.db
	expect_exit 2 dg restore app --to fifo.db --force
	stderr_has "fifo.db is a FIFO"
	one_line
	test -p fifo.db
	no_temp .
'

test_case "a character device at the target is refused with --force (like /dev/null)" '
	if [ "$(id -u)" = 0 ] && mknod "$T/null" c 1 3 2>/dev/null; then
		dev=$T/null
	else
		dev=/dev/null # not ours to replace: a refusal leaves it alone
	fi
	expect_exit 2 dg restore app --to "$dev" --force
	stderr_has "is a character device"
	one_line
	test -c "$dev"
'

test_case "a dangling symlink is refused without --force and not followed" '
	ln -s "$T/elsewhere.db" dangling.db
	expect_exit 2 dg restore app --to dangling.db
	stderr_has "dangling.db is a symbolic link"
	one_line
	test -L dangling.db
	test_must_fail test -e "$T/elsewhere.db"
'

test_case "a symlink to a file is refused with --force; the file is untouched" '
	echo precious >real.db
	ln -s real.db link.db
	expect_exit 2 dg restore app --to link.db --force
	stderr_has "link.db is a symbolic link"
	test -L link.db
	[ "$(cat real.db)" = precious ]
'

test_case "a directory at the target is refused" '
	mkdir dir.db
	expect_exit 2 dg restore app --to dir.db --force
	stderr_has "dir.db is a directory"
'

test_case "a new target is created 0600; a replaced one keeps its mode" '
	expect_exit 0 dg restore app --to new.db
	[ "$(stat -c %a new.db)" = 600 ]
	same_db "$T/app.db" new.db
	echo old >shared.db
	chmod 640 shared.db
	expect_exit 0 dg restore app --to shared.db --force
	[ "$(stat -c %a shared.db)" = 640 ]
	same_db "$T/app.db" shared.db
'

test_case "with --force, the replaced database loses its stale -wal and -shm only after the rename" '
	echo old >wal.db
	echo stale >wal.db-wal
	echo stale >wal.db-shm
	expect_exit 0 dg restore app --to wal.db --force
	test_must_fail test -e wal.db-wal
	test_must_fail test -e wal.db-shm
	same_db "$T/app.db" wal.db
'

test_case "a file that appears during the restore is not clobbered, nor its -wal" '
	rm -f late.db late.db-wal
	(
		for _ in $(seq 1 2000); do
			if ls -a | grep -q "^\.late\.db\.dbgit-restore-"; then
				echo intruder >late.db-wal
				echo intruder >late.db
				exit 0
			fi
			sleep 0.005
		done
		exit 1
	) &
	watcher=$!
	expect_exit 2 dg restore app --to late.db
	wait $watcher
	stderr_has "late.db appeared during the restore"
	one_line
	[ "$(cat late.db)" = intruder ]
	[ "$(cat late.db-wal)" = intruder ]
	no_temp .
'

test_case "a failed restore keeps the old target and its -wal" '
	echo old >keep.db
	echo mine >keep.db-wal
	git --git-dir="$REPO" update-ref refs/heads/backup/app \
		"$(git --git-dir="$REPO" commit-tree -m broken -p backup/app \
			"$(printf "100644 blob %s\tMANIFEST.json\n100644 blob %s\t0-begin-000000.sql\n" \
				"$(git --git-dir="$REPO" rev-parse backup/app:MANIFEST.json)" \
				"$(echo "ATTACH 1;" | git --git-dir="$REPO" hash-object -w --stdin)" |
				git --git-dir="$REPO" mktree)")"
	expect_exit 1 dg restore app --to keep.db --force
	[ "$(cat keep.db)" = old ]
	[ "$(cat keep.db-wal)" = mine ]
	no_temp .
	git --git-dir="$REPO" update-ref refs/heads/backup/app backup/app~1
'

test_case "temp files of a dead restore into the same target are swept, a live one kept" '
	dead=$(sh -c "echo \$\$")
	: >".swept.db.dbgit-restore-$dead-abc123"
	: >".swept.db.dbgit-restore-$$-def456"
	: >".other.db.dbgit-restore-$dead-abc123"
	expect_exit 0 dg restore app --to swept.db
	test_must_fail test -e ".swept.db.dbgit-restore-$dead-abc123"
	test -e ".swept.db.dbgit-restore-$$-def456"
	test -e ".other.db.dbgit-restore-$dead-abc123"
	rm -f .*.dbgit-restore-*
'

test_done
