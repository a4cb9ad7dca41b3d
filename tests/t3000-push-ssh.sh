#!/bin/bash
# t3000: pushing snapshots over SSH to a real OpenSSH server - host keys,
# keys, leases, a server that dies or hangs - and restoring from the remote
# with nothing but git and sqlite3.

. "$TEST_SRCDIR/lib/test-lib.sh"
. "$TEST_SRCDIR/lib/sshd.sh"
. "$TEST_SRCDIR/lib/push-fixture.sh"

start_sshd || exit 1
URL="ssh://root@127.0.0.1:$SSHD_PORT$REMOTE"

# config FILE [TOML lines for the [[remote]]...]: one job, one remote named
# origin at $URL unless the lines say otherwise.
config() { job_with_remote "$@"; }
# The usual remote: our key, our known_hosts, one attempt, short timeout.
origin() {
	config "$1" 'name = "origin"' "url = \"${2:-$URL}\"" "ssh_key = \"$CLIENT_KEY\"" \
		"known_hosts = \"$KH\"" 'retries = 1' 'timeout = 5' "${@:3}"
}
push() { "$DBGIT" --config "$@"; }
lease() { git -C "$REPO" rev-parse --verify -q refs/dbgit/remotes/origin/backup/app; }

push_fixture_init
# Keep every push as its own pack on the remote, so a test can count what
# travelled.
git -C "$REMOTE" config receive.unpackLimit 1
origin "$T/origin.toml"

test_case "an unknown host key is refused, naming its SHA256 fingerprint and how to add it" '
	snapshot
	expect_exit 5 push "$T/origin.toml" push
	stderr_has "unknown host key for [127.0.0.1]:$SSHD_PORT"
	stderr_has "$(sshd_fingerprint)"
	stderr_has "ssh-keyscan -p $SSHD_PORT 127.0.0.1 >> $KH"
	[ -z "$(remote_tip)" ]
	[ -z "$(lease)" ]
'

test_case "the first push over ssh:// sends the branch and records the lease" '
	sshd_known_hosts "$KH"
	expect_exit 0 push "$T/origin.toml" push
	[ "$(remote_tip)" = "$(local_tip)" ]
	[ "$(lease)" = "$(local_tip)" ]
	git -C "$REMOTE" fsck --no-progress
'

test_case "pushing again with nothing new changes nothing" '
	before=$(ls "$REMOTE/objects/pack" | wc -l)
	expect_exit 0 push "$T/origin.toml" push
	[ "$(ls "$REMOTE/objects/pack" | wc -l)" = "$before" ]
'

