#!/bin/bash
# t3031: a hostile git server behind a real sshd. The authorized key runs,
# in place of git-receive-pack, a small Python server (written below) that
# answers the push with crafted bytes: a broken ref advertisement, a broken
# or lying report-status, side-band abuse, a connection cut mid-pack, a
# server that hangs or floods. Whatever it sends, dbgit must exit 3 (retry
# later) or 5 (a person must act) with one line naming the remote, no
# sanitizer report, no control character printed raw, no lease moved as if
# the push had succeeded, in bounded time; and the next push to the real
# git-receive-pack still works and leaves a repository git fsck accepts.
. "$TEST_SRCDIR/lib/test-lib.sh"
. "$TEST_SRCDIR/lib/sshd.sh"
. "$TEST_SRCDIR/lib/push-fixture.sh"

EVIL=$T/evil
mkdir -p "$EVIL"
cat >"$EVIL/server.py" <<'PY'
# A receive-pack that lies. The scenario is the first word of the file
# named by argv[1]; "good" runs the real git receive-pack.
import hashlib, os, re, select, subprocess, sys, time

scen = open(sys.argv[1]).read().split()[0]
path = re.match(r"git-receive-pack '(.*)'$", os.environ.get("SSH_ORIGINAL_COMMAND", "")).group(1)
if scen == "good":
    os.execvp("git", ["git", "receive-pack", path])

LIMIT = time.monotonic() + 60  # no server of this test outlives a minute
out = sys.stdout.buffer


def w(b):
    try:
        out.write(b)
        out.flush()
    except (BrokenPipeError, ConnectionResetError):
        sys.exit(0)


def pkt(b):
    return b"%04x" % (len(b) + 4) + b


def band(n, b):
    return pkt(bytes([n]) + b)


def wait_eof():
    # "Hang": say nothing more, until the client goes (or a minute).
    while time.monotonic() < LIMIT:
        r, _, _ = select.select([0], [], [], 1)
        if r and not os.read(0, 65536):
            return


refs = subprocess.run(["git", "-C", path, "for-each-ref", "--format=%(objectname) %(refname)"],
                      capture_output=True, check=True).stdout.decode().split("\n")
refs = [r.encode() for r in refs if r]
CAPS = b"report-status side-band-64k agent=git/evil"
if scen.startswith("nosb-"):
    CAPS = b"report-status agent=git/evil"


def advertise(caps=CAPS):
    first = refs[0] if refs else b"0" * 40 + b" capabilities^{}"
    w(pkt(first + (b"\0" + caps if caps is not None else b"") + b"\n"))
    for r in refs[1:]:
        w(pkt(r + b"\n"))
    w(b"0000")


# ---- the advertisement ----
if scen == "adv-nothex":
    w(b"zz4a" + b"x" * 80)
    wait_eof()
    sys.exit(0)
if scen.startswith("adv-len"):  # adv-len1 .. adv-len3
    w(b"000" + scen[-1].encode() + b"0" * 60)
    wait_eof()
    sys.exit(0)
if scen == "adv-plus":  # strtoul would take "+0x3" and " 03a"
    w(b"+03a" + b"0" * 70)
    wait_eof()
    sys.exit(0)
if scen == "adv-short":  # a length larger than what follows, then EOF
    w(b"00ff" + refs[0][:20])
    sys.exit(0)
if scen == "adv-huge":  # 65535: more than a pkt-line may hold
    w(b"ffff" + refs[0] + b"\0" + CAPS + b" " + b"x" * (65531 - len(refs[0]) - len(CAPS) - 2) + b"\n")
    wait_eof()
    sys.exit(0)
if scen == "adv-hang":  # the first line, then silence
    w(pkt(refs[0] + b"\0" + CAPS + b"\n"))
    wait_eof()
    sys.exit(0)
if scen == "adv-endless":  # refs without end
    w(pkt(refs[0] + b"\0" + CAPS + b"\n"))
    i = 0
    while time.monotonic() < LIMIT:
        w(b"".join(pkt(b"%040x refs/heads/x/%d\n" % (j, j)) for j in range(i, i + 1000)))
        i += 1000
    sys.exit(0)
if scen == "adv-stderr":  # stdout closed at once, a message with escapes on stderr
    sys.stderr.buffer.write(b"fatal: \x1b[2J\x1b]0;owned\x07 no such repository\n")
    sys.exit(128)

advertise(None if scen == "nocaps" else CAPS)

# ---- the commands and the pack ----
buf = b""


def more():
    global buf
    if time.monotonic() > LIMIT:
        sys.exit(1)
    r, _, _ = select.select([0], [], [], 1)
    if not r:
        return True
    d = os.read(0, 65536)
    if not d:
        return False
    buf += d
    return True


