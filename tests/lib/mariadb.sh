# mariadb.sh: a private MariaDB server for a scenario test. Source after
# test-lib.sh. my_start runs mariadb-install-db into $T/my and mariadbd
# --no-defaults on its own socket and port (127.0.0.1), registered with
# test_track_pid so it is stopped even when a case fails; it makes the user
# "dbgit" (all privileges) whose password is in MY_PASS (0600).
#   MY_SOCK MY_PORT MY_PASS
#   myq DB [ARGS...]   runs SQL (stdin or -e) as root over the socket,
#                      tab-separated, no column names
MY_BIN=$(command -v mariadbd 2>/dev/null || ls /usr/sbin/mariadbd 2>/dev/null || true)

my_start() {
	[ -n "$MY_BIN" ] || { echo "mariadb.sh: MariaDB server not installed" >&2; return 1; }
	MY_DIR=$T/my
	MY_SOCK=$MY_DIR/sock
	MY_PORT=$((40000 + ($$ % 20000)))
	MY_PASS=$T/my.pass
	mkdir -p "$MY_DIR"
	mariadb-install-db --no-defaults --user=root --datadir="$MY_DIR/data" --auth-root-authentication-method=socket \
		--skip-test-db >"$MY_DIR/install.log" 2>&1 || { cat "$MY_DIR/install.log" >&2; return 1; }
	"$MY_BIN" --no-defaults --user=root --datadir="$MY_DIR/data" --socket="$MY_SOCK" --port="$MY_PORT" \
		--bind-address=127.0.0.1 --pid-file="$MY_DIR/pid" --log-error="$MY_DIR/server.log" \
		--innodb-buffer-pool-size=64M --innodb-log-file-size=16M --innodb-flush-log-at-trx-commit=0 \
		--skip-log-bin --event-scheduler=OFF >/dev/null 2>&1 &
	MY_PID=$!
	test_track_pid "$MY_PID"
	local i
	for i in $(seq 1 200); do
		[ -S "$MY_SOCK" ] && myq mysql -e "SELECT 1" >/dev/null 2>&1 && break
		sleep 0.1
	done
	myq mysql -e "SELECT 1" >/dev/null || { cat "$MY_DIR/server.log" >&2; return 1; }
	printf 'pw-%s-secret\n' "$$" >"$T/pw.clear"
	install -m 0600 "$T/pw.clear" "$MY_PASS"
	rm -f "$T/pw.clear"
	myq mysql -e "CREATE USER dbgit@localhost IDENTIFIED BY 'pw-$$-secret';
		GRANT ALL ON *.* TO dbgit@localhost WITH GRANT OPTION;
		CREATE USER dbgit@'127.0.0.1' IDENTIFIED BY 'pw-$$-secret';
		GRANT ALL ON *.* TO dbgit@'127.0.0.1' WITH GRANT OPTION;"
}

my_stop() {
	kill "$MY_PID" 2>/dev/null || true
	while kill -0 "$MY_PID" 2>/dev/null; do sleep 0.1; done
}

myq() {
	local db=$1
	shift
	mariadb --no-defaults -S "$MY_SOCK" -u root -N -B "$db" "$@"
}

# my_same_db A B: the two databases hold the same tables, views, routines,
# triggers and events (their definitions, AUTO_INCREMENT counters
# included) and, table by table, the same rows.
my_same_db() {
	diff <(my_dump "$1") <(my_dump "$2") >&2
}
my_dump() {
	mariadb-dump --no-defaults -S "$MY_SOCK" -u root --skip-comments --skip-dump-date --routines --events \
		--triggers --hex-blob --order-by-primary --skip-extended-insert --single-transaction "$1"
}
