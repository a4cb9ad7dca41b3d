#!/bin/bash
# t0011: a UTF-16 database comes back as UTF-16, with its text exact -
# including text holding NUL, CR and LF, which the dump writes as bytes.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
for enc in UTF-16le UTF-16be; do
	sqlite3 "$T/$enc.db" "PRAGMA encoding='$enc'; CREATE TABLE t(a TEXT, b);
		INSERT INTO t VALUES ('héllo wörld', 1), ('line' || char(10) || 'two' || char(0) || 'nul', 2), ('ünï' || char(13), 3);"
done
write_config "$T/dbgit.toml" "$REPO" \
	'[[job]]' 'name = "le"' 'engine = "sqlite"' "path = \"$T/UTF-16le.db\"" '' \
	'[[job]]' 'name = "be"' 'engine = "sqlite"' "path = \"$T/UTF-16be.db\""
"$DBGIT" --config "$T/dbgit.toml" init >/dev/null

test_case "UTF-16 databases back up, verify and restore with their encoding and exact text" '
	"$DBGIT" --config dbgit.toml backup
	for job in le be; do
		src=UTF-16${job}.db
		"$DBGIT" --config dbgit.toml restore $job --to $job.db
		[ "$(sqlite3 $job.db "PRAGMA encoding")" = "$(sqlite3 $src "PRAGMA encoding")" ]
		[ "$(sqlite3 $job.db "SELECT group_concat(hex(a), \",\") FROM t")" = "$(sqlite3 $src "SELECT group_concat(hex(a), \",\") FROM t")" ]
		[ "$(sqlite3 $job.db "SELECT group_concat(typeof(a), \",\") FROM t")" = "text,text,text" ]
	done
'

test_case "and the SQL files alone rebuild them the same way" '
	mkdir snap
	git --git-dir="$REPO" archive backup/be | tar -x -C snap
	(cd snap && find . -name "*.sql" | LC_ALL=C sort | xargs cat) | sqlite3 plain.db
	[ "$(sqlite3 plain.db "PRAGMA encoding")" = UTF-16be ]
	[ "$(sqlite3 plain.db "SELECT hex(a) FROM t WHERE b = 2")" = "$(sqlite3 UTF-16be.db "SELECT hex(a) FROM t WHERE b = 2")" ]
'

test_done