cmds = []
while True:
    while len(buf) < 4:
        if not more():
            sys.exit(0)
    n = int(buf[:4], 16)
    if n == 0:
        buf = buf[4:]
        break
    while len(buf) < n:
        if not more():
            sys.exit(0)
    cmds.append(buf[4:n].split(b"\0")[0].rstrip(b"\n"))
    buf = buf[n:]
ref = cmds[0].split(b" ")[2]
open(sys.argv[1] + ".cmds", "ab").write(b"\n".join(cmds) + b"\n")

if scen == "midpack":  # a part of the pack, then the connection goes
    while len(buf) < 200000:
        if not more():
            break
    sys.exit(0)

# The pack ends where its last 20 bytes are the SHA-1 of what precedes.
while not (len(buf) >= 32 and buf[:4] == b"PACK" and hashlib.sha1(buf[:-20]).digest() == buf[-20:]):
    if not more():
        sys.exit(0)
open(sys.argv[1] + ".pack", "wb").write(buf)

# ---- the answer ----
def report(*lines, flush=True):
    return b"".join(pkt(l + b"\n") for l in lines) + (b"0000" if flush else b"")


def sb(data):  # band 1, in packets
    return b"".join(band(1, data[i:i + 65000]) for i in range(0, len(data), 65000))


CTL = b"\x1b[31m\x1b]0;owned\x07\x08\x08\x08gone\r"
if scen == "no-report":
    w(b"0000")
elif scen == "eof":
    sys.exit(0)
elif scen == "nosb-no-report":
    w(b"0000")
elif scen == "no-unpack":
    w(sb(report(b"ok " + ref)) + b"0000")
elif scen == "unpack-error":
    w(sb(report(b"unpack index-pack " + CTL + b"abnormal exit", b"ng " + ref + b" unpacker error")) + b"0000")
elif scen == "ng-ctrl":
    w(sb(report(b"unpack ok", b"ng " + ref + b" " + CTL + b"x" * 60000)) + b"0000")
elif scen == "ok-other":
    w(sb(report(b"unpack ok", b"ok refs/heads/" + CTL + b"other", b"ok " + ref)) + b"0000")
elif scen == "band3":
    w(band(2, b"remote: working\n") + band(3, b"fatal: " + CTL + b"out of cheese\n"))
elif scen == "band5":
    w(band(5, b"what is this") + sb(report(b"unpack ok", b"ok " + ref)) + b"0000")
elif scen == "band2-ctrl":  # then a report that refuses: the message is shown
    w(band(2, b"Permission denied: " + CTL + b"\n") + sb(report(b"unpack ok", b"ng " + ref + b" hook declined")) + b"0000")
elif scen == "flood":  # progress without end, as fast as it goes
    chunk = band(2, b"Resolving deltas: " + b"#" * 65000 + b"\r") * 16
    while time.monotonic() < LIMIT:
        w(chunk)
elif scen == "drip":  # a keepalive every half second, never a report
    while time.monotonic() < LIMIT:
        w(band(2, b"."))
        time.sleep(0.5)
elif scen == "hang":
    wait_eof()
elif scen == "split":  # a good report, cut at every byte: not an attack, a check
    data = sb(report(b"unpack ok", b"ok " + ref)) + b"0000"
    for i in range(len(data)):
        w(data[i:i + 1])
elif scen == "nosb-ok":
    w(report(b"unpack ok", b"ok " + ref))
elif scen == "nocaps":
    pass  # a server without report-status says nothing: and did nothing
elif scen == "lie":  # "ok" while the ref did not move
    w(sb(report(b"unpack ok", b"ok " + ref)) + b"0000")
elif scen == "r-nothex":
    w(b"zz4a" + b"x" * 80)
elif scen == "r-len2":
    w(b"0002" + b"0" * 80)
elif scen == "r-plus":  # "+02f" would be 47 to strtoul: a good report behind it
    data = report(b"unpack ok", b"ok " + ref)
    w(b"+%03x" % (len(data) + 5) + b"\x01" + data + b"0000")
elif scen == "r-inner-plus":  # the same inside band 1
    w(band(1, b" 0xe" + b"unpack ok\n" + pkt(b"ok " + ref + b"\n") + b"0000") + b"0000")
elif scen == "r-huge":  # 65521: one more than a pkt-line may hold
    w(b"fff1" + b"\x02" + b"x" * 65516 + sb(report(b"unpack ok", b"ok " + ref)) + b"0000")
elif scen == "r-short":  # a length larger than what follows, then EOF
    w(b"0100\x01" + pkt(b"unpack ok\n"))
    sys.exit(0)
