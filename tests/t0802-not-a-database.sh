#!/bin/bash
# t0802: a job whose path points at an empty file or at something that is
# not a SQLite database fails (exit 1) with one line naming the file, and
# commits nothing: SQLite would read a 0-byte file as a good empty database,
# and a typo'd path would then be "backed up" every night as nothing.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
refs() { git --git-dir="$REPO" for-each-ref --format='%(objectname) %(refname)'; }

make_demo_db "$T/app.db"
write_config "$T/dbgit.toml" "$REPO" \
	'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"" '' \
	'[[job]]' 'name = "bin"' 'engine = "sqlite"' 'format = "binary"' "path = \"$T/app.db\""
dg init >/dev/null
dg backup

test_case "a database truncated to 0 bytes: exit 1, one line per job, nothing committed" '
	refs >refs.before
	cp app.db app.db.good
	: >app.db
	expect_exit 1 dg backup
	stderr_has "job '\''app'\'': dump failed: database $T/app.db is empty (0 bytes): not a SQLite database; wrong path?"
	stderr_has "job '\''bin'\'': dump failed: database $T/app.db is empty (0 bytes)"
	[ "$(wc -l <.stderr)" = 2 ]
	refs >refs.after
	cmp refs.before refs.after
	[ "$(git --git-dir="$REPO" rev-list --count backup/app)" = 1 ]
	git --git-dir="$REPO" fsck --full
'

test_case "a file that is not a SQLite database: exit 1, one clear line, nothing committed" '
	refs >refs.before
	printf "name,email\nada,ada@example.org\n" >app.db
	expect_exit 1 dg backup app
	stderr_has "job '\''app'\'': dump failed: database $T/app.db is not a SQLite database (file is not a database): wrong path?"
	[ "$(wc -l <.stderr)" = 1 ]
	expect_exit 1 dg backup bin --json
	stderr_has "database $T/app.db is not a SQLite database"
	[ "$(wc -l <.stderr)" = 1 ]
	refs >refs.after
	cmp refs.before refs.after
'

test_case "the database back in place: the next backup is good again" '
	cp app.db.good app.db
	expect_exit 0 dg backup
	[ "$(git --git-dir="$REPO" rev-list --count backup/app)" = 2 ]
'

test_done
