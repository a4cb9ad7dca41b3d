#!/bin/bash
# t0704: the durability protocol (src/store/store_internal.h), seen in the
# system calls. A power cut cannot be staged here, but its rules can be
# checked in order: every object is flushed (syncfs) before the branch's
# ref is renamed into place; the ref file, its directory and its reflog
# are fsynced right after; rotation does the same; and reclaim flushes the
# refs and reflogs it relied on before it deletes the first old object.
. "$TEST_SRCDIR/lib/test-lib.sh"

if ! command -v strace >/dev/null; then
	echo "ok - skipped: strace is not installed"
	test_done
	exit 0
fi
# LeakSanitizer cannot run under ptrace.
export ASAN_OPTIONS=detect_leaks=0

REPO=$T/backups.git
REF=$REPO/refs/heads/backup/app
export DBGIT_CONFIG=$T/dbgit.toml
write_config "$DBGIT_CONFIG" "$REPO" '[[job]]' 'name = "app"' 'engine = "sqlite"' \
	"path = \"$T/app.db\"" '[job.keep]' 'last = 1'
make_demo_db "$T/app.db"
"$DBGIT" init >/dev/null
"$DBGIT" backup --no-rotate >/dev/null

# traced OUT ARGS...: dbgit ARGS under strace, the calls that matter in OUT.
traced() {
	local out=$1
	shift
	strace -f -y -o "$out" -e trace=fsync,fdatasync,syncfs,rename,renameat,renameat2,unlink,unlinkat \
		"$DBGIT" "$@"
}
# line OUT PATTERN [AFTER]: number of the first line after line AFTER that
# matches the extended regex PATTERN (fails if none).
line() {
	local n
	# the pattern through the environment: -v would process its escapes
	# (gawk, which mariadb-server brings in, turns "\(" into "(")
	n=$(re="$2" awk -v after="${3:-0}" 'NR > after { if ($0 ~ ENVIRON["re"]) { print NR; exit } }' "$1")
	[ -n "$n" ] || { echo "no line matching $2 after line ${3:-0} of $1" >&2; return 1; }
	echo "$n"
}

test_case "a snapshot: objects flushed, then the ref renamed, then ref, directory and reflog fsynced" '
	sqlite3 app.db "INSERT INTO plain VALUES (10, 10)"
	traced commit.trace backup --no-rotate >/dev/null
	moved=$(line commit.trace "rename\\(\"$REF.lock\", \"$REF\"\\)")
	synced=$(line commit.trace "syncfs\\(")
	[ "$synced" -lt "$moved" ]
	# no object written between the flush and the move
	[ -z "$(sed -n "${synced},${moved}p" commit.trace | grep -E "rename\\(.*objects/")" ]
	line commit.trace "fsync\\([0-9]+<$REF>\\)" "$moved"
	line commit.trace "fsync\\([0-9]+<$REPO/refs/heads/backup>\\)" "$moved"
	line commit.trace "fsync\\([0-9]+<$REPO/logs/refs/heads/backup/app>\\)" "$moved"
'

test_case "rotation and reclaim: the rewritten ref durable, refs flushed before anything is deleted" '
	sqlite3 app.db "INSERT INTO plain VALUES (11, 11)"
	traced rotate.trace backup >/dev/null
	# the snapshot, then the rotation: the second move of the ref
	first=$(line rotate.trace "rename\\(\"$REF.lock\", \"$REF\"\\)")
	rotated=$(line rotate.trace "rename\\(\"$REF.lock\", \"$REF\"\\)" "$first")
	synced=$(awk -v a="$first" -v b="$rotated" "NR > a && NR < b && /syncfs\\(/ { print NR }" rotate.trace)
	[ -n "$synced" ]
	line rotate.trace "fsync\\([0-9]+<$REF>\\)" "$rotated"
	# reclaim rewrites the reflog, writes its pack, then flushes before
	# the first old loose object or pack goes
	reflog=$(line rotate.trace "rename\\(\"$REPO/logs/refs/heads/backup/app.lock\"" "$rotated")
	deleted=$(line rotate.trace "unlink\\(\"$REPO/objects/([0-9a-f][0-9a-f]/|pack/pack-)" "$reflog")
	flushed=$(awk -v a="$reflog" -v b="$deleted" "NR > a && NR < b && /syncfs\\(/ { print NR }" rotate.trace)
	[ -n "$flushed" ] || { sed -n "${reflog},${deleted}p" rotate.trace >&2; exit 1; }
	git --git-dir="$REPO" fsck --full --no-progress
	[ "$(git --git-dir="$REPO" rev-list --count backup/app)" = 1 ]
'

test_done
