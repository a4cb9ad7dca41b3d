#!/bin/bash
# t3022: pushing to a git-shell account, as on a self-hosted git server: a
# real user whose login shell is git-shell, with its own authorized_keys.
# What the server refuses - a read-only refs/, a repository that is not
# there, a repository the account cannot write - is reported in the
# server's terms, exit 5, and not retried as if it were the network.

. "$TEST_SRCDIR/lib/test-lib.sh"
. "$TEST_SRCDIR/lib/sshd.sh"

# CI and the quick start run as root with git and passwd installed: a missing
# piece is a broken machine, not a reason to pass.
if ! command -v useradd >/dev/null || [ ! -x /usr/bin/git-shell ] || [ "$(id -u)" != 0 ]; then
	echo "t3022 needs root, useradd and git-shell" >&2
	exit 1
fi

REPO=$T/repo.git
BRANCH=refs/heads/backup/app
GSUSER="dbgitgs$$"
GSUSER=${GSUSER:0:31}
# The account's files live outside $T, which only root may enter.
GSDIR=$(mktemp -d /tmp/dbgit-t3022.XXXXXX)
chmod 755 "$GSDIR"
# The account goes at exit, whatever happened (-f: sshd may still hold a
# session of it).
trap '_sshd_stop_all; userdel -f "$GSUSER" >/dev/null 2>&1; rm -rf "$GSDIR"; _test_cleanup' EXIT
useradd -M -d "$GSDIR/home" -s /usr/bin/git-shell -U "$GSUSER" || exit 1
usermod -p '*' "$GSUSER" # no password, but not "locked" for sshd
mkdir -p "$GSDIR/home/.ssh"
ssh-keygen -q -t ed25519 -N '' -C "dbgit-test-git-shell" -f "$T/gs_key"
cp "$T/gs_key.pub" "$GSDIR/home/.ssh/authorized_keys"
chmod 700 "$GSDIR/home/.ssh"
chmod 600 "$GSDIR/home/.ssh/authorized_keys"
chown -R "$GSUSER:$GSUSER" "$GSDIR/home"

start_sshd || exit 1
sshd_reconfigure "$(printf 'Match User %s\n\tAuthorizedKeysFile %s' "$GSUSER" "$GSDIR/home/.ssh/authorized_keys")" || exit 1
sshd_known_hosts "$T/known_hosts"

# remote FILE REPO [lines...]: one job, one remote: the git-shell account.
remote() {
	local file=$1 path=$2
	shift 2
	write_config "$file" "$REPO" \
		'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"" '' \
		'[[remote]]' 'name = "gitbox"' "url = \"ssh://$GSUSER@127.0.0.1:$SSHD_PORT$path\"" \
		"ssh_key = \"$T/gs_key\"" "known_hosts = \"$T/known_hosts\"" 'retries = 3' 'timeout = 5' "$@"
}
gsrepo() { # a bare repository the account owns
	git init -q --bare "$1"
	chown -R "$GSUSER:$GSUSER" "$1"
}
local_tip() { git -C "$REPO" rev-parse "$BRANCH"; }
tip_of() { git -C "$1" rev-parse --verify -q "$BRANCH"; }
lease() { git -C "$REPO" rev-parse --verify -q refs/dbgit/remotes/gitbox/backup/app; }
snapshot() {
	sqlite3 "$T/app.db" "INSERT INTO plain VALUES ($RANDOM, 'row $RANDOM')"
	"$DBGIT" --config "$T/local.toml" backup --no-push >/dev/null
}

# Our own git, as root, looks into the account's repositories.
git config --global --add safe.directory '*'
make_demo_db "$T/app.db"
write_config "$T/local.toml" "$REPO" '[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\""
"$DBGIT" --config "$T/local.toml" init >/dev/null
gsrepo "$GSDIR/backups.git"
remote "$T/gitbox.toml" "$GSDIR/backups.git"

