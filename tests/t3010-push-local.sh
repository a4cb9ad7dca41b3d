#!/bin/bash
# t3010: pushing to remotes on this machine (a path, file://), to several
# remotes at once, and the lease that guards rewritten branches.

. "$TEST_SRCDIR/lib/test-lib.sh"
# For its LeakSanitizer suppressions of libgit2's own leaks; no server here.
. "$TEST_SRCDIR/lib/sshd.sh"

REPO=$T/repo.git
BRANCH=refs/heads/backup/app

# config FILE TOML-lines...: two jobs and whatever remotes the lines give.
config() {
	local file=$1
	shift
	write_config "$file" "$REPO" \
		'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"" '' \
		'[[job]]' 'name = "crm"' 'engine = "sqlite"' "path = \"$T/crm.db\"" '' "$@"
}
tip() { git -C "$1" rev-parse --verify -q "${2:-$BRANCH}"; }
lease() { git -C "$REPO" rev-parse --verify -q "refs/dbgit/remotes/$1/${2:-backup/app}"; }
snapshot() {
	sqlite3 "$T/app.db" "INSERT INTO plain VALUES ($RANDOM, 'row $RANDOM')"
	"$DBGIT" --config "$T/local.toml" backup --no-push "$@" >/dev/null
}

make_demo_db "$T/app.db"
sqlite3 "$T/crm.db" "CREATE TABLE c(id INTEGER PRIMARY KEY, n TEXT); INSERT INTO c VALUES (1, 'x');"
config "$T/local.toml"
"$DBGIT" --config "$T/local.toml" init >/dev/null
"$DBGIT" --config "$T/local.toml" backup --no-push >/dev/null
git init -q --bare "$T/by-path.git"
git init -q --bare "$T/by-url.git"
config "$T/path.toml" '[[remote]]' 'name = "nas"' "url = \"$T/by-path.git\""
config "$T/two.toml" \
	'[[remote]]' 'name = "nas"' "url = \"$T/by-path.git\"" '' \
	'[[remote]]' 'name = "disk"' "url = \"file://$T/by-url.git\""

test_case "push to a remote given as a path sends every job branch" '
	expect_exit 0 "$DBGIT" --config "$T/path.toml" push
	[ "$(tip "$T/by-path.git")" = "$(tip "$REPO")" ]
	[ "$(tip "$T/by-path.git" refs/heads/backup/crm)" = "$(tip "$REPO" refs/heads/backup/crm)" ]
	[ "$(lease nas)" = "$(tip "$REPO")" ]
	[ "$(lease nas backup/crm)" = "$(tip "$REPO" refs/heads/backup/crm)" ]
	# No remote is written into the repository configuration.
	[ -z "$(git -C "$REPO" config --get-regexp "^remote\." || true)" ]
'

test_case "push JOB pushes only that job" '
	snapshot
	sqlite3 "$T/crm.db" "INSERT INTO c VALUES (2, '"'"'y'"'"')"
	"$DBGIT" --config "$T/local.toml" backup --no-push crm >/dev/null
	expect_exit 0 "$DBGIT" --config "$T/path.toml" push crm
	[ "$(tip "$T/by-path.git" refs/heads/backup/crm)" = "$(tip "$REPO" refs/heads/backup/crm)" ]
	[ "$(tip "$T/by-path.git")" != "$(tip "$REPO")" ]
	expect_exit 2 "$DBGIT" --config "$T/path.toml" push nosuchjob
	stderr_has "nosuchjob"
'

test_case "two remotes at once: a path and a file:// URL both get the branches" '
	expect_exit 0 "$DBGIT" --config "$T/two.toml" push
	[ "$(tip "$T/by-path.git")" = "$(tip "$REPO")" ]
	[ "$(tip "$T/by-url.git")" = "$(tip "$REPO")" ]
	[ "$(lease disk)" = "$(tip "$REPO")" ]
	git -C "$T/by-url.git" fsck --no-progress
'

test_case "a missing remote repository does not stop the others; exit 5 names it, not retried" '
	config "$T/broken.toml" \
		'"'"'[[remote]]'"'"' '"'"'name = "gone"'"'"' "url = \"$T/no-such-dir/x.git\"" '"'"'retries = 2'"'"' "" \
		'"'"'[[remote]]'"'"' '"'"'name = "nas"'"'"' "url = \"$T/by-path.git\""
	snapshot
	expect_exit 5 "$DBGIT" --config "$T/broken.toml" push
	stderr_has "remote gone: no git repository at $T/no-such-dir/x.git"
	test_must_fail grep -q "retrying in" "$T/.stderr"
	[ "$(tip "$T/by-path.git")" = "$(tip "$REPO")" ]
	[ -z "$(lease gone)" ]
