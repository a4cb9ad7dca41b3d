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
		if [ -S "$MY_SOCK" ] && myq mysql -e "SELECT 1" >/dev/null 2>&1; then break; fi
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
# included, by mariadb-dump --no-data) and, table by table, the same rows
# (in any order: a table without a key has no order), each value compared
# exactly (FLOAT as the double it is, which mariadb-dump would round).
my_same_db() {
	diff <(my_schema "$1") <(my_schema "$2") >&2
	local ta tb t
	ta=$(my_tables "$1")
	tb=$(my_tables "$2")
	[ "$ta" = "$tb" ] || { echo "tables differ: $ta / $tb" >&2; return 1; }
	while IFS= read -r t; do
		[ -n "$t" ] || continue
		diff <(my_rows "$1" "$t") <(my_rows "$2" "$t") >&2 || { echo "rows of $t differ" >&2; return 1; }
	done <<<"$ta"
}
my_schema() {
	mariadb-dump --no-defaults -S "$MY_SOCK" -u root --skip-comments --skip-dump-date --routines --events \
		--triggers --no-data "$1"
}
my_tables() {
	myq "$1" -e "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()
		AND TABLE_TYPE = 'BASE TABLE' ORDER BY BINARY TABLE_NAME"
}
# my_rows DB TABLE: every row, each column as exact text, sorted.
my_rows() {
	local cols
	cols=$(myq "$1" -e "SELECT GROUP_CONCAT(CASE WHEN DATA_TYPE = 'float' THEN
		CONCAT('QUOTE(CAST(CAST(\`', REPLACE(COLUMN_NAME, '\`', '\`\`'), '\` AS DOUBLE) AS CHAR))')
		WHEN DATA_TYPE IN ('double', 'decimal', 'tinyint', 'smallint', 'mediumint', 'int', 'bigint') THEN
		CONCAT('QUOTE(CAST(\`', REPLACE(COLUMN_NAME, '\`', '\`\`'), '\` AS CHAR))')
		ELSE CONCAT('QUOTE(HEX(\`', REPLACE(COLUMN_NAME, '\`', '\`\`'), '\`))') END ORDER BY ORDINAL_POSITION)
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '$(printf %s "$2" | sed "s/'/''/g")'")
	myq "$1" -e "SELECT CONCAT_WS(',', $cols) FROM \`$(printf %s "$2" | sed 's/`/``/g')\`" | LC_ALL=C sort
}
