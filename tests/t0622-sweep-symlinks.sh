#!/bin/bash
# The sweep of a dead writer's leftovers (a ref's .lock file) stays inside
# the repository: a symlink under refs/ or logs/ - to a shared folder, to
# / - is not followed, so no other program's lock file is deleted.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }

make_demo_db "$T/app.db"
write_config "$T/dbgit.toml" "$REPO" \
	'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\""
dg init >/dev/null
dg backup >/dev/null

test_case "an old .lock file behind a symlink in refs/ or logs/ is left alone" '
	mkdir "$T/shared"
	touch -d "2 hours ago" "$T/shared/other-program.lock"
	ln -s "$T/shared" "$REPO/refs/shared"
	mkdir -p "$REPO/logs"
	ln -s "$T/shared" "$REPO/logs/shared"
	expect_exit 0 dg backup
	test -f "$T/shared/other-program.lock"
	rm "$REPO/refs/shared" "$REPO/logs/shared"
'

test_case "a stale .lock of the repository itself is still swept" '
	touch -d "2 hours ago" "$REPO/refs/heads/backup/app.lock"
	expect_exit 0 dg backup
	stderr_has "removed a stale lock"
	test_must_fail test -e "$REPO/refs/heads/backup/app.lock"
	git --git-dir="$REPO" fsck --full
'

test_done