test_case "a push to a git-shell account works" '
	snapshot
	expect_exit 0 "$DBGIT" --config "$T/gitbox.toml" push
	[ "$(tip_of "$GSDIR/backups.git")" = "$(local_tip)" ]
	[ "$(lease)" = "$(local_tip)" ]
	git -C "$GSDIR/backups.git" fsck --full --no-progress
	# The login really is git-shell: no command runs there.
	test_must_fail ssh -i "$T/gs_key" -o IdentitiesOnly=yes -o BatchMode=yes \
		-o UserKnownHostsFile="$T/known_hosts" -p "$SSHD_PORT" "$GSUSER@127.0.0.1" true 2>/dev/null
'

test_case "a read-only refs/ on the server is a permission refusal (exit 5), not a branch moved by someone else" '
	chmod -R a-w "$GSDIR/backups.git/refs"
	trap "chmod -R u+w \"$GSDIR/backups.git/refs\"" EXIT
	old=$(tip_of "$GSDIR/backups.git")
	old_lease=$(lease)
	snapshot
	start=$SECONDS
	expect_exit 5 "$DBGIT" --config "$T/gitbox.toml" push
	stderr_has "remote gitbox: the server cannot update branch backup/app: permission denied"
	test_must_fail grep -q "moved by someone else" "$T/.stderr"
	test_must_fail grep -q "use --force" "$T/.stderr"
	test_must_fail grep -q "retrying" "$T/.stderr"
	[ $((SECONDS - start)) -lt 3 ]
	[ "$(tip_of "$GSDIR/backups.git")" = "$old" ]
	[ "$(lease)" = "$old_lease" ]
	chmod -R u+w "$GSDIR/backups.git/refs"
	expect_exit 0 "$DBGIT" --config "$T/gitbox.toml" push
	[ "$(tip_of "$GSDIR/backups.git")" = "$(local_tip)" ]
'

test_case "a missing remote repository is exit 5 at once, not retried with backoff, one line" '
	remote "$T/missing.toml" "$GSDIR/no-such.git"
	start=$SECONDS
	expect_exit 5 "$DBGIT" --config "$T/missing.toml" push
	took=$((SECONDS - start))
	echo "took $took s (3 attempts with backoff would take 3 s or more)"
	[ "$took" -lt 3 ]
	stderr_has "remote gitbox: no usable repository $GSDIR/no-such.git on 127.0.0.1"
	stderr_has "does not appear to be a git repository"
	test_must_fail grep -q "retrying" "$T/.stderr"
	[ "$(wc -l <"$T/.stderr")" = 1 ]
	sqlite3 "$T/app.db" "INSERT INTO plain VALUES ($RANDOM, '"'"'missing'"'"')"
	expect_exit 5 "$DBGIT" --config "$T/missing.toml" backup
	stderr_has "does not appear to be a git repository"
	[ ! -e "$GSDIR/no-such.git" ]
'

test_case "a repository whose objects the account may read but not write is a permission refusal (exit 5)" '
	gsrepo "$GSDIR/roots.git"
	chown -R root:root "$GSDIR/roots.git/objects"   # 0755: read, not write
	remote "$T/roots.toml" "$GSDIR/roots.git"
	snapshot
	start=$SECONDS
	expect_exit 5 "$DBGIT" --config "$T/roots.toml" push
	stderr_has "remote gitbox: the server could not store the objects sent"
	stderr_has "check the repository'"'"'s permissions and free space on the server"
	test_must_fail grep -q "retrying" "$T/.stderr"
	[ $((SECONDS - start)) -lt 3 ]
	[ -z "$(tip_of "$GSDIR/roots.git")" ]
	git -C "$GSDIR/roots.git" fsck --full --no-progress
'

test_case "a repository the account does not own is refused by the server (exit 5, its words)" '
	git init -q --bare "$GSDIR/foreign.git"   # root'"'"'s: git refuses dubious ownership
	remote "$T/foreign.toml" "$GSDIR/foreign.git"
	start=$SECONDS
	expect_exit 5 "$DBGIT" --config "$T/foreign.toml" push
	stderr_has "remote gitbox: no usable repository $GSDIR/foreign.git on 127.0.0.1: fatal: detected dubious ownership"
	test_must_fail grep -q "retrying" "$T/.stderr"
	[ $((SECONDS - start)) -lt 3 ]
'

test_done
