#!/bin/bash
# t0803: a hook is someone else's program running inside a backup, and is
# fenced in: its stdout goes to dbgit's stderr (so `backup --json` stays
# JSON a script can parse), its stdin is /dev/null (what is piped into dbgit
# is not the hook's), it has [hooks] timeout seconds before its whole
# process group is killed and it counts as failed (one line naming it),
# and a hook file that cannot be run is warned about instead of ignored.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
tip() { git --git-dir="$REPO" rev-parse -q --verify "refs/heads/backup/$1" || echo none; }
# A process that is gone, or a zombie nobody has reaped yet (in a container
# whose init does not reap, a killed orphan stays one).
gone() { [ ! -e "/proc/$1" ] || grep -q "^$1 ([^)]*) Z" "/proc/$1/stat"; }

make_demo_db "$T/app.db"
mkdir -p "$T/hooks"
write_config "$T/dbgit.toml" "$REPO" "[hooks]" "dir = \"$T/hooks\"" "timeout = 2" '' \
	'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\""
dg init >/dev/null

hook() { # hook NAME BODY: an executable hook
	printf '#!/bin/sh\n%s\n' "$2" >"$T/hooks/$1"
	chmod +x "$T/hooks/$1"
}

test_case "a chatty hook does not spoil backup --json; it cannot read dbgit's stdin" '
	hook pre-backup "echo pre-backup says hello; echo \"[not json\"; cat >$T/pre-stdin"
	hook post-backup "echo post-backup done for \$DBGIT_JOB; read line; echo \"read:\$line\" >$T/post-stdin"
	echo "what the caller piped in" | expect_exit 0 dg backup --json
	python3 -m json.tool .stdout >parsed.json
	grep -q "\"status\": \"committed\"" parsed.json
	test_must_fail grep -q "hello" .stdout
	stderr_has "pre-backup says hello"
	stderr_has "post-backup done for app"
	test -e pre-stdin
	test ! -s pre-stdin
	[ "$(cat post-stdin)" = "read:" ]
	rm -f hooks/pre-backup hooks/post-backup
'

test_case "a hook over its time limit is killed with what it started; the job is skipped" '
	before=$(tip app)
	hook pre-backup "sleep 1000 & echo \$! >$T/sleep.pid; wait"
	start=$(date +%s)
	expect_exit 1 dg backup
	took=$(( $(date +%s) - start ))
	[ "$took" -lt 15 ]
	stderr_has "job '\''app'\'': skipped: hook $T/hooks/pre-backup timed out after 2 s ([hooks] timeout): killed"
	[ "$(wc -l <.stderr)" = 1 ]
	gone "$(cat sleep.pid)"
	[ "$(tip app)" = "$before" ]
	rm -f hooks/pre-backup
'

test_case "SIGTERM to dbgit while a hook runs stops the hook too, and exits 143" '
	before=$(tip app)
	write_config dbgit-long.toml "$REPO" "[hooks]" "dir = \"$T/hooks\"" "timeout = 300" "" \
		"[[job]]" "name = \"app\"" "engine = \"sqlite\"" "path = \"$T/app.db\""
	hook pre-backup "sleep 1000 & echo \$! >$T/long.pid; wait"
	rm -f long.pid
	"$DBGIT" --config dbgit-long.toml backup 2>long.err &
	pid=$!
	for _ in $(seq 100); do
		if [ -s long.pid ]; then break; fi
		sleep 0.1
	done
	test -s long.pid
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" = 143 ]
	for _ in $(seq 50); do
		if gone "$(cat long.pid)"; then break; fi
		sleep 0.1
	done
	gone "$(cat long.pid)"
	[ "$(tip app)" = "$before" ]
	rm -f hooks/pre-backup
'

test_case "a hook that ignores SIGTERM is killed all the same" '
	hook on-failure "trap \"\" TERM; echo \$\$ >$T/stubborn.pid; while :; do sleep 1; done"
	hook pre-backup "exit 3"
	start=$(date +%s)
	expect_exit 1 dg backup
	took=$(( $(date +%s) - start ))
	[ "$took" -lt 15 ]
	stderr_has "hook $T/hooks/pre-backup failed (exit 3)"
	stderr_has "hook $T/hooks/on-failure timed out after 2 s"
	gone "$(cat stubborn.pid)"
	rm -f hooks/pre-backup hooks/on-failure
'

test_case "a hook file that is not executable is warned about, one line, and not run" '
	hook post-backup "echo ran >$T/ran"
	chmod -x hooks/post-backup
	expect_exit 0 dg backup
	stderr_has "warning: hook $T/hooks/post-backup is not an executable file: not run"
	[ "$(wc -l <.stderr)" = 1 ]
	test ! -e ran
	chmod +x hooks/post-backup
	expect_exit 0 dg backup
	test -e ran
	test ! -s .stderr
	rm -f hooks/post-backup
'

test_case "[hooks] timeout = 0 is a configuration error naming the line" '
	write_config bad.toml "$REPO" "[hooks]" "dir = \"$T/hooks\"" "timeout = 0"
	expect_exit 2 "$DBGIT" --config bad.toml backup
	stderr_has "bad.toml:7:1: [hooks]: timeout must be at least 1 (seconds)"
'

test_done
