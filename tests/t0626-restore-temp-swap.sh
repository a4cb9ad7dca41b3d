#!/bin/bash
# A restore into a folder another user may write to (a shared project
# folder, not sticky like /tmp): that user swaps dbgit's temp file for a
# symlink to a file of their choice the moment it appears. The restore
# must not write through it (nor chmod/chown through it with --force): it
# fails (or was done first), the victim is untouched, and the target is
# never that symlink.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }

make_demo_db "$T/app.db"
write_config "$T/dbgit.toml" "$REPO" \
	'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"" '' \
	'[[job]]' 'name = "bin"' 'engine = "sqlite"' "path = \"$T/app.db\"" 'format = "binary"'
dg init >/dev/null
dg backup >/dev/null
mkdir -p "$T/shared"

# attack JOB [--force]: three tries, each with a fresh watcher.
attack() {
	local job=$1 i
	shift
	for i in 1 2 3; do
		# Empty: SQLite takes an empty file for a new database.
		: >"$T/victim"
		chmod 644 "$T/victim"
		rm -rf "$T/shared"
		mkdir "$T/shared"
		[ "$*" != --force ] || sqlite3 "$T/shared/out.db" "CREATE TABLE old(x)"
		python3 "$TEST_SRCDIR/lib/swap-temp.py" "$T/shared" "$T/victim" >"$T/watch.out" &
		watcher=$!
		for _ in $(seq 1 200); do
			[ ! -s "$T/watch.out" ] || break
			sleep 0.05
		done
		# Exit 1 when the swap came in time; 0 when the restore was
		# done before the watcher woke. Either way:
		rc=0
		dg restore "$job" --to "$T/shared/out.db" "$@" 2>"$T/.stderr" || rc=$?
		[ "$rc" -le 1 ]
		kill "$watcher" 2>/dev/null || :
		wait "$watcher" 2>/dev/null || :
		test_must_fail test -s "$T/victim"
		[ "$(stat -c %a "$T/victim")" = 644 ]
		test_must_fail test -L "$T/shared/out.db"
	done
}

test_case "SQL format: the swapped temp file is not written through" '
	attack app
'

test_case "binary format: the swapped temp file is not written through" '
	attack bin
'

test_case "--force over an existing database: nothing chmod-ed or written through the swap" '
	attack bin --force
	test -f "$T/shared/out.db"
'

test_case "a target folder reached through a symlink still works" '
	mkdir "$T/real"
	ln -s "$T/real" "$T/link"
	expect_exit 0 dg restore app --to "$T/link/x.db"
	expect_exit 0 dg restore bin --to "$T/link/y.db"
	same_db "$T/app.db" "$T/real/x.db"
	same_db "$T/app.db" "$T/real/y.db"
'

test_case "a scratch folder (TMPDIR) reached through a symlink still works" '
	mkdir "$T/realtmp"
	ln -s "$T/realtmp" "$T/linktmp"
	TMPDIR="$T/linktmp" expect_exit 0 dg verify app
	TMPDIR="$T/linktmp" expect_exit 0 dg verify bin
	[ -z "$(ls -A "$T/realtmp")" ]
'

test_done
