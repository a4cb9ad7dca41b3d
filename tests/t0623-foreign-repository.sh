#!/bin/bash
# dbgit init accepts an existing bare repository ("using existing
# repository"): one made by git init --bare, or a bare clone of the remote
# after the backup host was lost. Such a repository keeps no reflog (git's
# default for bare repositories) and, cloned, packed refs only; backups
# into it commit, exit 0 and leave git fsck content. Its mode is git's
# (0755 under the usual umask): init says so, as every snapshot is in it.
. "$TEST_SRCDIR/lib/test-lib.sh"

dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }

make_demo_db "$T/app.db"

test_case "a repository made by git init --bare: backups commit and exit 0" '
	git init -q --bare "$T/plain.git"
	chmod 755 "$T/plain.git"
	write_config "$T/dbgit.toml" "$T/plain.git" \
		"[[job]]" "name = \"app\"" "engine = \"sqlite\"" "path = \"$T/app.db\""
	expect_exit 0 dg init
	stderr_has "repository $T/plain.git is open to group or others (mode 0755) and holds every snapshot; chmod 700 $T/plain.git"
	chmod 700 "$T/plain.git"
	expect_exit 0 dg init
	test_must_fail grep -q "open to group or others" "$T/.stderr"
	expect_exit 0 dg backup
	expect_exit 0 dg backup
	[ "$(git --git-dir="$T/plain.git" rev-list --count backup/app)" = 2 ]
	git --git-dir="$T/plain.git" fsck --full
'

test_case "a bare clone of a dbgit repository (packed refs, no reflog): backup, verify, restore" '
	git clone -q --bare "$T/plain.git" "$T/clone.git"
	write_config "$T/dbgit.toml" "$T/clone.git" \
		"[[job]]" "name = \"app\"" "engine = \"sqlite\"" "path = \"$T/app.db\""
	expect_exit 0 dg backup
	[ "$(git --git-dir="$T/clone.git" rev-list --count backup/app)" = 3 ]
	expect_exit 0 dg verify app --all
	expect_exit 0 dg restore app --to "$T/out.db"
	same_db "$T/app.db" "$T/out.db"
	git --git-dir="$T/clone.git" fsck --full
'

test_done
