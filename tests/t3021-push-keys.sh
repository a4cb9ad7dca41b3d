#!/bin/bash
# t3021: client keys and their secrets against a real OpenSSH 9.2 sshd - an
# RSA key, a wrong passphrase, key and passphrase files others can read, a
# passphrase variable no hook or dump tool inherits - and the exit codes
# `push` and `backup` share: 5 for a refusal only a person fixes, 3 for a
# network failure the next run retries.

. "$TEST_SRCDIR/lib/test-lib.sh"
. "$TEST_SRCDIR/lib/sshd.sh"
. "$TEST_SRCDIR/lib/push-fixture.sh"

start_sshd || exit 1
sshd_known_hosts "$KH"
URL="ssh://root@127.0.0.1:$SSHD_PORT$REMOTE"

# remote FILE KEY [lines...]: one sqlite job and one remote using KEY.
remote() {
	local file=$1 key=$2
	shift 2
	job_with_remote "$file" 'name = "origin"' "url = \"$URL\"" "ssh_key = \"$key\"" \
		"known_hosts = \"${KHFILE:-$KH}\"" 'retries = 3' 'timeout = 5' "$@"
}

push_fixture_init
snapshot

test_case "an RSA client key the server refuses gets the ed25519 advice (exit 5, not retried)" '
	ssh-keygen -q -t rsa -b 2048 -N "" -f "$T/rsa_key"
	cat "$T/rsa_key.pub" >>"$SSHD_DIR/authorized_keys"
	remote "$T/rsa.toml" "$T/rsa_key"
	start=$SECONDS
	expect_exit 5 "$DBGIT" --config "$T/rsa.toml" push
	stderr_has "remote origin: the server refused the key $T/rsa_key (user root on 127.0.0.1): it is an RSA key"
	stderr_has "use an ed25519 key (ssh-keygen -t ed25519"
	[ $((SECONDS - start)) -lt 3 ]
	[ -z "$(remote_tip)" ]
	# Without the .pub beside it, the private key itself says RSA.
	mv "$T/rsa_key.pub" "$T/rsa_key.pub.away"
	expect_exit 5 "$DBGIT" --config "$T/rsa.toml" push
	stderr_has "it is an RSA key"
	mv "$T/rsa_key.pub.away" "$T/rsa_key.pub"
'

test_case "an ed25519 key the server does not know is \"refused\", without the RSA advice" '
	ssh-keygen -q -t ed25519 -N "" -f "$T/stranger_key"
	remote "$T/stranger.toml" "$T/stranger_key"
	expect_exit 5 "$DBGIT" --config "$T/stranger.toml" push
	stderr_has "remote origin: the server refused the key $T/stranger_key (user root on 127.0.0.1)"
	test_must_fail grep -q "RSA" "$T/.stderr"
'

test_case "a wrong passphrase says so, not that the server refused the key (exit 5)" '
	ssh-keygen -q -t ed25519 -N "s3cret-words" -f "$T/locked_key"
	cat "$T/locked_key.pub" >>"$SSHD_DIR/authorized_keys"
	remote "$T/locked.toml" "$T/locked_key" "passphrase_env = \"TEST_KEY_PASS\""
	TEST_KEY_PASS=wrong-words expect_exit 5 "$DBGIT" --config "$T/locked.toml" push
	stderr_has "remote origin: cannot decrypt the key $T/locked_key (wrong passphrase?)"
	test_must_fail grep -q "refused" "$T/.stderr"
	test_must_fail grep -q "wrong-words" "$T/.stderr"
	[ -z "$(remote_tip)" ]
	# The same without the .pub beside the key.
	mv "$T/locked_key.pub" "$T/locked_key.pub.away"
	TEST_KEY_PASS=wrong-words expect_exit 5 "$DBGIT" --config "$T/locked.toml" push
	stderr_has "remote origin: cannot decrypt the key $T/locked_key (wrong passphrase?)"
	mv "$T/locked_key.pub.away" "$T/locked_key.pub"
	TEST_KEY_PASS=s3cret-words expect_exit 0 "$DBGIT" --config "$T/locked.toml" push
	[ "$(remote_tip)" = "$(local_tip)" ]
	# No passphrase configured at all for an encrypted key: a config error.
	remote "$T/nopass.toml" "$T/locked_key"
	expect_exit 2 "$DBGIT" --config "$T/nopass.toml" push
	stderr_has "remote origin: ssh_key $T/locked_key is encrypted; set passphrase_env or passphrase_file"
