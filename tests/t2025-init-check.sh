#!/bin/bash
# t2025: init and check see what a syntax check cannot: a database, hooks
# folder, key or known_hosts that is not there, a key others can read, a
# local remote that is not a repository. check exits 1 naming each; init
# creates the repository all the same and warns, one line each.
. "$TEST_SRCDIR/lib/test-lib.sh"

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

test_case "a sound configuration: init says nothing on stderr, check passes" '
	good app.db
	expect_exit 0 "$DBGIT" --config dbgit.toml init
	test ! -s .stderr
	expect_exit 0 "$DBGIT" --config dbgit.toml check
	grep -q "app: source ok" .stdout
	grep -q "remote nas" .stdout
	grep -q "remote gh" .stdout
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
