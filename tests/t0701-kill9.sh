#!/bin/bash
# t0701: SIGKILL (the OOM killer, a power switch for the process) cannot be
# caught, so a killed run leaves its scratch copies in $TMPDIR and libgit2's
# temp files in the repository. The next run removes those whose owner is
# gone - and nothing that belongs to a live process or to someone else.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
BRANCH=refs/heads/backup/app
export TMPDIR=$T/tmp
mkdir -p "$TMPDIR"
make_rows_db "$T/app.db" 50000
write_config "$T/dbgit.toml" "$REPO" '[[job]]' 'name = "app"' 'engine = "sqlite"' \
	"path = \"$T/app.db\"" 'format = "both"'
export DBGIT_CONFIG=$T/dbgit.toml
"$DBGIT" init >/dev/null
"$DBGIT" backup >/dev/null

# A pid that no process has: one that just exited.
dead_pid() { sh -c 'echo $$'; }

test_case "kill -9 at random moments, then one good run sweeps every leftover" '
	for i in 1 2 3 4 5 6 7 8; do
		sqlite3 app.db "UPDATE t SET v = v || $i WHERE id % 53 = $i"
		"$DBGIT" backup >/dev/null 2>&1 &
		pid=$!
		sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
		kill -9 $pid 2>/dev/null || true
		wait $pid || true
	done
	echo "left by the killed runs: $(ls "$TMPDIR" | wc -l) scratch dirs"
	# What a kill inside libgit2 leaves (its window is too short to hit
	# at random): a loose object and a pack being written.
	dead=$(dead_pid)
	echo half >"$REPO/objects/tmp_object_git2_a1B2c3"
	mkdir -p "$REPO/objects/pack"
	echo half >"$REPO/objects/pack/pack_git2_d4E5f6"
	printf "%s\n" "$dead" >"$REPO/dbgit.lock"
	mkdir "$TMPDIR/dbgit-verify-$dead-Xy12Ab"
	echo copy >"$TMPDIR/dbgit-verify-$dead-Xy12Ab/restored-sql.db"
	# Not to be touched: a live dbgit'"'"'s scratch, and names dbgit does not make.
	sleep 300 &
	live=$!
	test_track_pid $live
	mkdir "$TMPDIR/dbgit-verify-$live-Zz99Zz" "$TMPDIR/dbgit-notes" "$TMPDIR/other-$dead-Xy12Ab"

	sqlite3 app.db "UPDATE t SET v = v || 9 WHERE id = 1"
	expect_exit 0 "$DBGIT" -v backup
	[ "$(ls "$TMPDIR" | sort | tr "\n" " ")" = "dbgit-notes dbgit-verify-$live-Zz99Zz other-$dead-Xy12Ab " ]
	[ -z "$(compgen -G "$REPO/objects/tmp_object_git2_*")" ]
	[ -z "$(compgen -G "$REPO/objects/pack/pack_git2_*")" ]
	stderr_has "removed a stale temp file $REPO/objects/tmp_object_git2_a1B2c3"
	stderr_has "(pid $dead)"
	git --git-dir="$REPO" fsck --full --no-progress
	expect_exit 0 "$DBGIT" verify app
	kill $live
'

test_case "a fresh temp file in the repository is left alone while its writer may live" '
	# A clean exit empties dbgit.lock: nothing says a writer died, so only
	# age decides.
	echo half >"$REPO/objects/tmp_object_git2_Fresh1"
	echo half >"$REPO/objects/tmp_object_git2_Old123"
	touch -d "5 minutes ago" "$REPO/objects/tmp_object_git2_Old123"
	sqlite3 app.db "UPDATE t SET v = v || 8 WHERE id = 1"
	expect_exit 0 "$DBGIT" backup
	[ -e "$REPO/objects/tmp_object_git2_Fresh1" ]
	[ ! -e "$REPO/objects/tmp_object_git2_Old123" ]
	rm "$REPO/objects/tmp_object_git2_Fresh1"
'

test_done