elif scen == "dup-then-ng":  # ok, then ng for the same ref: the last word counts
    w(sb(report(b"unpack ok", b"ok " + ref, b"ng " + ref + b" changed my mind")) + b"0000")
wait_eof()
PY

start_sshd || exit 1
sshd_known_hosts "$KH"
# The forced command: every login with the client key runs the server above.
echo "command=\"python3 $EVIL/server.py $EVIL/scenario\",no-pty $(cat "$CLIENT_KEY.pub")" >"$SSHD_DIR/authorized_keys"
URL="ssh://root@127.0.0.1:$SSHD_PORT$REMOTE"
job_with_remote "$T/origin.toml" 'name = "origin"' "url = \"$URL\"" "ssh_key = \"$CLIENT_KEY\"" \
	"known_hosts = \"$KH\"" 'retries = 1' 'timeout = 3'
push_fixture_init
# About a megabyte of chunks that hardly compress: a pack in many writes.
sqlite3 "$T/app.db" "CREATE TABLE big(id INTEGER PRIMARY KEY, v TEXT);
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 8000)
	INSERT INTO big SELECT i, hex(randomblob(100)) FROM n;"

evil() { echo "$1" >"$EVIL/scenario"; }
lease() { git -C "$REPO" rev-parse --verify -q refs/dbgit/remotes/origin/backup/app; }
push() { ${PUSH_WRAP:-} "$DBGIT" --config "${CONF:-$T/origin.toml}" push; }
# one_clean_line: what the last expect_exit printed is one line naming the
# remote, with no control character (tab aside) in it.
one_clean_line() {
	[ "$(wc -l <"$T/.stderr")" = 1 ] || { echo "not one line:" >&2; cat -A "$T/.stderr" >&2; return 1; }
	stderr_has "remote origin"
	python3 -c 'import sys
d = open(sys.argv[1], "rb").read().rstrip(b"\n")
bad = [c for c in d if c < 32 and c != 9 or c == 127]
sys.exit("control characters: %r" % d if bad else 0)' "$T/.stderr"
}
# attack SCENARIO EXIT: one push against the scenario, which must exit EXIT
# with one clean line, the lease, the local branch and the remote unmoved.
attack() {
	local lease0 tip0 remote0
	lease0=$(lease)
	tip0=$(local_tip)
	remote0=$(remote_tip)
	evil "$1"
	expect_exit "$2" push
	one_clean_line
	[ "$(lease)" = "$lease0" ]
	[ "$(local_tip)" = "$tip0" ]
	[ "$(remote_tip)" = "$remote0" ]
}

test_case "the first push to the real receive-pack works" '
	"$DBGIT" --config "$T/local.toml" backup --no-push >/dev/null
	evil good
	expect_exit 0 push
	[ "$(remote_tip)" = "$(local_tip)" ]
	[ "$(lease)" = "$(local_tip)" ]
	git -C "$REMOTE" fsck --full --strict --no-progress
'
sqlite3 "$T/app.db" "UPDATE big SET v = hex(randomblob(100)) WHERE id % 3 = 0"
snapshot

test_case "an advertisement whose length is not hex: exit 3, one line" '
	attack adv-nothex 3
	stderr_has "cannot connect: the server'"'"'s answer is not the git protocol (bad pkt-line length '"'"'zz4a'"'"')"
'
test_case "advertisement lengths 1, 2 and 3 (no pkt-line is that short): exit 3" '
	for n in 1 2 3; do
		attack adv-len$n 3
		stderr_has "(bad pkt-line length '"'"'000$n'"'"')"
	done
'
test_case "a length with a sign or 0x in it is not hex either" '
	attack adv-plus 3
	stderr_has "(bad pkt-line length '"'"'+03a'"'"')"
'
test_case "a length larger than what follows, then EOF: exit 3" '
	attack adv-short 3
	stderr_has "early EOF"
'
test_case "a length of 65535, over the pkt-line maximum of 65520: exit 3" '
	start=$SECONDS
	attack adv-huge 3
	stderr_has "(bad pkt-line length '"'"'ffff'"'"')"
	[ $((SECONDS - start)) -lt 3 ]
'
test_case "a server that closes at once with escapes on stderr: printed escaped" '
	attack adv-stderr 3
	stderr_has "no such repository"
'

test_case "an advertisement that stops mid-way: given up after the timeout (3 s), exit 3" '
	start=$SECONDS
	attack adv-hang 3
	stderr_has "did not answer for 3 s"
	[ $((SECONDS - start)) -lt 30 ]