'

test_case "an encrypted key the server does not know is refused, whatever the passphrase" '
	ssh-keygen -q -t ed25519 -N "other-words" -f "$T/locked_stranger"
	remote "$T/locked-stranger.toml" "$T/locked_stranger" "passphrase_env = \"TEST_KEY_PASS\""
	TEST_KEY_PASS=other-words expect_exit 5 "$DBGIT" --config "$T/locked-stranger.toml" push
	stderr_has "the server refused the key $T/locked_stranger"
	TEST_KEY_PASS=wrong expect_exit 5 "$DBGIT" --config "$T/locked-stranger.toml" push
	stderr_has "the server refused the key $T/locked_stranger"
'

test_case "a private key readable by others is refused like ssh does (exit 2, one line)" '
	cp "$CLIENT_KEY" "$T/open_key"
	cp "$CLIENT_KEY.pub" "$T/open_key.pub"
	chmod 644 "$T/open_key"
	remote "$T/open.toml" "$T/open_key"
	snapshot
	expect_exit 2 "$DBGIT" --config "$T/open.toml" push
	stderr_has "remote origin: ssh_key $T/open_key is accessible by group or others (mode 0644); refusing to use it (chmod 600 $T/open_key)"
	[ "$(wc -l <"$T/.stderr")" = 1 ]
	[ "$(remote_tip)" != "$(local_tip)" ]
	chmod 640 "$T/open_key"
	expect_exit 2 "$DBGIT" --config "$T/open.toml" push
	stderr_has "(mode 0640)"
	chmod 600 "$T/open_key"
	chown 65534 "$T/open_key"
	expect_exit 2 "$DBGIT" --config "$T/open.toml" push
	stderr_has "ssh_key $T/open_key is owned by uid 65534, not by the user running dbgit"
	chown 0 "$T/open_key"
	expect_exit 0 "$DBGIT" --config "$T/open.toml" push
	[ "$(remote_tip)" = "$(local_tip)" ]
'

test_case "a passphrase_file readable by others is refused; a private one works" '
	printf "s3cret-words\n" >"$T/pass"
	chmod 644 "$T/pass"
	remote "$T/passfile.toml" "$T/locked_key" "passphrase_file = \"$T/pass\""
	snapshot
	expect_exit 2 "$DBGIT" --config "$T/passfile.toml" push
	stderr_has "remote origin: passphrase_file $T/pass is accessible by group or others (mode 0644)"
	[ "$(remote_tip)" != "$(local_tip)" ]
	chmod 600 "$T/pass"
	expect_exit 0 "$DBGIT" --config "$T/passfile.toml" push
	[ "$(remote_tip)" = "$(local_tip)" ]
'

