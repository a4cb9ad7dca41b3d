#!/bin/bash
# t4022-lineage-cache: a reclaim that packs with libgit2's packbuilder
# names each blob for the packer (its logical file and the hash of its
# first line) and keeps the names in <repository>/dbgit-lineage, so the
# next reclaim reads only the blobs it has not named before. (A reclaim
# packs with dbgit's own writer, which needs no names, unless a ref names
# something other than a commit: the tag on a blob below makes every
# reclaim here take the packbuilder. t4020 shows the nightly pack's use of
# the same cache.) The cache is read from the repository, so it is
# untrusted: a torn, truncated, oversized or foreign file is ignored and
# rebuilt, and even a well-formed cache full of wrong names only steers
# the delta search: every object and every snapshot stays intact.
. "$TEST_SRCDIR/lib/test-lib.sh"

export TZ=UTC
REPO=$T/backups.git
CACHE=$REPO/dbgit-lineage
write_config "$T/dbgit.toml" "$REPO" '[[job]]' 'name = "app"' 'engine = "sqlite"' \
	"path = \"$T/app.db\"" '[job.keep]' 'last = 100'
export DBGIT_CONFIG=$T/dbgit.toml
for i in $(seq 1 10); do
	echo "CREATE TABLE t$i(id INTEGER PRIMARY KEY, v TEXT);
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
	INSERT INTO t$i SELECT i, hex(randomblob(30)) FROM n;"
done | sqlite3 "$T/app.db"

# reclaim OUT: dbgit -v rotate (which reclaims), its log in OUT; prints
# "NAMED READ" from the log line.
reclaim() {
	"$DBGIT" -v rotate app >/dev/null 2>"$1"
	sed -n 's/.*; \([0-9]*\) blobs named, \([0-9]*\) of them read.*/\1 \2/p' "$1"
}
# intact: git fsck accepts the repository and the latest snapshot restores.
intact() {
	git --git-dir="$REPO" fsck --full --strict
	rm -f r.db
	"$DBGIT" restore app --to r.db
	same_db app.db r.db
}

test_case "the first reclaim reads every blob it names and writes the cache" '
	"$DBGIT" init
	for n in 1 2 3; do
		sqlite3 app.db "UPDATE t1 SET v = \"night $n\" WHERE id = 1"
		DBGIT_NOW="2024-03-0${n}T03:00:00Z" "$DBGIT" backup --no-push --no-rotate
	done
	git --git-dir="$REPO" tag marker "$(git --git-dir="$REPO" rev-parse backup/app:MANIFEST.json)"
	reclaim first.err >first
	read named read <first
	[ "$named" -gt 20 ]
	[ "$read" = "$named" ]
	[ -f "$CACHE" ]
	[ "$(stat -c %a "$CACHE")" = 600 ]
	echo "$named" >all-named
	intact
'

test_case "the next reclaim reads no blob it named before" '
	reclaim second.err >second
	[ "$(cat second)" = "$(cat all-named) 0" ]
	intact
'

test_case "after a new snapshot only its new blobs are read" '
	sqlite3 app.db "UPDATE t1 SET v = \"night 4\" WHERE id = 1"
	DBGIT_NOW="2024-03-04T03:00:00Z" "$DBGIT" backup --no-push --no-rotate
	git --git-dir="$REPO" diff-tree -r --diff-filter=AM backup/app~1 backup/app >new-blobs
	[ -s new-blobs ]
	reclaim third.err >third
	read named read <third
	[ "$named" = "$(($(cat all-named) + $(wc -l <new-blobs)))" ]
	[ "$read" = "$(wc -l <new-blobs)" ]
	echo "$named" >all-named
'

# bad NAME: the cache made bad by the shell in $bad; the reclaim ignores it
# (saying so), reads every blob again, and leaves a good cache behind.
for bad in \
	"flip:printf X | dd of=\$CACHE bs=1 seek=40 conv=notrunc 2>/dev/null" \
	"truncated:truncate -s 100 \$CACHE" \
	"empty:: >\$CACHE" \
	"magic:printf NOTCACHE | dd of=\$CACHE bs=1 seek=0 conv=notrunc 2>/dev/null" \
	"count:printf '\\377\\377\\377\\377\\377\\377\\377\\177' | dd of=\$CACHE bs=1 seek=8 conv=notrunc 2>/dev/null" \
	"longer:head -c 4096 /dev/urandom >>\$CACHE"; do
	name=${bad%%:*}
	export BAD=${bad#*:}
	test_case "a lineage cache made bad ($name) is ignored and rebuilt" '
		eval "$BAD"
		reclaim bad.err >bad
		grep -q "ignoring the lineage cache" bad.err
		[ "$(cat bad)" = "$(cat all-named) $(cat all-named)" ]
		intact
		reclaim good.err >good
		[ "$(cat good)" = "$(cat all-named) 0" ]
	'
done

test_case "a directory where the cache should be: the reclaim still succeeds" '
	rm -f "$CACHE"
	mkdir "$CACHE"
	reclaim dir.err >dir
	[ "$(cat dir)" = "$(cat all-named) $(cat all-named)" ]
	intact
	rmdir "$CACHE"
'

test_case "a well-formed cache of wrong names changes no object and no snapshot" '
	reclaim fresh.err >/dev/null
	python3 - "$CACHE" <<-PY
	import hashlib, os, sys
	p = sys.argv[1]
	d = open(p, "rb").read()
	body = bytearray(d[:-64])
	n = int.from_bytes(body[8:16], "little")
	for i in range(n):
	    off = 16 + 28 * i + 20
	    body[off:off + 8] = os.urandom(8)
	open(p, "wb").write(bytes(body) + hashlib.sha256(bytes(body)).hexdigest().encode())
	PY
	reclaim wrong.err >wrong
	[ "$(cat wrong)" = "$(cat all-named) 0" ]
	test_must_fail grep -q "ignoring the lineage cache" wrong.err
	intact
	rm -f r.db
	"$DBGIT" restore app HEAD~3 --to r.db
	[ "$(sqlite3 r.db "SELECT v FROM t1 WHERE id = 1")" = "night 1" ]
'

test_done
