#!/bin/bash
# t3030: a push over SSH is thin (issue 10). The remote has the previous
# version of every chunk (its tip says so), so a chunk that changed a
# little travels as a small delta against it, not whole; the real sshd and
# git-receive-pack complete the pack (--fix-thin) and the remote stays a
# repository git fsck --strict accepts, that clones and restores. Refusals
# (a branch moved by someone else, a pre-receive hook) read as before.
. "$TEST_SRCDIR/lib/test-lib.sh"
. "$TEST_SRCDIR/lib/sshd.sh"
. "$TEST_SRCDIR/lib/push-fixture.sh"

start_sshd || exit 1
sshd_known_hosts "$KH"
URL="ssh://root@127.0.0.1:$SSHD_PORT$REMOTE"

# One table of some 200 KB of SQL text: one chunk. Random hex compresses
# to about half, so the chunk is over 50 KB deflated. The chunker cuts
# where a line's hash says, so the "random" rows come from a fixed seed:
# the same single chunk every run (the seeds 20001.. make one).
hexrow() { python3 -c "import random; print(random.Random($1).randbytes(60).hex())"; }
python3 -c "
import random
print('CREATE TABLE doc(id INTEGER PRIMARY KEY, body TEXT);')
print('BEGIN;')
for i in range(1, 1401):
    print(\"INSERT INTO doc VALUES(%d, '%s');\" % (i, random.Random(20000 + i).randbytes(60).hex()))
print('COMMIT;')" | sqlite3 "$T/app.db"
# And one of three chunks (285178, 46965 and 100750 bytes with these seeds).
python3 -c "
import random
print('CREATE TABLE log(id INTEGER PRIMARY KEY, body TEXT);')
print('BEGIN;')
for i in range(1, 2801):
    print(\"INSERT INTO log VALUES(%d, '%s');\" % (i, random.Random(220000 + i).randbytes(60).hex()))
print('COMMIT;')" | sqlite3 "$T/app.db"
job_with_remote "$T/origin.toml" 'name = "origin"' "url = \"$URL\"" "ssh_key = \"$CLIENT_KEY\"" \
	"known_hosts = \"$KH\"" 'retries = 1' 'timeout = 10'
"$DBGIT" --config "$T/origin.toml" init >/dev/null 2>&1
git init -q --bare "$REMOTE"
# Keep every push as its own pack, completed by index-pack --fix-thin.
git -C "$REMOTE" config receive.unpackLimit 1

night() {
	sqlite3 "$T/app.db" "UPDATE doc SET body = '$(hexrow $((100000 + $1)))' WHERE id = $1"
	"$DBGIT" --config "$T/origin.toml" backup --no-push >/dev/null
}
push_v() { "$DBGIT" --config "$T/origin.toml" -v push; }
# sent_bytes: the bytes of the last "sent N objects, B bytes" line.
sent_bytes() { sed -n 's/.*sent [0-9]* objects, \([0-9]*\) bytes.*/\1/p' "$T/.stderr" | tail -1; }
chunk() { git -C "$REPO" rev-parse "$BRANCH:1-table/doc/1-rows-000000.sql"; }
lease() { git -C "$REPO" rev-parse --verify -q refs/dbgit/remotes/origin/backup/app; }

test_case "the first push sends the whole chunk: over 50 KB" '
	"$DBGIT" --config "$T/origin.toml" backup --no-push >/dev/null
	[ "$(git -C "$REPO" ls-tree --name-only "$BRANCH:1-table/doc" | wc -l)" = 2 ]
	[ "$(git -C "$REPO" cat-file -s "$(chunk)")" -gt 150000 ]
	expect_exit 0 push_v
	first=$(sent_bytes)
	echo "first push: $first bytes"
	[ "$first" -gt 50000 ]
	[ "$(remote_tip)" = "$(local_tip)" ]
	git -C "$REMOTE" fsck --full --strict --no-progress
'

test_case "a night that changed one row sends under 10 KB, and the remote is whole" '
	old=$(chunk)
	night 700
	new=$(chunk)
	[ "$old" != "$new" ]
	expect_exit 0 push_v
	bytes=$(sent_bytes)
	echo "one changed row: $bytes bytes"
	[ "$bytes" -lt 10240 ]
	[ "$(remote_tip)" = "$(local_tip)" ]
	[ "$(lease)" = "$(local_tip)" ]
	git -C "$REMOTE" fsck --full --strict --no-progress
	git -C "$REMOTE" cat-file -e "$old"
	git -C "$REMOTE" cat-file -e "$new"
	git -C "$REMOTE" cat-file blob "$new" | cmp - <(git -C "$REPO" cat-file blob "$new")
'

test_case "a chunk renamed because a boundary went away goes as a delta against its old version" '
	[ "$(git -C "$REPO" ls-tree --name-only "$BRANCH:1-table/log" | wc -l)" = 4 ]
	# Every row of the middle chunk deleted: the last chunk becomes
	# 1-rows-000001, the name the middle one had; one of its rows changed.
	mid=$(git -C "$REPO" cat-file blob "$BRANCH:1-table/log/1-rows-000001.sql")
	first=$(echo "$mid" | head -1 | sed "s/.*VALUES(\([0-9]*\),.*/\1/")
	last=$(echo "$mid" | tail -1 | sed "s/.*VALUES(\([0-9]*\),.*/\1/")
	old=$(git -C "$REPO" rev-parse "$BRANCH:1-table/log/1-rows-000002.sql")
	sqlite3 "$T/app.db" "DELETE FROM log WHERE id BETWEEN $first AND $last;
		UPDATE log SET body = '"'"'$(hexrow 7)'"'"' WHERE id = $((last + 100))"
	"$DBGIT" --config "$T/origin.toml" backup --no-push >/dev/null
	[ "$(git -C "$REPO" ls-tree --name-only "$BRANCH:1-table/log" | wc -l)" = 3 ]
	new=$(git -C "$REPO" rev-parse "$BRANCH:1-table/log/1-rows-000001.sql")
	[ "$(git -C "$REPO" cat-file -s "$new")" -gt 90000 ]
	git -C "$REPO" diff --no-index --numstat <(git -C "$REPO" cat-file blob "$old") \
		<(git -C "$REPO" cat-file blob "$new") | grep -q "^1	1	"
	expect_exit 0 push_v
	bytes=$(sent_bytes)
	echo "renamed chunk: $bytes bytes"
	[ "$bytes" -lt 10240 ]
	[ "$(remote_tip)" = "$(local_tip)" ]
	git -C "$REMOTE" fsck --full --strict --no-progress
'

test_case "a clone of the remote restores the database with dbgit" '
	git clone -q --bare "$REMOTE" "$T/clone.git"
	write_config "$T/clone.toml" "$T/clone.git" "[[job]]" "name = \"app\"" "engine = \"sqlite\"" \
		"path = \"$T/app.db\""
	expect_exit 0 "$DBGIT" --config "$T/clone.toml" restore app --to "$T/restored.db"
	same_db "$T/app.db" "$T/restored.db"
'

test_case "three nights pushed at once go thin too, each version on the remote" '
	before=$(local_tip)
	night 10
	c1=$(chunk)
	night 500
	c2=$(chunk)
	night 1300
	c3=$(chunk)
	[ "$(git -C "$REPO" rev-list --count "$before..$BRANCH")" = 3 ]
	expect_exit 0 push_v
	bytes=$(sent_bytes)
	echo "three nights: $bytes bytes"
	[ "$bytes" -lt 20480 ]
	[ "$(remote_tip)" = "$(local_tip)" ]
	git -C "$REMOTE" fsck --full --strict --no-progress
	for b in "$c1" "$c2" "$c3"; do git -C "$REMOTE" cat-file -e "$b"; done
	ssh_git clone -q --branch backup/app "$URL" "$T/clone3"
	[ "$(git -C "$T/clone3" rev-parse HEAD)" = "$(local_tip)" ]
'

test_case "a rotation that made a new root commit pushes thin: its tree is compared with the remote tip" '
	# Keep only the newest snapshot, as a retention policy may: its tree
	# in a parentless commit, then one more night on top.
	tip=$(local_tip)
	root=$(GIT_AUTHOR_DATE="$(git -C "$REPO" log -1 --format=%ad "$tip")" \
		git -C "$REPO" commit-tree "$tip^{tree}" -m "$(git -C "$REPO" log -1 --format=%B "$tip")")
	git -C "$REPO" update-ref "$BRANCH" "$root" "$tip"
	night 900
	expect_exit 0 push_v
	stderr_has "(rewritten history, lease held)"
	bytes=$(sent_bytes)
	echo "rotated: $bytes bytes"
	[ "$bytes" -lt 10240 ]
	[ "$(remote_tip)" = "$(local_tip)" ]
	[ "$(git -C "$REMOTE" rev-list --count "$BRANCH")" = 2 ]
	git -C "$REMOTE" fsck --full --strict --no-progress
'

test_case "a remote that unpacks small pushes into loose objects (git's default) completes the thin pack too" '
	git -C "$REMOTE" config --unset receive.unpackLimit
	old=$(chunk)
	night 42
	expect_exit 0 push_v
	bytes=$(sent_bytes)
	echo "unpacked: $bytes bytes"
	[ "$bytes" -lt 10240 ]
	git -C "$REMOTE" cat-file -e "$(chunk)"
	git -C "$REMOTE" cat-file -e "$old"
	git -C "$REMOTE" fsck --full --strict --no-progress
	git -C "$REMOTE" config receive.unpackLimit 1
'

test_case "a branch the server pre-receive hook declines is reported, the lease kept" '
	printf "#!/bin/sh\necho \"no backups tonight\" >&2\nexit 1\n" >"$REMOTE/hooks/pre-receive"
	chmod +x "$REMOTE/hooks/pre-receive"
	was=$(remote_tip)
	night 20
	expect_exit 3 "$DBGIT" --config "$T/origin.toml" -v -v push
	stderr_has "the server rejected branch backup/app: pre-receive hook declined"
	stderr_has "remote: no backups tonight"
	[ "$(remote_tip)" = "$was" ]
	[ "$(lease)" = "$was" ]
	rm "$REMOTE/hooks/pre-receive"
	expect_exit 0 push_v
	[ "$(remote_tip)" = "$(local_tip)" ]
	git -C "$REMOTE" fsck --full --strict --no-progress
'

test_case "a remote someone else moved (a tip not in this repository) is still refused" '
	git clone -q --branch backup/app "$REMOTE" "$T/other"
	git -C "$T/other" -c user.name=o -c user.email=o@example.invalid commit -q --allow-empty -m "not dbgit"
	git -C "$T/other" push -q origin HEAD:backup/app
	theirs=$(remote_tip)
	git -C "$REPO" cat-file -e "$theirs" 2>/dev/null && exit 1
	night 30
	expect_exit 5 "$DBGIT" --config "$T/origin.toml" push
	stderr_has "branch backup/app was moved by someone else (remote has ${theirs:0:7}, dbgit last pushed"
	[ "$(remote_tip)" = "$theirs" ]
'

test_done
