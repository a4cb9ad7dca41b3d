#!/bin/bash
# t2041: a backup user that may read a WAL database but not write its
# folder (runuser -u nobody). SQLite reads it read-only when the -shm and
# -wal files exist and are readable, and then the backup works; when the
# -shm is missing (no one has the database open) or unreadable, the run
# exits 1 with one line naming the -shm file and what access to give,
# not "attempt to write a readonly database", and no snapshot is committed.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/nb/backups.git
# As nobody, with a home of its own (libgit2 reads $HOME/.gitconfig).
dg_nobody() { runuser -u nobody -- env HOME="$T/nb" "$DBGIT" --config "$T/dbgit.toml" "$@"; }

test_case "runs as root, to run dbgit as nobody (runuser)" '
	[ "$(id -u)" = 0 ] || { echo "t2041 needs root for runuser -u nobody" >&2; exit 1; }
'

# $T is 0700 (mktemp): nobody may pass through it, read data/, write nb/.
chmod 755 "$T"
mkdir "$T/data" "$T/nb"
chown nobody "$T/nb"
sqlite3 "$T/data/app.db" "PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, x TEXT);
	INSERT INTO t(x) VALUES ('one'), ('two');" >/dev/null
chmod 644 "$T/data/app.db"
write_config "$T/dbgit.toml" "$REPO" '[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/data/app.db\""
chmod 644 "$T/dbgit.toml"

test_case "nobody cannot write the folder nor create the -shm: one line saying so, exit 1, nothing committed" '
	test ! -e data/app.db-shm
	test_must_fail runuser -u nobody -- touch "$T/data/probe"
	expect_exit 0 dg_nobody init
	expect_exit 1 dg_nobody backup --no-push
	cat .stderr
	[ "$(wc -l <.stderr)" = 1 ]
	stderr_has "$T/data/app.db is in WAL mode and this user cannot create $T/data/app.db-shm"
	stderr_has "give it write access to folder $T/data"
	test_must_fail grep -F "attempt to write a readonly database" .stderr
	test_must_fail git --git-dir="$REPO" rev-parse --verify -q refs/heads/backup/app
	git --git-dir="$REPO" fsck --full
'

test_case "an -shm nobody cannot read: one line naming it, exit 1" '
	touch data/app.db-shm data/app.db-wal
	chmod 600 data/app.db-shm
	expect_exit 1 dg_nobody backup --no-push
	cat .stderr
	[ "$(wc -l <.stderr)" = 1 ]
	stderr_has "this user cannot read $T/data/app.db-shm: give it read access to $T/data/app.db-shm and $T/data/app.db-wal"
	test_must_fail git --git-dir="$REPO" rev-parse --verify -q refs/heads/backup/app
	rm -f data/app.db-shm data/app.db-wal
'

test_case "with the -shm and -wal there and readable, SQLite reads it read-only: the backup works" '
	# As while the application has the database open: persist_wal keeps
	# both files, and the last row is only in the -wal.
	sqlite3 data/app.db ".filectrl persist_wal 1" "INSERT INTO t(x) VALUES ('"'"'only in the wal'"'"')" >/dev/null
	test -s data/app.db-wal
	chmod 644 data/app.db-shm data/app.db-wal
	expect_exit 0 dg_nobody backup --no-push
	expect_exit 0 dg_nobody restore app --to "$T/nb/back.db"
	same_db data/app.db nb/back.db
	[ "$(sqlite3 nb/back.db "SELECT x FROM t WHERE id = 3")" = "only in the wal" ]
	git --git-dir="$REPO" fsck --full
'

test_done
