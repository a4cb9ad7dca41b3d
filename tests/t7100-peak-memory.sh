#!/bin/bash
# t7100: peak memory (VmHWM, as /usr/bin/time's %M reads it) of backup and
# restore does not grow with the size of one large value, nor with the
# number of rows. A 24 MiB BLOB costs a backup (dump, verification restore,
# check) less than 2 copies of itself above what a one-row database needs,
# and a restore less than 3; before the row fast path (sqlite_rows.c) a
# restore held the row's statement text (2x), the compiled literal and the
# record, and a backup peaked near 7 copies. 100,000 rows cost less than
# 32 MiB above the one-row database. The test build runs under
# AddressSanitizer, whose quarantine of freed memory is turned off here (it
# would grow with the total allocated, not the live set), and whose
# overhead the one-row database's peak takes in.
. "$TEST_SRCDIR/lib/test-lib.sh"

if ! [ -x /usr/bin/time ]; then
	echo "ok - peak memory # SKIP /usr/bin/time is missing (apt-get install time)"
	test_done
	exit
fi
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
REPO=$T/backups.git
MIB=$((1024 * 1024))
BLOB=$((24 * MIB))

sqlite3 "$T/tiny.db" "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, data BLOB); INSERT INTO t VALUES(1, 'one', X'00');"
sqlite3 "$T/blob.db" "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, data BLOB);
	INSERT INTO t VALUES(1, 'small', X'0102'), (2, 'big', randomblob($BLOB)), (3, 'after', NULL);"
sqlite3 "$T/rows.db" "CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT, b REAL, c INTEGER, d BLOB);
	WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 100000)
	INSERT INTO t SELECT i, hex(randomblob(30)), i / 7.0, i * 31, randomblob(16) FROM s;
	CREATE INDEX t_c ON t(c);"
write_config "$T/dbgit.toml" "$REPO" \
	'[[job]]' 'name = "tiny"' 'engine = "sqlite"' "path = \"$T/tiny.db\"" \
	'[[job]]' 'name = "blob"' 'engine = "sqlite"' "path = \"$T/blob.db\"" \
	'[[job]]' 'name = "rows"' 'engine = "sqlite"' "path = \"$T/rows.db\""
"$DBGIT" --config "$T/dbgit.toml" init >/dev/null

# peak_kb CMD...: runs CMD, prints its peak resident memory in KiB.
peak_kb() {
	/usr/bin/time -f "%M" -o "$T/.time" "$@" >/dev/null 2>"$T/.stderr" || { cat "$T/.stderr" >&2; return 1; }
	tail -1 "$T/.time"
}

test_case "the one-row database: what any backup and restore needs" '
	peak_kb "$DBGIT" --config dbgit.toml backup tiny --no-push --no-rotate >tiny.backup
	peak_kb "$DBGIT" --config dbgit.toml restore tiny --format sql --to r-tiny.db >tiny.restore
	echo "one row: backup $(cat tiny.backup) KiB, restore $(cat tiny.restore) KiB" >>figures
	same_db tiny.db r-tiny.db
'

test_case "backup of a 24 MiB BLOB needs less than 2 more copies of it" '
	kb=$(peak_kb "$DBGIT" --config dbgit.toml backup blob --no-push --no-rotate)
	echo "BLOB backup: ${kb} KiB, $(( (kb - $(cat tiny.backup)) * 1024 * 100 / BLOB ))% of the BLOB above one row" | tee -a figures
	[ $(( (kb - $(cat tiny.backup)) * 1024 )) -lt $((2 * BLOB)) ]
'

test_case "restore of it (from SQL) needs less than 3 more, and gives it back" '
	kb=$(peak_kb "$DBGIT" --config dbgit.toml restore blob --format sql --to r-blob.db)
	echo "BLOB restore: ${kb} KiB, $(( (kb - $(cat tiny.restore)) * 1024 * 100 / BLOB ))% of the BLOB above one row" | tee -a figures
	[ $(( (kb - $(cat tiny.restore)) * 1024 )) -lt $((3 * BLOB)) ]
	same_db blob.db r-blob.db
'

test_case "100,000 rows: backup and restore need less than 32 MiB more than one row" '
	kb=$(peak_kb "$DBGIT" --config dbgit.toml backup rows --no-push --no-rotate)
	echo "100,000 rows backup: ${kb} KiB" | tee -a figures
	[ $(( (kb - $(cat tiny.backup)) * 1024 )) -lt $((32 * MIB)) ]
	kb=$(peak_kb "$DBGIT" --config dbgit.toml restore rows --format sql --to r-rows.db)
	echo "100,000 rows restore: ${kb} KiB" | tee -a figures
	[ $(( (kb - $(cat tiny.restore)) * 1024 )) -lt $((32 * MIB)) ]
	same_db rows.db r-rows.db
'

test_case "a night that packs (dbgit's own pack writer, all three jobs' objects) needs less than 32 MiB more" '
	sqlite3 rows.db "UPDATE t SET a = lower(a) WHERE id % 100 = 0"
	DBGIT_TEST_LOOSE_MIN=1 "$DBGIT" --config dbgit.toml backup rows --no-push --no-rotate
	sqlite3 rows.db "UPDATE t SET a = upper(a) WHERE id % 100 = 1"
	kb=$(DBGIT_TEST_LOOSE_MIN=1 peak_kb "$DBGIT" --config dbgit.toml -v backup rows --no-push --no-rotate)
	grep -q "pack: .* into one pack of .* [1-9][0-9]* previous versions re-stored as deltas" .stderr
	echo "a night that packs: ${kb} KiB" | tee -a figures
	[ $(( (kb - $(cat tiny.backup)) * 1024 )) -lt $((32 * MIB)) ]
'

# The figures, as TAP comments.
sed 's/^/# peak RSS, /' "$T/figures"
test_done
