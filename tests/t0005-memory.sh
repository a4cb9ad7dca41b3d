#!/bin/bash
# Memory stays bounded: backing up (dump, store, verify) and restoring a
# ~100 MB database takes about the same peak memory as a ~10 MB one. The
# test build runs under AddressSanitizer, which inflates memory, so the
# two are compared with each other rather than with a fixed limit, and
# ASan's quarantine of freed memory (which would grow with the total
# allocated, not the live set) is turned off.
. "$TEST_SRCDIR/lib/test-lib.sh"


if ! [ -x /usr/bin/time ]; then
	echo "ok - peak memory # SKIP /usr/bin/time is missing (apt-get install time)"
	test_done
	exit
fi
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
REPO=$T/backups.git
# make_db FILE ROWS: ROWS rows of ~120 bytes of text, so the dump is ~ROWS * 130 bytes.
make_db() {
	sqlite3 "$1" "CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT, b REAL, c INTEGER);
	WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $2)
	INSERT INTO t SELECT i, hex(randomblob(50)), i / 7.0, i * 31 FROM s;
	CREATE INDEX t_c ON t(c);"
}
# peak_kb CMD...: runs CMD, prints its peak resident memory in KiB.
peak_kb() {
	/usr/bin/time -f "%M" -o "$T/.time" "$@" >/dev/null 2>"$T/.stderr" || { cat "$T/.stderr" >&2; return 1; }
	tail -1 "$T/.time"
}

make_db "$T/small.db" 80000
make_db "$T/big.db" 800000
write_config "$T/dbgit.toml" "$REPO" \
	'[[job]]' 'name = "small"' 'engine = "sqlite"' "path = \"$T/small.db\"" \
	'[[job]]' 'name = "big"' 'engine = "sqlite"' "path = \"$T/big.db\""
"$DBGIT" --config "$T/dbgit.toml" init >/dev/null

test_case "the databases are 10 MB and 100 MB" '
	ls -l small.db big.db
	[ "$(stat -c %s big.db)" -ge $((90 * 1024 * 1024)) ]
	[ "$(stat -c %s small.db)" -le $((15 * 1024 * 1024)) ]
'

test_case "backup of a 10x larger database needs about the same memory" '
	small=$(peak_kb "$DBGIT" --config dbgit.toml backup small)
	big=$(peak_kb "$DBGIT" --config dbgit.toml backup big)
	echo "peak RSS: small ${small} KiB, big ${big} KiB"
	[ "$big" -lt $((2 * small + 20 * 1024)) ]
'

test_case "restore of a 10x larger database needs about the same memory" '
	small=$(peak_kb "$DBGIT" --config dbgit.toml restore small --to r-small.db)
	big=$(peak_kb "$DBGIT" --config dbgit.toml restore big --to r-big.db)
	echo "peak RSS: small ${small} KiB, big ${big} KiB"
	[ "$big" -lt $((2 * small + 20 * 1024)) ]
	[ "$(sqlite3 r-big.db "SELECT count(*) FROM t")" = 800000 ]
'

test_done
