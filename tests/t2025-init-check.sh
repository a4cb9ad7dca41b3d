#!/bin/bash
# t2025: init and check see what a syntax check cannot: a database, hooks
# folder, key or known_hosts that is not there, a key others can read, a
# local remote that is not a repository. check exits 1 naming each; init
# creates the repository all the same and warns, one line each.
. "$TEST_SRCDIR/lib/test-lib.sh"
# check connects to the remotes: libgit2's leaks on connect are suppressed
# in tests/lsan.supp, whose frames need the slow unwinder (as in sshd.sh).
export ASAN_OPTIONS="fast_unwind_on_malloc=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"

REPO=$T/backups.git
make_demo_db "$T/app.db"
ssh-keygen -q -t ed25519 -N "" -f "$T/key"
git init -q --bare "$T/remote.git"
good() {
	write_config "$T/dbgit.toml" "$REPO" "[hooks]" "dir = \"$T/hooks\"" "" \
		"[[remote]]" "name = \"nas\"" "url = \"$T/remote.git\"" "" \
		"[[remote]]" "name = \"gh\"" "url = \"ssh://git@127.0.0.1:2222/x.git\"" "ssh_key = \"$T/key\"" \
		"known_hosts = \"$T/known_hosts\"" "" \
		"[[job]]" "name = \"app\"" "engine = \"sqlite\"" "path = \"$T/$1\""
}
mkdir -p "$T/hooks"
touch "$T/known_hosts"

test_case "a sound configuration: init says nothing on stderr; check passes all but the host nobody serves" '
	good app.db
	expect_exit 0 "$DBGIT" --config dbgit.toml init
	test ! -s .stderr
	# Nothing listens on port 2222 here: check reaches remotes (t2026).
	expect_exit 1 "$DBGIT" --config dbgit.toml check
	grep -q "app: source ok" .stdout
	grep -q "remote nas: reached" .stdout
	grep -q "remote gh: key and known_hosts ok" .stdout
	stderr_has "check: remote gh: cannot connect to 127.0.0.1 port 2222"
	[ "$(wc -l <.stderr)" = 1 ]
'

test_case "each missing or unsafe piece is one line from check (exit 1) and a warning from init" '
	good missing.db
	rm -rf hooks remote.git known_hosts
	chmod 644 key
	expect_exit 1 "$DBGIT" --config dbgit.toml check
	stderr_has "$T/missing.db does not exist"
	stderr_has "[hooks] dir $T/hooks is not a directory"
	stderr_has "remote '\''nas'\'': $T/remote.git does not exist"
	stderr_has "remote '\''gh'\'': "
	stderr_has "ssh_key"
	[ "$(wc -l <.stderr)" = 4 ]
	chmod 600 key
	expect_exit 1 "$DBGIT" --config dbgit.toml check
	stderr_has "known_hosts $T/known_hosts"
	stderr_has "ssh-keyscan -t ed25519 -p 2222 127.0.0.1"
	mkdir -p remote.git
	expect_exit 1 "$DBGIT" --config dbgit.toml check
	stderr_has "$T/remote.git is not a git repository"
	rm -rf "$REPO"
	expect_exit 0 "$DBGIT" --config dbgit.toml init
	test -d "$REPO/objects"
	stderr_has "warning: job '\''app'\''"
	stderr_has "warning: [hooks] dir"
	stderr_has "4 problems above"
'

test_done
