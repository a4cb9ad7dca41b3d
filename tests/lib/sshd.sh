# sshd.sh: a real OpenSSH server for scenario tests, on 127.0.0.1 and a
# free high port, with its own configuration, host key and authorized key
# under $T. Source it after test-lib.sh, at the top level of the script:
#
#   . "$TEST_SRCDIR/lib/sshd.sh"
#   start_sshd            # sets SSHD_PORT, SSHD_PID, SSHD_DIR, CLIENT_KEY
#   ... dbgit pushes to ssh://root@127.0.0.1:$SSHD_PORT/$T/remote.git ...
#
# Every server started here is stopped when the script exits, even one that
# a test case (a subshell) restarted or froze: the pid files under $T are
# the record, not shell variables.

# libgit2 1.5.1 leaks on every push (see tests/lsan.supp, which ctest
# passes to every test); the slow unwinder makes the stacks reach the
# suppressed frames, as the libraries have no frame pointers.
export ASAN_OPTIONS="fast_unwind_on_malloc=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"

SSHD_BIN=${SSHD_BIN:-/usr/sbin/sshd}
SSHD_DIR="$T/sshd"
CLIENT_KEY="$T/client_key"
export SSHD_DIR CLIENT_KEY

_sshd_stop_all() {
	local f pid
	for f in "$T"/sshd*/launched.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f" 2>/dev/null) || continue
		[ -n "$pid" ] || continue
		kill -CONT "$pid" 2>/dev/null || true
		kill "$pid" 2>/dev/null || true
	done
	for f in "$T"/sshd*/launched.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f" 2>/dev/null) || continue
		[ -n "$pid" ] || continue
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -9 "$pid" 2>/dev/null || true
	done
}
trap '_sshd_stop_all; _test_cleanup' EXIT

_free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# sshd_host_key_new: a new host key (the next start_sshd serves it): the
# server looks, to a client, like a reinstalled host or an impostor.
sshd_host_key_new() {
	rm -f "$SSHD_DIR/host_ed25519" "$SSHD_DIR/host_ed25519.pub"
	ssh-keygen -q -t ed25519 -N '' -C "dbgit-test-host" -f "$SSHD_DIR/host_ed25519"
}

# start_sshd [PORT [ADDR]]: starts (or restarts, on PORT) the server and
# waits until it accepts connections. Creates the host key and the client
# key ($CLIENT_KEY, authorized for root) the first time. A second server
# needs its own SSHD_DIR (under $T, named sshd*), e.g. in a subshell.
start_sshd() {
	local port=${1:-${SSHD_PORT:-}} addr=${2:-${SSHD_ADDR:-127.0.0.1}}
	mkdir -p "$SSHD_DIR" /run/sshd
	chmod 700 "$SSHD_DIR"
	[ -f "$SSHD_DIR/host_ed25519" ] || sshd_host_key_new
	[ -f "$CLIENT_KEY" ] || ssh-keygen -q -t ed25519 -N '' -C "dbgit-test-client" -f "$CLIENT_KEY"
	[ -f "$SSHD_DIR/authorized_keys" ] || cp "$CLIENT_KEY.pub" "$SSHD_DIR/authorized_keys"
	[ -n "$port" ] || port=$(_free_port)
	cat >"$SSHD_DIR/sshd_config" <<EOF
ListenAddress $addr
Port $port
HostKey $SSHD_DIR/host_ed25519
PidFile $SSHD_DIR/sshd.pid
AuthorizedKeysFile $SSHD_DIR/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
LogLevel VERBOSE
EOF
	SSHD_PORT=$port
	SSHD_ADDR=$addr
	export SSHD_PORT SSHD_ADDR
	_sshd_launch
}

# _sshd_launch: runs the server on its sshd_config and waits until it
# accepts connections.
_sshd_launch() {
	"$SSHD_BIN" -D -e -f "$SSHD_DIR/sshd_config" >>"$SSHD_DIR/sshd.log" 2>&1 </dev/null &
	SSHD_PID=$!
	export SSHD_PID
	echo "$SSHD_PID" >"$SSHD_DIR/launched.pid"
	test_track_pid "$SSHD_PID"
	local i
	for i in $(seq 1 50); do
		if (exec 3<>"/dev/tcp/$SSHD_ADDR/$SSHD_PORT") 2>/dev/null; then
			return 0
		fi
		kill -0 "$SSHD_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "sshd did not start on $SSHD_ADDR port $SSHD_PORT:" >&2
	cat "$SSHD_DIR/sshd.log" >&2
	return 1
}

# sshd_reconfigure TEXT: stops the server, appends TEXT (lines) to its
# sshd_config and starts it again on the same port.
sshd_reconfigure() {
	stop_sshd
	printf '%s\n' "$1" >>"$SSHD_DIR/sshd_config"
	_sshd_launch
}

# stop_sshd: stops the server (the port stays reserved in $SSHD_PORT for a
# restart) and waits until it is gone.
stop_sshd() {
	local pid
	pid=$(cat "$SSHD_DIR/launched.pid" 2>/dev/null) || return 0
	kill -CONT "$pid" 2>/dev/null || true
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$SSHD_DIR/launched.pid" "$SSHD_DIR/sshd.pid"
}

# freeze_sshd / thaw_sshd: the server keeps its port but never answers, as
# a hung host does (the kernel still completes TCP handshakes).
freeze_sshd() { kill -STOP "$(cat "$SSHD_DIR/launched.pid")"; }
thaw_sshd() { kill -CONT "$(cat "$SSHD_DIR/launched.pid")"; }

# sshd_known_hosts FILE: records the server's host key in FILE, the way a
# user would (ssh-keyscan), as "[127.0.0.1]:PORT ssh-ed25519 ..." (or the
# bare address on port 22).
sshd_known_hosts() {
	ssh-keyscan -p "$SSHD_PORT" -t ed25519 "$SSHD_ADDR" 2>/dev/null >>"$1"
	grep -q ssh-ed25519 "$1"
}

# sshd_fingerprint: the host key's SHA256 fingerprint as OpenSSH prints it.
sshd_fingerprint() {
	ssh-keygen -l -E sha256 -f "$SSHD_DIR/host_ed25519.pub" | awk '{print $2}'
}

# ssh_git: runs git with ssh reaching the test server with the client key
# and the host key pinned, for checks from "another machine".
ssh_git() {
	GIT_SSH_COMMAND="ssh -i $CLIENT_KEY -o IdentitiesOnly=yes -o UserKnownHostsFile=$SSHD_DIR/client_known_hosts -o StrictHostKeyChecking=accept-new -o BatchMode=yes" git "$@"
}