'
test_case "an advertisement without end: stopped at 16 MiB, memory bounded, exit 3" '
	# Data keeps coming, so the timeout is not what stops it: a long one.
	job_with_remote "$T/slow.toml" "name = \"origin\"" "url = \"$URL\"" "ssh_key = \"$CLIENT_KEY\"" \
		"known_hosts = \"$KH\"" "retries = 1" "timeout = 120"
	start=$SECONDS
	CONF=$T/slow.toml PUSH_WRAP="/usr/bin/time -o $T/rss -f %M" attack adv-endless 3
	stderr_has "list of branches goes on past 16 MiB"
	echo "endless advertisement: $((SECONDS - start)) s, peak $(tail -1 "$T/rss") KiB"
	[ $((SECONDS - start)) -lt 60 ]
	[ "$(tail -1 "$T/rss")" -lt 1000000 ]
'
test_case "capabilities without report-status (no NUL): not pushed, exit 5" '
	attack nocaps 5
	stderr_has "report-status"
'

test_case "report lengths not hex, 2, with a sign or 0x, over 65520, past the end: exit 3" '
	attack r-nothex 3
	stderr_has "bad pkt-line length '"'"'zz4a'"'"'"
	attack r-len2 3
	attack r-plus 3
	attack r-inner-plus 3
	attack r-huge 3
	attack r-short 3
'
test_case "no report-status after the pack (a bare flush, or EOF): exit 3" '
	attack no-report 3
	stderr_has "ended its answer without a report"
	attack eof 3
	stderr_has "closed the connection before it reported"
	attack nosb-no-report 3
	stderr_has "report has no unpack status"
'
test_case "a report without its unpack line: exit 3" '
	attack no-unpack 3
	stderr_has "report has no unpack status"
'
test_case "unpack error with control characters: exit 5, the reason escaped" '
	attack unpack-error 5
	stderr_has "abnormal exit"
'
test_case "ng with control characters and a 60,000-byte reason: one short clean line" '
	attack ng-ctrl 3
	[ "$(wc -c <"$T/.stderr")" -lt 2048 ]
'
test_case "ok for a branch dbgit did not push: exit 3" '
	attack ok-other 3
	stderr_has "was not pushed"
'
test_case "ok then ng for the same branch: not pushed" '
	attack dup-then-ng 3
	stderr_has "changed my mind"
'
test_case "side-band 3 (fatal) with control characters: exit 3, escaped" '
	attack band3 3
	stderr_has "out of cheese"
'
test_case "an unknown side-band number: exit 3" '
	attack band5 3
	stderr_has "side-band"
'
test_case "progress (band 2) with control characters, then a refusal: escaped" '
	attack band2-ctrl 5
	stderr_has "permission denied (hook declined)"
	expect_exit 5 "$DBGIT" --config "$T/origin.toml" -v -v push
	python3 -c "import sys; d = open(sys.argv[1], \"rb\").read(); sys.exit(b\"\\x1b\" in d or b\"\\x07\" in d)" "$T/.stderr"
	stderr_has "remote: Permission denied: \\x1b[31m\\x1b]0;owned\\x07"
'
test_case "the server closes the connection mid-pack: exit 3" '
	attack midpack 3
	stderr_has "push failed"
'
test_case "the server hangs after the pack: given up after the timeout, exit 3" '
	start=$SECONDS
	attack hang 3
	stderr_has "did not answer for 3 s"
	[ $((SECONDS - start)) -lt 30 ]
'
test_case "a flood of band-2 progress: given up, exit 3" '
	start=$SECONDS
	attack flood 3
	stderr_has "answer goes on past 8 MiB"
	[ $((SECONDS - start)) -lt 40 ]
'
test_case "band-2 keepalives without end: given up in bounded time, exit 3" '
	start=$SECONDS
	attack drip 3
	stderr_has "did not finish its answer within 30 s"
	[ $((SECONDS - start)) -lt 50 ]
'

test_case "a report split into one-byte packets is understood (the lease moves)" '
	evil split
	expect_exit 0 push
	[ "$(lease)" = "$(local_tip)" ]
	# The hostile server moved nothing: put the lease back.
	git -C "$REPO" update-ref refs/dbgit/remotes/origin/backup/app "$(remote_tip)"
'
test_case "without side-band too" '
	evil nosb-ok
	expect_exit 0 push
	[ "$(lease)" = "$(local_tip)" ]
	git -C "$REPO" update-ref refs/dbgit/remotes/origin/backup/app "$(remote_tip)"
'

test_case "then the real receive-pack: the push works and the remote is whole" '
	evil good
	expect_exit 0 push
	[ "$(remote_tip)" = "$(local_tip)" ]
	[ "$(lease)" = "$(local_tip)" ]
	git -C "$REMOTE" fsck --full --strict --no-progress
	snapshot
	expect_exit 0 push
	[ "$(remote_tip)" = "$(local_tip)" ]
	git -C "$REMOTE" fsck --full --strict --no-progress
'

test_done
