#!/bin/bash
# t0702: the repository's disk fills up in the middle of a backup. The job
# fails (exit 1) naming the cause, the branch stays where it was, the space
# the failed attempt took is given back at once (the objects directory is
# as it was), and once space is freed the next run works.
. "$TEST_SRCDIR/lib/test-lib.sh"

DISK=$T/disk
REPO=$DISK/backups.git
BRANCH=refs/heads/backup/app
export TMPDIR=$T/tmp
mkdir -p "$TMPDIR" "$DISK"
# A small file system of its own (root only); unmounted even if a case fails.
if ! mount -t tmpfs -o size=6m,mode=0700 tmpfs "$DISK" 2>"$T/mount.err"; then
	echo "ok - skipped: cannot mount a tmpfs here ($(cat "$T/mount.err"))"
	test_done
	exit 0
fi
trap 'umount "$DISK" 2>/dev/null; _test_cleanup' EXIT

write_config "$T/dbgit.toml" "$REPO" '[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\""
export DBGIT_CONFIG=$T/dbgit.toml
sqlite3 "$T/app.db" "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB);
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
	INSERT INTO t SELECT i, randomblob(100) FROM n;"
"$DBGIT" init >/dev/null
"$DBGIT" backup >/dev/null

tip() { git --git-dir="$REPO" rev-parse "$BRANCH"; }
# Bytes and files under the objects directory.
objects() { echo "$(du -s --block-size=1 "$REPO/objects" | cut -f1) bytes, $(find "$REPO/objects" -type f | wc -l) files"; }

test_case "a full disk: exit 1, branch unchanged, the attempt's space given back" '
	before=$(tip)
	used=$(objects)
	# Random bytes do not compress: about 8 MB of new blobs for 6 MB of disk.
	sqlite3 app.db "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 8000)
		INSERT INTO t SELECT 10000 + i, randomblob(1000) FROM n;"
	expect_exit 1 "$DBGIT" backup
	stderr_has "No space left on device"
	[ "$(tip)" = "$before" ]
	[ "$(objects)" = "$used" ] || { echo "objects: $used before, $(objects) after" >&2; exit 1; }
	[ -z "$(compgen -G "$REPO/objects/tmp_object_git2_*")" ]
	[ -z "$(ls -A "$TMPDIR")" ]
	git --git-dir="$REPO" fsck --full --no-progress
'

test_case "a second attempt on the full disk fails the same way (nothing piled up)" '
	used=$(objects)
	expect_exit 1 "$DBGIT" backup
	[ "$(objects)" = "$used" ]
'

test_case "once space is freed the next run commits and verifies" '
	before=$(tip)
	mount -o remount,size=64m "$DISK"
	expect_exit 0 "$DBGIT" backup
	[ "$(tip)" != "$before" ]
	expect_exit 0 "$DBGIT" verify app
	git --git-dir="$REPO" fsck --full --no-progress
	"$DBGIT" restore app --to restored.db >/dev/null 2>&1
	same_db app.db restored.db
'

test_done