test_case "the passphrase variable reaches neither the hooks nor the command engine, yet the push uses it" '
	mkdir -p "$T/hooks"
	printf "#!/bin/sh\nenv >\"%s/hook.env\"\n" "$T" >"$T/hooks/post-backup"
	chmod +x "$T/hooks/post-backup"
	write_config "$T/env.toml" "$REPO" "[hooks]" "dir = \"$T/hooks\"" "" \
		"[[job]]" "name = \"app\"" "engine = \"sqlite\"" "path = \"$T/app.db\"" "" \
		"[[job]]" "name = \"tool\"" "engine = \"command\"" "command = \"env >$T/engine.env; echo hello\"" "" \
		"[[remote]]" "name = \"origin\"" "url = \"$URL\"" "ssh_key = \"$T/locked_key\"" \
		"passphrase_env = \"TEST_KEY_PASS\"" "known_hosts = \"$KH\"" "retries = 1"
	sqlite3 "$T/app.db" "INSERT INTO plain VALUES ($RANDOM, '"'"'env'"'"')"
	TEST_KEY_PASS=s3cret-words expect_exit 0 "$DBGIT" --config "$T/env.toml" backup
	[ "$(remote_tip)" = "$(local_tip)" ]
	[ "$(git -C "$REMOTE" rev-parse refs/heads/backup/tool)" = "$(git -C "$REPO" rev-parse refs/heads/backup/tool)" ]
	grep -q "^DBGIT_JOB=" "$T/hook.env"
	grep -q "^PATH=" "$T/engine.env"
	test_must_fail grep -q "TEST_KEY_PASS" "$T/hook.env"
	test_must_fail grep -q "s3cret" "$T/hook.env"
	test_must_fail grep -q "TEST_KEY_PASS" "$T/engine.env"
	test_must_fail grep -q "s3cret" "$T/engine.env"
'

test_case "a known_hosts that cannot be parsed is a config error naming its line (exit 2), not retried" '
	{ cat "$KH"; echo "[127.0.0.1]:$SSHD_PORT"; } >"$T/bad_known_hosts"
	KHFILE=$T/bad_known_hosts remote "$T/badkh.toml" "$CLIENT_KEY"
	start=$SECONDS
	expect_exit 2 "$DBGIT" --config "$T/badkh.toml" push
	stderr_has "remote origin: cannot parse $T/bad_known_hosts line 2"
	[ $((SECONDS - start)) -lt 3 ]
'

test_case "push and backup give the same exit for the same refusal (5) and for a network failure (3)" '
	remote "$T/refused.toml" "$T/stranger_key"
	snapshot
	expect_exit 5 "$DBGIT" --config "$T/refused.toml" push
	stderr_has "the server refused the key $T/stranger_key"
	before=$(local_tip)
	sqlite3 "$T/app.db" "INSERT INTO plain VALUES ($RANDOM, '"'"'refused'"'"')"
	expect_exit 5 "$DBGIT" --config "$T/refused.toml" backup
	stderr_has "the server refused the key $T/stranger_key"
	[ "$(local_tip)" != "$before" ]       # committed locally all the same
	[ "$(remote_tip)" != "$(local_tip)" ]
	# A closed port: the network, retried with backoff, then exit 3.
	port=$(python3 -c "import socket; s=socket.socket(); s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])")
	write_config "$T/down.toml" "$REPO" \
		"[[job]]" "name = \"app\"" "engine = \"sqlite\"" "path = \"$T/app.db\"" "" \
		"[[remote]]" "name = \"origin\"" "url = \"ssh://root@127.0.0.1:$port$REMOTE\"" \
		"ssh_key = \"$CLIENT_KEY\"" "known_hosts = \"$KH\"" "retries = 2" "timeout = 5"
	expect_exit 3 "$DBGIT" --config "$T/down.toml" push
	stderr_has "remote origin: cannot connect to 127.0.0.1 port $port"
	stderr_has "; retrying in 1 s (attempt 2 of 2)"
	stderr_has "gave up after 2 attempts"
	test_must_fail grep -v "^dbgit: " "$T/.stderr"   # one line per message
	sqlite3 "$T/app.db" "INSERT INTO plain VALUES ($RANDOM, '"'"'down'"'"')"
	expect_exit 3 "$DBGIT" --config "$T/down.toml" backup
	stderr_has "; retrying in 1 s (attempt 2 of 2)"
	stderr_has "gave up after 2 attempts"
'

test_done
