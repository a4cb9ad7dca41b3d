#!/bin/bash
# t3032: what a server says is untrusted text. A git server's hooks write
# whatever they like to the client (side-band 2, the reason of an "ng"),
# and dbgit quotes it in its one-line refusal and its -v log: terminal
# escape sequences and other control characters in it must not reach the
# operator's terminal or the cron mail as they are. Over the real sshd,
# with dbgit's own receive-pack exchange.
. "$TEST_SRCDIR/lib/test-lib.sh"
. "$TEST_SRCDIR/lib/sshd.sh"
. "$TEST_SRCDIR/lib/push-fixture.sh"

start_sshd || exit 1
sshd_known_hosts "$KH"
URL="ssh://root@127.0.0.1:$SSHD_PORT$REMOTE"

push_fixture_init
job_with_remote "$T/origin.toml" 'name = "origin"' "url = \"$URL\"" "ssh_key = \"$CLIENT_KEY\"" \
	"known_hosts = \"$KH\"" 'retries = 1' 'timeout = 10'
"$DBGIT" --config "$T/origin.toml" backup --no-push >/dev/null

# no_control FILE: no byte below 0x20 but newline, and no DEL.
no_control() {
	if LC_ALL=C grep -q -P '[\x00-\x09\x0b-\x1f\x7f]' "$1"; then
		echo "control characters in $1:" >&2
		od -c "$1" | grep -E '033|\\a|\\b|\\f|\\0' | head -5 >&2
		return 1
	fi
}

test_case "a hook's escape sequences are quoted harmless in the refusal and the log" '
	printf "#!/bin/sh\nprintf \"\\\\033]0;owned\\\\007\\\\033[2J\\\\033[31mno backups\\\\bX\\\\tY\\\\n\" >&2\nexit 1\n" \
		>"$REMOTE/hooks/pre-receive"
	chmod +x "$REMOTE/hooks/pre-receive"
	# The hook really sends them (git itself passes them through).
	printf "\033[31m" >esc
	test_must_fail "$REMOTE/hooks/pre-receive" 2>hook.out
	grep -q -F "$(cat esc)" hook.out
	expect_exit 3 "$DBGIT" --config "$T/origin.toml" -v -v push
	stderr_has "pre-receive hook declined"
	stderr_has "no backups"
	no_control "$T/.stderr"
	no_control "$T/.stdout"
	[ -z "$(git -C "$REMOTE" for-each-ref)" ]
	rm "$REMOTE/hooks/pre-receive"
'

test_case "an update hook that refuses with control characters in its words" '
	rm -f "$REMOTE/hooks/pre-receive"
	printf "#!/bin/sh\nprintf \"\\\\033[1;31mREFUSED\\\\033[0m \\\\001\\\\002\\\\033c\\\\n\" >&2\nexit 1\n" \
		>"$REMOTE/hooks/update"
	chmod +x "$REMOTE/hooks/update"
	expect_exit 3 "$DBGIT" --config "$T/origin.toml" -v -v push
	stderr_has "REFUSED"
	no_control "$T/.stderr"
	rm "$REMOTE/hooks/update"
	expect_exit 0 "$DBGIT" --config "$T/origin.toml" push
	[ "$(remote_tip)" = "$(local_tip)" ]
	git -C "$REMOTE" fsck --full --strict --no-progress
'

test_done
