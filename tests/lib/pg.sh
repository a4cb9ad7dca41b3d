# pg.sh: a private PostgreSQL 15 server for a scenario test. Source after
# test-lib.sh. pg_start makes a cluster in $T/pg (initdb with
# scram-sha-256, run as the postgres user, parents made 0755 so that user
# can reach it), on its own port and socket directory, registered with
# test_track_pid so it is stopped even when a case fails.
#   PG_BIN PG_SOCK PG_PORT PG_PASS  (PG_PASS: the password file, 0600)
#   pgq DB SQL    runs SQL as the superuser "dbgit" over the socket
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)

pg_start() {
	[ -n "$PG_BIN" ] || { echo "pg.sh: PostgreSQL server not installed" >&2; return 1; }
	PG_DIR=$T/pg
	PG_SOCK=$PG_DIR/sock
	PG_PORT=$((20000 + ($$ % 20000)))
	PG_PASS=$T/pg.pass
	mkdir -p "$PG_DIR/sock"
	# the postgres user must reach the data directory through every parent
	local d=$PG_DIR
	while [ "$d" != / ]; do chmod o+x "$d"; d=$(dirname "$d"); done
	chown postgres "$PG_DIR" "$PG_SOCK"
	printf 'pw-%s-secret\n' "$$" >"$T/pw.clear"
	install -m 0644 -o postgres "$T/pw.clear" "$PG_DIR/pwfile"
	runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" -U dbgit --pwfile="$PG_DIR/pwfile" \
		--auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1
	rm -f "$PG_DIR/pwfile"
	install -m 0600 "$T/pw.clear" "$PG_PASS"
	rm -f "$T/pw.clear"
	runuser -u postgres -- "$PG_BIN/postgres" -D "$PG_DIR/data" -p "$PG_PORT" -k "$PG_SOCK" \
		-c listen_addresses= -c fsync=off >"$PG_DIR/server.log" 2>&1 &
	PG_PID=$!
	test_track_pid "$PG_PID"
	local i
	for i in $(seq 1 100); do
		"$PG_BIN/pg_isready" -q -h "$PG_SOCK" -p "$PG_PORT" && return 0
		sleep 0.1
	done
	cat "$PG_DIR/server.log" >&2
	return 1
}

pg_stop() {
	kill "$PG_PID" 2>/dev/null || true
	while kill -0 "$PG_PID" 2>/dev/null; do sleep 0.1; done
}

pgq() {
	local db=$1; shift
	PGPASSFILE=/dev/null PGPASSWORD=$(cat "$PG_PASS") psql -X -q -A -t -v ON_ERROR_STOP=1 \
		-h "$PG_SOCK" -p "$PG_PORT" -U dbgit -d "$db" "$@"
}

# pg_same_db A B: the two databases hold the same schema (pg_dump -s, its
# random \restrict key left out) and, table by table, the same rows.
pg_same_db() {
	local a=$1 b=$2 t
	diff <(pg_schema "$a") <(pg_schema "$b") >&2
	local ta tb
	ta=$(pg_tables "$a")
	tb=$(pg_tables "$b")
	[ "$ta" = "$tb" ] || { echo "tables differ: $ta / $tb" >&2; return 1; }
	for t in $ta; do
		[ "$(pg_rows "$a" "$t")" = "$(pg_rows "$b" "$t")" ] || { echo "rows of $t differ" >&2; return 1; }
	done
}
pg_schema() {
	PGPASSFILE=/dev/null PGPASSWORD=$(cat "$PG_PASS") "$PG_BIN/pg_dump" -s -h "$PG_SOCK" -p "$PG_PORT" -U dbgit "$1" |
		grep -v '^\\\(un\)\?restrict '
}
pg_tables() {
	pgq "$1" -c "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
		WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
}
pg_rows() {
	pgq "$1" -c "SELECT count(*) || ' ' || coalesce(md5(string_agg(x::text, E'\n' ORDER BY x::text COLLATE \"C\")), '')
		FROM $2 x"
}
