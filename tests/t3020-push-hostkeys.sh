#!/bin/bash
# t3020: host keys as OpenSSH 9.2 and its known_hosts files present them -
# @revoked keys, hashed lines, a server with several key types and an RSA
# line first in ~/.ssh/known_hosts - against a real sshd.

. "$TEST_SRCDIR/lib/test-lib.sh"
. "$TEST_SRCDIR/lib/sshd.sh"
. "$TEST_SRCDIR/lib/push-fixture.sh"

# The test server offers three host key types, as a stock OpenSSH install
# does: ed25519, ecdsa and rsa (signed as rsa-sha2-*, never SHA-1 ssh-rsa).
start_sshd || exit 1
ssh-keygen -q -t rsa -b 2048 -N '' -f "$SSHD_DIR/host_rsa"
ssh-keygen -q -t ecdsa -N '' -f "$SSHD_DIR/host_ecdsa"
sshd_reconfigure "HostKey $SSHD_DIR/host_ecdsa
HostKey $SSHD_DIR/host_rsa" || exit 1
URL="ssh://root@127.0.0.1:$SSHD_PORT$REMOTE"
HOSTNAME_KH="[127.0.0.1]:$SSHD_PORT"

# keyscan TYPE: the server's line of that key type, as ssh-keyscan prints it.
keyscan() { ssh-keyscan -p "$SSHD_PORT" -t "$1" 127.0.0.1 2>/dev/null | grep -v '^#'; }
# remote NAME FILE KNOWN_HOSTS [lines...]: a config with one remote.
remote() {
	local file=$1 kh=$2
	shift 2
	job_with_remote "$file" 'name = "origin"' "url = \"$URL\"" "ssh_key = \"$CLIENT_KEY\"" \
		"known_hosts = \"$kh\"" 'retries = 3' 'timeout = 5' "$@"
}
ed25519_b64() { cut -d' ' -f2 "$SSHD_DIR/host_ed25519.pub"; }

push_fixture_init
snapshot

test_case "a key listed only as @revoked is refused as revoked, not offered for ssh-keyscan (exit 5)" '
	mkdir -p "$T/revoked"
	echo "@revoked $HOSTNAME_KH ssh-ed25519 $(ed25519_b64)" >"$T/revoked/known_hosts"
	cp "$T/revoked/known_hosts" "$T/revoked/before"
	remote "$T/revoked.toml" "$T/revoked/known_hosts"
	start=$SECONDS
	expect_exit 5 "$DBGIT" --config "$T/revoked.toml" push
	stderr_has "remote origin: REVOKED HOST KEY for $HOSTNAME_KH"
	stderr_has "$(sshd_fingerprint)"
	test_must_fail grep -q "ssh-keyscan" "$T/.stderr"
	[ $((SECONDS - start)) -lt 3 ]   # not retried
	[ -z "$(remote_tip)" ]
'

test_case "accept-new refuses a @revoked key too and does not add it" '
	remote "$T/revoked-new.toml" "$T/revoked/known_hosts" "host_key_policy = \"accept-new\""
	expect_exit 5 "$DBGIT" --config "$T/revoked-new.toml" push
	stderr_has "REVOKED HOST KEY for $HOSTNAME_KH"
	cmp "$T/revoked/known_hosts" "$T/revoked/before"
	[ -z "$(remote_tip)" ]
'

test_case "a key both listed and @revoked (by a wildcard or a hashed name) is refused" '
	mkdir -p "$T/revoked2"
	keyscan ed25519 >"$T/revoked2/known_hosts"
	echo "@revoked * ssh-ed25519 $(ed25519_b64)" >>"$T/revoked2/known_hosts"
	remote "$T/revoked2.toml" "$T/revoked2/known_hosts"
	expect_exit 5 "$DBGIT" --config "$T/revoked2.toml" push
	stderr_has "REVOKED HOST KEY"
	# A hashed @revoked line, as ssh-keygen -H writes the name.
	keyscan ed25519 >"$T/revoked2/hashed"
	ssh-keygen -H -f "$T/revoked2/hashed" >/dev/null 2>&1
	grep -q "^|1|" "$T/revoked2/hashed"
	sed "s/^/@revoked /" "$T/revoked2/hashed" >"$T/revoked2/known_hosts"
	keyscan ed25519 >>"$T/revoked2/known_hosts"
	expect_exit 5 "$DBGIT" --config "$T/revoked2.toml" push
	stderr_has "REVOKED HOST KEY"
	# A @revoked line for another host does not concern this one.
	{ echo "@revoked other.example.org ssh-ed25519 $(ed25519_b64)"; keyscan ed25519; } >"$T/revoked2/known_hosts"
	expect_exit 0 "$DBGIT" --config "$T/revoked2.toml" push
	[ "$(remote_tip)" = "$(local_tip)" ]