'

test_case "dbgit backup pushes to every remote and exits 5, like push, when one is missing" '
	sqlite3 "$T/app.db" "INSERT INTO plain VALUES (7, '"'"'seven'"'"')"
	expect_exit 5 "$DBGIT" --config "$T/broken.toml" backup app
	[ "$(tip "$T/by-path.git")" = "$(tip "$REPO")" ]
	sqlite3 "$T/app.db" "INSERT INTO plain VALUES (8, '"'"'eight'"'"')"
	expect_exit 0 "$DBGIT" --config "$T/two.toml" backup app
	[ "$(tip "$T/by-path.git")" = "$(tip "$REPO")" ]
	[ "$(tip "$T/by-url.git")" = "$(tip "$REPO")" ]
'

test_case "a rewritten branch replaces the remote one while the remote holds the lease" '
	snapshot
	snapshot
	expect_exit 0 "$DBGIT" --config "$T/path.toml" push app
	old=$(tip "$REPO")
	new=$(git -C "$REPO" commit-tree "$old^{tree}" -p "$old~2" -m "$(git -C "$REPO" log -1 --format=%B "$old")")
	git -C "$REPO" update-ref "$BRANCH" "$new" "$old"
	expect_exit 0 "$DBGIT" --config "$T/path.toml" push app
	[ "$(tip "$T/by-path.git")" = "$new" ]
	[ "$(lease nas)" = "$new" ]
'

test_case "a remote branch moved by someone else is not overwritten; --force does" '
	git clone -q --branch backup/app "$T/by-path.git" "$T/someone"
	git -C "$T/someone" commit -q --allow-empty -m "someone else"
	git -C "$T/someone" push -q origin HEAD:backup/app
	theirs=$(git -C "$T/someone" rev-parse HEAD)
	snapshot
	expect_exit 5 "$DBGIT" --config "$T/path.toml" push app
	stderr_has "remote nas: branch backup/app was moved by someone else (remote has ${theirs:0:7}, dbgit last pushed $(lease nas | cut -c1-7)); not overwriting; use --force"
	[ "$(tip "$T/by-path.git")" = "$theirs" ]
	# A rewrite here does not make it ours either.
	old=$(tip "$REPO")
	new=$(git -C "$REPO" commit-tree "$old^{tree}" -p "$old~1" -m rewritten)
	git -C "$REPO" update-ref "$BRANCH" "$new" "$old"
	expect_exit 5 "$DBGIT" --config "$T/path.toml" push app
	[ "$(tip "$T/by-path.git")" = "$theirs" ]
	expect_exit 0 "$DBGIT" --config "$T/path.toml" push app --force
	[ "$(tip "$T/by-path.git")" = "$new" ]
	[ "$(lease nas)" = "$new" ]
'

test_case "a branch on a remote that dbgit never pushed is not overwritten" '
	git init -q --bare "$T/foreign.git"
	git clone -q "$T/foreign.git" "$T/foreign" 2>/dev/null
	git -C "$T/foreign" commit -q --allow-empty -m "theirs"
	git -C "$T/foreign" push -q origin HEAD:backup/app
	config "$T/foreign.toml" '"'"'[[remote]]'"'"' '"'"'name = "foreign"'"'"' "url = \"$T/foreign.git\""
	expect_exit 5 "$DBGIT" --config "$T/foreign.toml" push app
	stderr_has "which dbgit never pushed"
	[ "$(tip "$T/foreign.git")" = "$(git -C "$T/foreign" rev-parse HEAD)" ]
'

test_case "status tells whether each remote has the newest snapshot" '
	expect_exit 0 "$DBGIT" --config "$T/path.toml" push
	snapshot
	expect_exit 0 "$DBGIT" --config "$T/path.toml" status
	grep -q "nas" "$T/.stdout"
	expect_exit 0 "$DBGIT" --config "$T/path.toml" push
	expect_exit 0 "$DBGIT" --config "$T/path.toml" status --json
	grep -q "\"nas\"" "$T/.stdout"
'

test_case "no remotes configured: push says so and succeeds" '
	expect_exit 0 "$DBGIT" --config "$T/local.toml" push
	stderr_has "nothing to push to"
'

test_done