test_case "an incremental push sends only the objects the remote lacks" '
	old=$(local_tip)
	ls "$REMOTE"/objects/pack/*.idx | sort >"$T/packs.before"
	snapshot
	new=$(local_tip)
	want=$(git -C "$REPO" rev-list --objects "$old..$new" | wc -l)
	all=$(git -C "$REPO" rev-list --objects "$new" | wc -l)
	expect_exit 0 push "$T/origin.toml" push
	[ "$(remote_tip)" = "$new" ]
	ls "$REMOTE"/objects/pack/*.idx | sort >"$T/packs.after"
	idx=$(comm -13 "$T/packs.before" "$T/packs.after")
	[ "$(echo "$idx" | wc -l)" = 1 ]
	sent=$(git show-index <"$idx" | wc -l)
	echo "sent $sent objects, $want new, $all in the snapshot"
	[ "$sent" = "$want" ]
	[ "$sent" -lt "$all" ]
'

test_case "a clone of the remote with git restores the latest snapshot with sqlite3" '
	ssh_git clone -q --branch backup/app "$URL" "$T/clone"
	mkdir "$T/restore"
	git -C "$T/clone" archive HEAD | tar -x -C "$T/restore"
	[ -f "$T/restore/MANIFEST.json" ]
	(cd "$T/restore" && find . -type f -name "*.sql" | LC_ALL=C sort | xargs cat) | sqlite3 "$T/restored.db"
	same_db "$T/app.db" "$T/restored.db"
'

test_case "accept-new records an unknown host key, and strict accepts it from then on" '
	config "$T/accept.toml" "name = \"origin\"" "url = \"$URL\"" "ssh_key = \"$CLIENT_KEY\"" \
		"known_hosts = \"$T/kh-new/known_hosts\"" "host_key_policy = \"accept-new\"" "retries = 1"
	config "$T/strict.toml" "name = \"origin\"" "url = \"$URL\"" "ssh_key = \"$CLIENT_KEY\"" \
		"known_hosts = \"$T/kh-new/known_hosts\"" "retries = 1"
	snapshot
	expect_exit 0 push "$T/accept.toml" push
	stderr_has "added the host key of [127.0.0.1]:$SSHD_PORT"
	stderr_has "$(sshd_fingerprint)"
	[ "$(remote_tip)" = "$(local_tip)" ]
	# OpenSSH reads what dbgit wrote.
	ssh-keygen -F "[127.0.0.1]:$SSHD_PORT" -f "$T/kh-new/known_hosts" | grep -q ssh-ed25519
	[ "$(grep -c . "$T/kh-new/known_hosts")" = 1 ]
	snapshot
	expect_exit 0 push "$T/strict.toml" push
	[ "$(remote_tip)" = "$(local_tip)" ]
	[ "$(grep -c . "$T/kh-new/known_hosts")" = 1 ]
'

test_case "accept-new does not silently add a key type for a host known by another type" '
	mkdir -p "$T/kh-other"
	ssh-keygen -q -t rsa -b 2048 -N "" -f "$T/other_rsa"
	echo "[127.0.0.1]:$SSHD_PORT $(cut -d" " -f1,2 "$T/other_rsa.pub")" >"$T/kh-other/known_hosts"
	config "$T/other.toml" "name = \"origin\"" "url = \"$URL\"" "ssh_key = \"$CLIENT_KEY\"" \
		"known_hosts = \"$T/kh-other/known_hosts\"" "host_key_policy = \"accept-new\"" "retries = 1"
	before=$(remote_tip)
	snapshot
	expect_exit 5 push "$T/other.toml" push
	stderr_has "holds a key of another type for it"
	stderr_has "not adding a second one automatically"
	stderr_has "$(sshd_fingerprint)"
	[ "$(grep -c . "$T/kh-other/known_hosts")" = 1 ]
	[ "$(remote_tip)" = "$before" ]
'

test_case "a key the server does not accept is refused with a clear error, at once" '
	ssh-keygen -q -t ed25519 -N "" -f "$T/stranger_key"
	config "$T/stranger.toml" "name = \"origin\"" "url = \"$URL\"" "ssh_key = \"$T/stranger_key\"" \
		"known_hosts = \"$KH\"" "retries = 3"
	snapshot
	start=$SECONDS
	expect_exit 5 push "$T/stranger.toml" push
	stderr_has "remote origin: the server refused the key $T/stranger_key"
	[ $((SECONDS - start)) -lt 3 ]   # not retried
	[ "$(remote_tip)" != "$(local_tip)" ]
'

test_case "a key with a passphrase works with passphrase_env and never shows the passphrase" '
	ssh-keygen -q -t ed25519 -N "s3cret-words" -f "$T/locked_key"
	cat "$T/locked_key.pub" >>"$SSHD_DIR/authorized_keys"
	config "$T/locked.toml" "name = \"origin\"" "url = \"$URL\"" "ssh_key = \"$T/locked_key\"" \
		"passphrase_env = \"TEST_KEY_PASS\"" "known_hosts = \"$KH\"" "retries = 1"
	expect_exit 2 env -u TEST_KEY_PASS "$DBGIT" --config "$T/locked.toml" push
	stderr_has "passphrase_env names TEST_KEY_PASS, which is not set"
	TEST_KEY_PASS=wrong-words expect_exit 5 "$DBGIT" --config "$T/locked.toml" push
	stderr_has "$T/locked_key"
	test_must_fail grep -q wrong-words "$T/.stderr"
	TEST_KEY_PASS=s3cret-words expect_exit 0 "$DBGIT" -v --config "$T/locked.toml" push
	test_must_fail grep -q s3cret "$T/.stderr"
	[ "$(remote_tip)" = "$(local_tip)" ]
'

test_case "a server that is down fails the push with exit 3; the next run completes" '
	snapshot
	stop_sshd
	expect_exit 3 push "$T/origin.toml" push
	stderr_has "remote origin: cannot connect to 127.0.0.1 port $SSHD_PORT"
	[ "$(remote_tip)" != "$(local_tip)" ]
	start_sshd "$SSHD_PORT"
	expect_exit 0 push "$T/origin.toml" push
	[ "$(remote_tip)" = "$(local_tip)" ]
	[ "$(lease)" = "$(local_tip)" ]
'

test_case "a connection that dies in the middle of a push fails with exit 3 and is retried next run" '
	# The server side drops the connection after the pack arrived: the
	# pre-receive hook kills the sshd process serving this session.
	cat >"$REMOTE/hooks/pre-receive" <<-\EOF
	#!/bin/sh
	cat >/dev/null
	p=$PPID
	while [ "$p" -gt 1 ] && [ "$(cat /proc/$p/comm)" != sshd ]; do
		p=$(awk "{print \$4}" /proc/$p/stat)
	done
	if [ "$p" -gt 1 ]; then kill -9 "$p"; fi
	exit 1
	EOF
	chmod +x "$REMOTE/hooks/pre-receive"
	trap "rm -f \"$REMOTE/hooks/pre-receive\"" EXIT
	snapshot
	old_lease=$(lease)
	config "$T/retry.toml" "name = \"origin\"" "url = \"$URL\"" "ssh_key = \"$CLIENT_KEY\"" \
		"known_hosts = \"$KH\"" "retries = 2" "timeout = 5"
	expect_exit 3 push "$T/retry.toml" push
	stderr_has "retrying in 1 s (attempt 2 of 2)"
	stderr_has "gave up after 2 attempts"
	[ "$(lease)" = "$old_lease" ]
	[ "$(remote_tip)" != "$(local_tip)" ]
	rm "$REMOTE/hooks/pre-receive"
	expect_exit 0 push "$T/origin.toml" push
	[ "$(remote_tip)" = "$(local_tip)" ]
	[ "$(lease)" = "$(local_tip)" ]
'

test_case "a server that hangs does not hang dbgit: timeout, exit 3, then success once it answers" '
	trap thaw_sshd EXIT
	config "$T/hang.toml" "name = \"origin\"" "url = \"$URL\"" "ssh_key = \"$CLIENT_KEY\"" \
		"known_hosts = \"$KH\"" "retries = 1" "timeout = 2"
	snapshot
	freeze_sshd
	start=$SECONDS
	expect_exit 3 push "$T/hang.toml" push
	took=$((SECONDS - start))
	echo "gave up after $took s"
	[ "$took" -lt 15 ]
	stderr_has "did not answer for 2 s"
	thaw_sshd
	expect_exit 0 push "$T/hang.toml" push
	[ "$(remote_tip)" = "$(local_tip)" ]
'

test_case "a branch someone else moved on the remote is not overwritten, unless --force" '
	# Someone else pushes their own commit onto the branch with real git.
	rm -rf "$T/other"
	ssh_git clone -q --branch backup/app "$URL" "$T/other"
	git -C "$T/other" commit -q --allow-empty -m "not dbgit"
	ssh_git -C "$T/other" push -q origin HEAD:backup/app
	theirs=$(git -C "$T/other" rev-parse HEAD)
	snapshot
	expect_exit 5 push "$T/origin.toml" push
	stderr_has "remote origin: branch backup/app was moved by someone else (remote has ${theirs:0:7}, dbgit last pushed $(lease | cut -c1-7)); not overwriting; use --force"
	[ "$(remote_tip)" = "$theirs" ]
	expect_exit 0 push "$T/origin.toml" push --force
	[ "$(remote_tip)" = "$(local_tip)" ]
	[ "$(lease)" = "$(local_tip)" ]
'

test_case "a rewritten branch (rotation) replaces the remote one while the remote holds the lease" '
	snapshot
	snapshot
	expect_exit 0 push "$T/origin.toml" push
	# Drop the middle snapshot, as a retention policy would: rewrite the tip
	# onto its grandparent with the same tree, message and dates.
	tip=$(local_tip)
	new=$(GIT_AUTHOR_DATE="$(git -C "$REPO" log -1 --format=%ad "$tip")" \
		git -C "$REPO" commit-tree "$tip^{tree}" -p "$tip~2" -m "$(git -C "$REPO" log -1 --format=%B "$tip")")
	git -C "$REPO" update-ref "$BRANCH" "$new" "$tip"
	expect_exit 0 push "$T/origin.toml" push
	[ "$(remote_tip)" = "$new" ]
	[ "$(lease)" = "$new" ]
	test_must_fail git -C "$REMOTE" merge-base --is-ancestor "$tip" "$BRANCH"
'

test_case "a changed host key is refused loudly, whatever the policy" '
	mkdir -p "$T/hostkey-orig"
	cp "$SSHD_DIR"/host_ed25519* "$T/hostkey-orig/"
	restore_key() {
		cp "$T/hostkey-orig"/host_ed25519* "$SSHD_DIR/"
		stop_sshd
		start_sshd "$SSHD_PORT"
	}
	trap restore_key EXIT
	sshd_host_key_new
	stop_sshd
	start_sshd "$SSHD_PORT"
	snapshot
	expect_exit 5 push "$T/origin.toml" push
	stderr_has "HOST KEY CHANGED for [127.0.0.1]:$SSHD_PORT"
	stderr_has "man-in-the-middle"
	stderr_has "$(sshd_fingerprint)"
	config "$T/accept-changed.toml" "name = \"origin\"" "url = \"$URL\"" "ssh_key = \"$CLIENT_KEY\"" \
		"known_hosts = \"$KH\"" "host_key_policy = \"accept-new\"" "retries = 1"
	expect_exit 5 push "$T/accept-changed.toml" push
	stderr_has "HOST KEY CHANGED"
	[ "$(remote_tip)" != "$(local_tip)" ]
'

test_case "the scp-like form user@host:path reaches a server on port 22" '
	python3 -c "import socket; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((\"127.0.0.2\", 22))" 2>/dev/null ||
		{ echo "skipped: cannot listen on 127.0.0.2:22"; exit 0; }
	SSHD_DIR=$T/sshd22
	SSHD_PORT=
	start_sshd 22 127.0.0.2
	trap stop_sshd EXIT
	sshd_known_hosts "$T/kh22"
	grep -q "^127.0.0.2 ssh-ed25519 " "$T/kh22"   # port 22: the bare address
	config "$T/scp.toml" "name = \"origin\"" "url = \"root@127.0.0.2:$REMOTE\"" "ssh_key = \"$CLIENT_KEY\"" \
		"known_hosts = \"$T/kh22\"" "retries = 1"
	snapshot
	expect_exit 0 push "$T/scp.toml" push
	[ "$(remote_tip)" = "$(local_tip)" ]
'

test_case "dbgit backup pushes the new snapshot to the remote at its end" '
	sqlite3 "$T/app.db" "INSERT INTO plain VALUES (99, '"'"'by backup'"'"')"
	expect_exit 0 "$DBGIT" --config "$T/origin.toml" backup
	[ "$(remote_tip)" = "$(local_tip)" ]
	[ "$(lease)" = "$(local_tip)" ]
'

test_case "a server that forbids rewriting a branch is reported as needing a person (exit 5)" '
	git init -q --bare "$T/strict.git"
	git -C "$T/strict.git" config receive.denyNonFastForwards true
	origin "$T/strict.toml" "ssh://root@127.0.0.1:$SSHD_PORT$T/strict.git"
	snapshot
	expect_exit 0 push "$T/strict.toml" push app
	old=$(local_tip)
	new=$(git -C "$REPO" commit-tree "$old^{tree}" -p "$old~1" -m rewritten)
	git -C "$REPO" update-ref "$BRANCH" "$new" "$old"
	expect_exit 5 push "$T/strict.toml" push app
	stderr_has "the server refuses to rewrite branch backup/app"
	[ "$(git -C "$T/strict.git" rev-parse "$BRANCH")" = "$old" ]
	git -C "$REPO" update-ref "$BRANCH" "$old" "$new"
'

test_done
