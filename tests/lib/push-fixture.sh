# push-fixture.sh: what the push tests share. Source after test-lib.sh and
# sshd.sh. Names the local repository, the remote and the branch, and gives:
#   job_with_remote FILE [lines...]  a config: job "app" ($T/app.db) and one
#                                    [[remote]] made of the lines
#   push_fixture_init                the demo database backed up by
#                                    $T/local.toml (not pushed); an empty
#                                    bare $REMOTE
#   snapshot                         a change, then a backup, not pushed
#   local_tip / remote_tip           the branch's tip here and on $REMOTE
REPO=$T/repo.git
REMOTE=$T/remote.git
KH=$T/known_hosts
BRANCH=refs/heads/backup/app

job_with_remote() {
	local file=$1
	shift
	write_config "$file" "$REPO" \
		'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"" '' \
		'[[remote]]' "$@"
}
local_tip() { git -C "$REPO" rev-parse "$BRANCH"; }
remote_tip() { git -C "$REMOTE" rev-parse --verify -q "$BRANCH"; }
snapshot() {
	sqlite3 "$T/app.db" "INSERT INTO plain VALUES ($RANDOM, 'row $RANDOM')"
	"$DBGIT" --config "$T/local.toml" backup --no-push >/dev/null
}
push_fixture_init() {
	make_demo_db "$T/app.db"
	write_config "$T/local.toml" "$REPO" '[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\""
	"$DBGIT" --config "$T/local.toml" init >/dev/null
	git init -q --bare "$REMOTE"
}
