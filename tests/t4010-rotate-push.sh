#!/bin/bash
# t4010: nightly backups with a retention policy and a remote over SSH, as
# cron runs them. Each night's rotation rewrites the branch; the remote
# receives the rewritten branch under the lease, a clone of it matches the
# local branch commit for commit, and the dropped snapshots' space is given
# back locally in the same run.
. "$TEST_SRCDIR/lib/test-lib.sh"
. "$TEST_SRCDIR/lib/sshd.sh"

REPO=$T/repo.git
REMOTE=$T/remote.git
KH=$T/known_hosts
BRANCH=refs/heads/backup/app

start_sshd || exit 1
sshd_known_hosts "$KH"
git init -q --bare "$REMOTE"
sqlite3 "$T/app.db" "CREATE TABLE nights(n INTEGER PRIMARY KEY, note TEXT);"
write_config "$T/dbgit.toml" "$REPO" \
	'[keep]' 'last = 2' '' \
	'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"" '' \
	'[[remote]]' 'name = "origin"' "url = \"ssh://root@127.0.0.1:$SSHD_PORT$REMOTE\"" \
	"ssh_key = \"$CLIENT_KEY\"" "known_hosts = \"$KH\"" 'retries = 1' 'timeout = 10'
"$DBGIT" --config "$T/dbgit.toml" init >/dev/null

# night N: a night's change, then the cron line with the clock at that night.
night() {
	sqlite3 "$T/app.db" "INSERT INTO nights VALUES ($1, 'night $1 ' || hex(randomblob(2000)))"
	DBGIT_NOW="2026-03-0$1T03:00:00Z" "$DBGIT" --config "$T/dbgit.toml" backup
}

test_case "three nights with last = 2: two snapshots remain, here and on the remote" '
	night 1
	n1_blob=$(git --git-dir="$REPO" rev-parse "$BRANCH:1-table/nights/1-rows-000000.sql")
	night 2
	night 3
	[ "$(git --git-dir="$REPO" rev-list --count "$BRANCH")" = 2 ]
	[ "$(git -C "$REMOTE" rev-parse "$BRANCH")" = "$(git --git-dir="$REPO" rev-parse "$BRANCH")" ]
	[ "$(git --git-dir="$REPO" rev-parse refs/dbgit/remotes/origin/backup/app)" = "$(git --git-dir="$REPO" rev-parse "$BRANCH")" ]
	git --git-dir="$REPO" log --format=%ad --date=iso-strict "$BRANCH" >dates
	grep -q "2026-03-03T03:00:00" dates
	grep -q "2026-03-02T03:00:00" dates
	test_must_fail grep -q "2026-03-01" dates
	# night 1 only: its rows blob is gone from the local repository
	test_must_fail git --git-dir="$REPO" cat-file -e "$n1_blob"
	git --git-dir="$REPO" fsck --full --strict
'

test_case "a clone of the remote matches the local branch and restores the newest night" '
	ssh_git clone -q --bare --branch backup/app "ssh://root@127.0.0.1:$SSHD_PORT$REMOTE" "$T/clone.git"
	git --git-dir="$T/clone.git" fsck --full --strict
	[ "$(git --git-dir="$T/clone.git" rev-list backup/app)" = "$(git --git-dir="$REPO" rev-list "$BRANCH")" ]
	mkdir snap
	git --git-dir="$T/clone.git" archive backup/app | tar -x -C snap
	(cd snap && find . -name "*.sql" | LC_ALL=C sort | xargs cat) | sqlite3 from-clone.db
	same_db "$T/app.db" from-clone.db
	[ "$(sqlite3 from-clone.db "SELECT count(*) FROM nights")" = 3 ]
'

test_case "status says the remote is in sync after the rewrite" '
	"$DBGIT" --config "$T/dbgit.toml" status >st.txt
	grep -q "app: 2 snapshots" st.txt
	grep -q "remote origin: in sync" st.txt
'

test_done
