#!/bin/bash
# t0008: a backup or restore stopped by a signal (cron's timeout, an
# operator's Ctrl-C) leaves no copy of the database in the temp directory,
# no half-written restore target, and the branch where it was.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
export TMPDIR=$T/tmp
mkdir -p "$TMPDIR"
make_rows_db "$T/app.db" 300000
write_config "$T/dbgit.toml" "$REPO" '[[job]]' 'name = "app"' 'engine = "sqlite"' \
	"path = \"$T/app.db\"" 'format = "both"'
"$DBGIT" --config "$T/dbgit.toml" init >/dev/null
"$DBGIT" --config "$T/dbgit.toml" backup
first=$(git --git-dir="$REPO" rev-parse backup/app)
sqlite3 "$T/app.db" "UPDATE t SET v = 'changed' WHERE id % 1000 = 0"

# wait_for GLOB: until a path matching GLOB exists (at most ~20 s).
wait_for() {
	for _ in $(seq 1 200); do
		compgen -G "$1" >/dev/null && return 0
		sleep 0.1
	done
	return 1
}

for sig in TERM INT HUP; do
	test_case "SIG$sig during a backup removes its scratch data and moves nothing" '
		"$DBGIT" --config dbgit.toml backup &
		pid=$!
		wait_for "$TMPDIR/dbgit-*"
		kill -'$sig' $pid
		wait $pid && exit 1
		[ -z "$(ls -A "$TMPDIR")" ]
		[ "$(git --git-dir="$REPO" rev-parse backup/app)" = "$first" ]
	'
done

test_case "SIGTERM during a restore leaves neither target nor temp file" '
	"$DBGIT" --config dbgit.toml restore app --format sql --to out.db &
	pid=$!
	wait_for "$T/.out.db.dbgit-restore-*"
	kill -TERM $pid
	wait $pid && exit 1
	[ ! -e out.db ]
	[ -z "$(compgen -G "$T/out.db*")$(compgen -G "$T/.out.db*")" ]
'

test_done
