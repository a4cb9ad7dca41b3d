#!/bin/bash
# t7200: a push larger than [remote] max_push_size goes out in steps, the
# oldest snapshots first, each step's pack under the limit, the lease
# recorded at each step so that a push cut short resumes where it was; and
# `push -v` reports the bytes really sent (libgit2's local transport says
# nothing true, and the SSH one only at the end). Against a local remote
# and the real sshd; the remote is checked with git fsck.
. "$TEST_SRCDIR/lib/test-lib.sh"
. "$TEST_SRCDIR/lib/sshd.sh"

REPO=$T/repo.git
BRANCH=refs/heads/backup/app
start_sshd || exit 1
sshd_known_hosts "$T/known_hosts"

# conf FILE URL [lines...]
conf() {
	local file=$1 url=$2
	shift 2
	write_config "$file" "$REPO" \
		'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"" '' \
		'[[remote]]' 'name = "nas"' "url = \"$url\"" "ssh_key = \"$CLIENT_KEY\"" \
		"known_hosts = \"$T/known_hosts\"" 'timeout = 10' "$@"
}
tip() { git -C "$1" rev-parse --verify -q "$BRANCH"; }
lease() { git -C "$REPO" rev-parse --verify -q refs/dbgit/remotes/nas/backup/app; }
# sent_bytes: the byte counts of each "sent N objects, B bytes" line.
sent_bytes() { sed -n 's/.*sent [0-9]* objects, \([0-9]*\) bytes.*/\1/p' "$T/.stderr"; }

# Six snapshots of about 660 KB of new text each (random hex: it
# compresses to about half, so each one's pack is some 340 KB; a snapshot also
# rewrites the last chunk before, up to 1 MiB: 2000K holds any one).
sqlite3 "$T/app.db" "CREATE TABLE doc(id INTEGER PRIMARY KEY, body TEXT)"
conf "$T/dbgit.toml" "$T/unused.git"
"$DBGIT" --config "$T/dbgit.toml" init 2>/dev/null >/dev/null
for i in 1 2 3 4 5 6; do
	sqlite3 "$T/app.db" "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 80)
		INSERT INTO doc(body) SELECT hex(randomblob(4096)) FROM c"
	"$DBGIT" --config "$T/dbgit.toml" backup --no-push >/dev/null
done
[ "$(git -C "$REPO" rev-list --count "$BRANCH")" = 6 ] || exit 1

test_case "a first push under the limit goes in one step; -v tells the bytes of the pack it sent" '
	git init -q --bare "$T/one.git"
	conf "$T/one.toml" "$T/one.git"
	expect_exit 0 "$DBGIT" --config "$T/one.toml" -v push
	test_must_fail grep -q "step" .stderr
	[ "$(tip "$T/one.git")" = "$(tip "$REPO")" ]
	git -C "$T/one.git" fsck --full
	bytes=$(sent_bytes)
	packs=$(cat "$T"/one.git/objects/pack/*.pack | wc -c)
	[ "$bytes" = "$packs" ]
	[ "$bytes" -gt 500000 ]
'

test_case "a first push over max_push_size goes out in steps, each pack under it, oldest first" '
	git init -q --bare "$T/steps.git"
	conf "$T/steps.toml" "$T/steps.git" "max_push_size = \"2000K\""
	expect_exit 0 "$DBGIT" --config "$T/steps.toml" -v push
	stderr_has "backup/app (new).."
	stderr_has "(step 1: "
	stderr_has "(step 2: "
	test_must_fail grep -q "more than max_push_size" .stderr
	[ "$(tip "$T/steps.git")" = "$(tip "$REPO")" ]
	[ "$(lease)" = "$(tip "$REPO")" ]
	git -C "$T/steps.git" fsck --full
	# One pack per step, each under the limit, together more than it.
	n=$(sent_bytes | wc -l)
	[ "$n" -ge 3 ]
	[ "$(ls "$T"/steps.git/objects/pack/*.pack | wc -l)" = "$n" ]
	for p in "$T"/steps.git/objects/pack/*.pack; do [ "$(wc -c <"$p")" -lt 2048000 ]; done
	[ "$(cat "$T"/steps.git/objects/pack/*.pack | wc -c)" -gt 2048000 ]
	for b in $(sent_bytes); do [ "$b" -gt 100000 ]; [ "$b" -lt 2048000 ]; done
	test -z "$(git -C "$REPO" for-each-ref refs/dbgit/push-step)"
'

test_case "over SSH: the same steps, the tip right, fsck clean, each step sent under the limit" '
	git init -q --bare "$T/ssh.git"
	git -C "$REPO" update-ref -d refs/dbgit/remotes/nas/backup/app
	conf "$T/ssh.toml" "ssh://root@127.0.0.1:$SSHD_PORT$T/ssh.git" "max_push_size = \"2000K\""
	expect_exit 0 "$DBGIT" --config "$T/ssh.toml" -v push
	stderr_has "(step 1: "
	stderr_has "(step 2: "
	[ "$(tip "$T/ssh.git")" = "$(tip "$REPO")" ]
	[ "$(lease)" = "$(tip "$REPO")" ]
	git -C "$T/ssh.git" fsck --full
	[ "$(sent_bytes | wc -l)" -ge 3 ]
	for b in $(sent_bytes); do [ "$b" -gt 100000 ]; [ "$b" -lt 2048000 ]; done
'

test_case "a stepped push cut short keeps the lease at the step the remote has, and resumes from it" '
	git init -q --bare "$T/cut.git"
	# The remote (its receive-pack, over SSH) takes the first push and
	# refuses the next.
	cat >"$T/cut.git/hooks/pre-receive" <<-EOF
		#!/bin/sh
		if [ -e "$T/cut.once" ]; then echo "not now" >&2; exit 1; fi
		touch "$T/cut.once"
	EOF
	chmod +x "$T/cut.git/hooks/pre-receive"
	git -C "$REPO" update-ref -d refs/dbgit/remotes/nas/backup/app
	conf "$T/cut.toml" "ssh://root@127.0.0.1:$SSHD_PORT$T/cut.git" "max_push_size = \"2000K\"" "retries = 1"
	expect_exit 3 "$DBGIT" --config "$T/cut.toml" push
	step1=$(tip "$T/cut.git")
	[ "$step1" != "$(tip "$REPO")" ]
	git -C "$REPO" merge-base --is-ancestor "$step1" "$BRANCH"
	[ "$(lease)" = "$step1" ]
	rm "$T/cut.git/hooks/pre-receive"
	expect_exit 0 "$DBGIT" --config "$T/cut.toml" -v push
	stderr_has "backup/app ${step1:0:7}.."
	test_must_fail grep -q "(new)" .stderr
	[ "$(tip "$T/cut.git")" = "$(tip "$REPO")" ]
	[ "$(lease)" = "$(tip "$REPO")" ]
	git -C "$T/cut.git" fsck --full
'

test_case "over SSH, push -v reports the bytes of the whole pack, not its first write" '
	git init -q --bare "$T/ssh1.git"
	git -C "$REPO" update-ref -d refs/dbgit/remotes/nas/backup/app
	conf "$T/ssh1.toml" "ssh://root@127.0.0.1:$SSHD_PORT$T/ssh1.git"
	expect_exit 0 "$DBGIT" --config "$T/ssh1.toml" -v push
	[ "$(sent_bytes)" -gt 500000 ]
	[ "$(tip "$T/ssh1.git")" = "$(tip "$REPO")" ]
'

test_done