'

test_case "a hashed known_hosts: accept-new does not add a second key type (exit 5)" '
	mkdir -p "$T/hashed"
	ssh-keygen -q -t rsa -b 2048 -N "" -f "$T/old_host_rsa"
	echo "$HOSTNAME_KH $(cut -d" " -f1,2 "$T/old_host_rsa.pub")" >"$T/hashed/known_hosts"
	ssh-keygen -H -f "$T/hashed/known_hosts" >/dev/null 2>&1
	grep -q "^|1|" "$T/hashed/known_hosts"
	cp "$T/hashed/known_hosts" "$T/hashed/before"
	remote "$T/hashed.toml" "$T/hashed/known_hosts" "host_key_policy = \"accept-new\""
	snapshot
	expect_exit 5 "$DBGIT" --config "$T/hashed.toml" push
	stderr_has "holds a key of another type for it (the file knows the host only by an RSA key, which libssh2 1.10 can check only as SHA-1 ssh-rsa"
	stderr_has "not adding a second one automatically"
	cmp "$T/hashed/known_hosts" "$T/hashed/before"
	[ "$(remote_tip)" != "$(local_tip)" ]
'

test_case "a host known only by its RSA key: strict says why the RSA key cannot serve" '
	keyscan rsa >"$T/rsa_only"
	remote "$T/rsa-only.toml" "$T/rsa_only"
	expect_exit 5 "$DBGIT" --config "$T/rsa-only.toml" push
	stderr_has "remote origin: unknown host key for $HOSTNAME_KH"
	stderr_has "the file knows the host only by an RSA key"
	stderr_has "ssh-keyscan -p $SSHD_PORT 127.0.0.1 >> $T/rsa_only"
'

test_case "a hashed known_hosts with the right key pushes (strict)" '
	keyscan ed25519 >"$T/hashed/ok"
	ssh-keygen -H -f "$T/hashed/ok" >/dev/null 2>&1
	remote "$T/hashed-ok.toml" "$T/hashed/ok"
	expect_exit 0 "$DBGIT" --config "$T/hashed-ok.toml" push
	[ "$(remote_tip)" = "$(local_tip)" ]
'

test_case "an RSA line first in ~/.ssh/known_hosts does not break a remote with its own known_hosts" '
	mkdir -p "$HOME/.ssh"
	{ keyscan rsa; keyscan ed25519; } >"$HOME/.ssh/known_hosts"
	head -1 "$HOME/.ssh/known_hosts" | grep -q " ssh-rsa "
	keyscan ed25519 >"$T/own_known_hosts"
	remote "$T/own.toml" "$T/own_known_hosts"
	snapshot
	expect_exit 0 "$DBGIT" --config "$T/own.toml" push
	[ "$(remote_tip)" = "$(local_tip)" ]
	rm "$HOME/.ssh/known_hosts"
'

test_case "an RSA line first in the remote known_hosts itself: the ecdsa or ed25519 line is used" '
	{ keyscan rsa; keyscan ecdsa; } >"$T/rsa_first"
	remote "$T/rsa-first.toml" "$T/rsa_first"
	snapshot
	expect_exit 0 "$DBGIT" --config "$T/rsa-first.toml" push
	[ "$(remote_tip)" = "$(local_tip)" ]
	# And from ~/.ssh/known_hosts, the default, as plain ssh-keyscan writes it.
	mkdir -p "$HOME/.ssh"
	{ keyscan rsa; keyscan ecdsa; keyscan ed25519; } >"$HOME/.ssh/known_hosts"
	write_config "$T/default-kh.toml" "$REPO" \
		"[[job]]" "name = \"app\"" "engine = \"sqlite\"" "path = \"$T/app.db\"" "" \
		"[[remote]]" "name = \"origin\"" "url = \"$URL\"" "ssh_key = \"$CLIENT_KEY\"" "retries = 1"
	snapshot
	expect_exit 0 "$DBGIT" --config "$T/default-kh.toml" push
	[ "$(remote_tip)" = "$(local_tip)" ]
	[ "$HOME" = "$T/home" ]
	git -C "$REMOTE" fsck --full --no-progress
'

test_done
