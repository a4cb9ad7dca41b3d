#!/bin/bash
# t2026: `dbgit check` reaches each remote as tonight's push would - the
# same key, the same host-key check, the same time limit - against a real
# sshd, writes nothing there, and names the remote in one line when it
# cannot: unknown host key, a key the server refuses, a repository that is
# not there, a host that does not answer. It also finds a repository this
# user cannot write, and only warns about a lock a running dbgit holds.
. "$TEST_SRCDIR/lib/test-lib.sh"
. "$TEST_SRCDIR/lib/sshd.sh"

REPO=$T/repo.git
REMOTE=$T/remote.git
start_sshd || exit 1
URL="ssh://root@127.0.0.1:$SSHD_PORT$REMOTE"
sshd_known_hosts "$T/known_hosts"
ssh-keygen -q -t ed25519 -N '' -f "$T/other_key"

# conf FILE [remote lines...]: one job, one remote "nas" with the lines given.
conf() {
	local file=$1
	shift
	write_config "$file" "$REPO" \
		'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"" '' \
		'[[remote]]' 'name = "nas"' "$@" 'timeout = 3'
}
good_remote() { conf "$T/dbgit.toml" "url = \"$URL\"" "ssh_key = \"$CLIENT_KEY\"" "known_hosts = \"$T/known_hosts\""; }
refs_of() { git -C "$1" for-each-ref --format='%(refname) %(objectname)'; }

make_demo_db "$T/app.db"
git init -q --bare "$REMOTE"
good_remote
"$DBGIT" --config "$T/dbgit.toml" init >/dev/null
"$DBGIT" --config "$T/dbgit.toml" backup --no-push >/dev/null

test_case "a good SSH remote: check logs in, lists its branches, writes nothing there or here" '
	good_remote
	refs_of "$REMOTE" >"$T/remote.before"
	refs_of "$REPO" >"$T/repo.before"
	expect_exit 0 "$DBGIT" --config "$T/dbgit.toml" check
	grep -q "remote nas: reached" .stdout
	grep -q "repository $REPO: ok (writable)" .stdout
	refs_of "$REMOTE" >"$T/remote.after"
	refs_of "$REPO" >"$T/repo.after"
	cmp "$T/remote.before" "$T/remote.after"
	cmp "$T/repo.before" "$T/repo.after"
	test -z "$(git -C "$REMOTE" rev-list --all)"
	test -z "$(find "$REPO/objects" -name "dbgit-check-*")"
	grep -q "Accepted publickey" "$SSHD_DIR/sshd.log"
'

test_case "check JOB also reaches the remotes (every job is pushed to every remote)" '
	good_remote
	expect_exit 0 "$DBGIT" --config "$T/dbgit.toml" check app
	grep -q "remote nas: reached" .stdout
'

test_case "an unknown host key: one line naming the remote and the fingerprint, exit 1" '
	: >"$T/empty_known_hosts"
	conf "$T/dbgit.toml" "url = \"$URL\"" "ssh_key = \"$CLIENT_KEY\"" "known_hosts = \"$T/empty_known_hosts\""
	expect_exit 1 "$DBGIT" --config "$T/dbgit.toml" check
	stderr_has "check: remote nas: unknown host key for [127.0.0.1]:$SSHD_PORT"
	stderr_has "$(sshd_fingerprint)"
	[ "$(wc -l <.stderr)" = 1 ]
	test ! -s "$T/empty_known_hosts"
'

test_case "a changed host key (another key recorded for the host) fails naming the remote" '
	echo "[127.0.0.1]:$SSHD_PORT $(cut -d" " -f1,2 "$T/other_key.pub")" >"$T/changed_known_hosts"
	conf "$T/dbgit.toml" "url = \"$URL\"" "ssh_key = \"$CLIENT_KEY\"" "known_hosts = \"$T/changed_known_hosts\""
	expect_exit 1 "$DBGIT" --config "$T/dbgit.toml" check
	stderr_has "check: remote nas: HOST KEY CHANGED"
'

test_case "a key the server refuses fails naming the remote and the key" '
	conf "$T/dbgit.toml" "url = \"$URL\"" "ssh_key = \"$T/other_key\"" "known_hosts = \"$T/known_hosts\""
	expect_exit 1 "$DBGIT" --config "$T/dbgit.toml" check
	stderr_has "check: remote nas: the server refused the key $T/other_key"
	[ "$(wc -l <.stderr)" = 1 ]
'

test_case "a repository path missing on the server fails naming the remote" '
	conf "$T/dbgit.toml" "url = \"ssh://root@127.0.0.1:$SSHD_PORT$T/nowhere.git\"" "ssh_key = \"$CLIENT_KEY\"" \
		"known_hosts = \"$T/known_hosts\""
	expect_exit 1 "$DBGIT" --config "$T/dbgit.toml" check
	stderr_has "check: remote nas: no usable repository $T/nowhere.git"
	test ! -e "$T/nowhere.git"
'

test_case "a host that does not answer fails within the timeout, naming the remote" '
	good_remote
	freeze_sshd
	start=$SECONDS
	expect_exit 1 "$DBGIT" --config "$T/dbgit.toml" check
	thaw_sshd
	stderr_has "check: remote nas: "
	stderr_has "did not answer"
	[ $((SECONDS - start)) -lt 20 ]
'

test_case "a local remote is reached too" '
	conf "$T/local.toml" "url = \"$REMOTE\""
	expect_exit 0 "$DBGIT" --config "$T/local.toml" check
	grep -q "remote nas: reached" .stdout
'

test_case "a repository this user cannot write: check fails naming it" '
	[ "$(id -u)" = 0 ] || { echo "t2026 needs root for runuser -u nobody" >&2; exit 1; }
	mkdir -p "$T/nb"
	chown nobody "$T/nb"
	chmod 755 "$T"
	chmod -R a+rX "$REPO" "$T/app.db"
	printf "[safe]\n\tdirectory = %s\n" "$REPO" >"$T/nb/.gitconfig"
	conf "$T/local.toml" "url = \"$REMOTE\""
	chmod a+r "$T/local.toml"
	expect_exit 1 runuser -u nobody -- env HOME="$T/nb" "$DBGIT" --config "$T/local.toml" check
	stderr_has "repository $REPO is not writable: cannot create a file in $REPO/objects"
	chmod 700 "$T"
'

test_case "a lock held by a running dbgit is a warning, not a failure" '
	good_remote
	flock "$REPO/dbgit.lock" sleep 30 &
	holder=$!
	for _ in $(seq 1 50); do flock -n "$REPO/dbgit.lock" true || break; sleep 0.1; done
	expect_exit 0 "$DBGIT" --config "$T/dbgit.toml" check
	kill $holder
	stderr_has "warning: repository $REPO: another dbgit holds its lock"
'

test_done
