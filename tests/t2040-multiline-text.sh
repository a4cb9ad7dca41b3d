#!/bin/bash
# t2040: multi-line TEXT in a dump is quoted lines joined by char(), as the
# sqlite3 shell's .dump writes it: `dbgit diff` of a changed paragraph shows
# the words (not CAST(X'4C6F72...') hex), every row stays on one line, and
# the value comes back bit for bit through dbgit restore and through the
# README's git-only restore, in UTF-8 and UTF-16 databases.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }

# Notes with LF, CR LF, blank lines, a quote, non-ASCII; one with NUL stays hex.
make_notes() {
	sqlite3 "$1" <<SQL
PRAGMA encoding = '$2';
CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT);
INSERT INTO notes VALUES
	(1, 'Dear customer,' || char(10) || 'your order has shipped.' || char(10) || 'Regards'),
	(2, 'windows line' || char(13,10) || 'it''s here' || char(13,10,13,10) || 'caf' || char(233)),
	(3, char(10) || 'starts and ends with a break' || char(10)),
	(4, CAST(X'610A00' AS TEXT));
SQL
}

make_notes "$T/notes.db" UTF-8
make_notes "$T/notes16.db" UTF-16be
write_config "$T/dbgit.toml" "$REPO" '[[job]]' 'name = "notes"' 'engine = "sqlite"' "path = \"$T/notes.db\"" \
	'' '[[job]]' 'name = "notes16"' 'engine = "sqlite"' "path = \"$T/notes16.db\""
dg init >/dev/null
dg backup --no-push >/dev/null

test_case "a multi-line TEXT is written as readable lines, one row per line" '
	rm -rf ex
	mkdir ex
	git --git-dir="$REPO" archive backup/notes | tar -x -C ex
	cat ex/1-table/notes/1-rows-*.sql >rows
	[ "$(wc -l <rows)" = 4 ]
	grep -F "'"'"'Dear customer,'"'"' || char(10) || '"'"'your order has shipped.'"'"' || char(10) || '"'"'Regards'"'"'" rows
	grep -F "'"'"'windows line'"'"' || char(13,10) || '"'"'it'"''"'s here'"'"' || char(13,10,13,10) || '"'"'café'"'"'" rows
	grep -F "char(10) || '"'"'starts and ends with a break'"'"' || char(10)" rows
	# NUL cannot be in a quoted literal: that one stays exact hex.
	grep -F "CAST(X'"'"'610A00'"'"' AS TEXT)" rows
'

test_case "dbgit diff of a changed paragraph shows the words" '
	sqlite3 notes.db "UPDATE notes SET body = replace(body, '"'"'shipped'"'"', '"'"'been delayed'"'"') WHERE id = 1"
	expect_exit 0 dg backup --no-push
	expect_exit 0 dg diff notes
	cp .stdout diff.out
	cat diff.out
	grep -F "your order has shipped." diff.out
	grep -F "your order has been delayed." diff.out
	test_must_fail grep -F "CAST(X" diff.out
'

test_case "the values come back bit for bit through dbgit restore" '
	expect_exit 0 dg restore notes --to "$T/back.db"
	same_db notes.db back.db
	sqlite3 notes.db "SELECT id, typeof(body), hex(body) FROM notes" >want
	sqlite3 back.db "SELECT id, typeof(body), hex(body) FROM notes" >got
	cmp want got
	expect_exit 0 dg restore notes16 --to "$T/back16.db"
	test "$(sqlite3 back16.db "PRAGMA encoding")" = UTF-16be
	sqlite3 notes16.db "SELECT id, typeof(body), hex(body) FROM notes" >want16
	sqlite3 back16.db "SELECT id, typeof(body), hex(body) FROM notes" >got16
	cmp want16 got16
	grep -q 000A want16
	git --git-dir="$REPO" fsck --full
'

test_case "the README restore (git archive, sort, cat, sqlite3 -safe) gives them back too" '
	for job in notes notes16; do
		rm -rf snap "plain-$job.db"
		mkdir snap
		git --git-dir="$REPO" archive "backup/$job" | tar -x -C snap
		(cd snap && find . -type f -name "*.sql" -print0 | LC_ALL=C sort -z | xargs -0 cat) |
			sqlite3 -safe -bail "plain-$job.db"
	done
	same_db notes.db plain-notes.db
	same_db notes16.db plain-notes16.db
	sqlite3 plain-notes16.db "SELECT id, typeof(body), hex(body) FROM notes" >plain16
	cmp want16 plain16
'

test_done
