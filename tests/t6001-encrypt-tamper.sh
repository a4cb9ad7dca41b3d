#!/bin/bash
# t6001-encrypt-tamper: every blob of an encrypted snapshot is authenticated.
# Someone with write access to a remote (or a disk that rots) makes a
# snapshot whose blob has one byte changed - a valid git object, so git
# itself sees nothing wrong. For every encrypted blob of the snapshot in
# turn, verify and restore refuse it with one line naming the snapshot,
# exit 1, and leave no restore target. So do a sealed name changed, a
# chunk moved to another name, and a chunk of an older snapshot put in
# place of the new one.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
G() { git --git-dir="$REPO" "$@"; }
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }

make_demo_db "$T/app.db"
sqlite3 "$T/app.db" "CREATE TABLE notes(id INTEGER PRIMARY KEY, n TEXT);
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 2000)
INSERT INTO notes SELECT i, 'note ' || i || ' ' || hex(randomblob(30)) FROM s;"
"$DBGIT" keygen "$T/k.key" 2>/dev/null
write_config "$T/dbgit.toml" "$REPO" "key_file = \"$T/k.key\"" \
	'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\""
# (format = "both" would give verify a line per copy; t6000 restores both.)
dg init >/dev/null
dg backup
sqlite3 "$T/app.db" "UPDATE notes SET n = 'changed' WHERE id = 1000"
dg backup
GOOD=$(G rev-parse backup/app)

# snapshot_with TREE: a snapshot on the job's branch, on top of the good one.
snapshot_with() {
	local c
	c=$(G commit-tree "$1" -p "$GOOD" -m "app tampered")
	G update-ref refs/heads/backup/app "$c"
}
# replace PATH BLOB: the good tree with PATH (its name in the tree) now BLOB.
replace() {
	rm -f "$T/index"
	GIT_INDEX_FILE=$T/index G read-tree "$GOOD"
	GIT_INDEX_FILE=$T/index G update-index --cacheinfo "100644,$2,$1"
	GIT_INDEX_FILE=$T/index G write-tree
}
# refused WHAT: verify and restore of the branch tip fail in one line, and
# leave no target.
refused() {
	expect_exit 1 dg verify app
	[ "$(wc -l <"$T/.stderr")" = 1 ] || { echo "$1: verify said more than a line" >&2; cat "$T/.stderr" >&2; return 1; }
	grep -q "snapshot [0-9a-f]\{12\}" "$T/.stderr"
	expect_exit 1 dg restore app --to "$T/r.db"
	[ "$(wc -l <"$T/.stderr")" = 1 ] || { echo "$1: restore said more than a line" >&2; cat "$T/.stderr" >&2; return 1; }
	[ ! -e "$T/r.db" ]
	[ -z "$(ls "$T" | grep "^r.db")" ]
}

test_case "the good snapshots verify and restore" '
	expect_exit 0 dg verify app --all
	expect_exit 0 dg restore app --to good.db
	same_db "$T/app.db" good.db
'

test_case "one byte changed in any encrypted blob: verify and restore refuse it, no target" '
	G ls-tree -r "$GOOD" | awk "\$4 != \"dbgit-encrypted\" { print \$3, \$4 }" >blobs
	[ "$(wc -l <blobs)" -ge 20 ]
	while read -r blob path; do
		G cat-file blob "$blob" >b
		size=$(stat -c %s b)
		# A different place in each blob: header, tag, ciphertext.
		off=$(( (0x$(echo "$blob" | cut -c1-6)) % size ))
		python3 -c "import sys; p=sys.argv[1]; o=int(sys.argv[2]); d=bytearray(open(p,\"rb\").read()); d[o]^=0x20; open(p,\"wb\").write(d)" b "$off"
		bad=$(G hash-object -w b)
		snapshot_with "$(replace "$path" "$bad")"
		refused "$path at byte $off"
	done <blobs
	G update-ref refs/heads/backup/app "$GOOD"
'

test_case "the message names the snapshot and the file" '
	sealed=$(G ls-tree -r --name-only "$GOOD" | grep / | head -1)
	G cat-file blob "$GOOD:$sealed" >b
	python3 -c "import sys; p=sys.argv[1]; d=bytearray(open(p,\"rb\").read()); d[-1]^=1; open(p,\"wb\").write(d)" b
	snapshot_with "$(replace "$sealed" "$(G hash-object -w b)")"
	dg export app HEAD~1 --to plain
	expect_exit 1 dg restore app --to r.db
	stderr_has "does not authenticate under key"
	# The plain path of the file, as the good snapshot has it.
	path=$(sed -n "s/.*snapshot [0-9a-f]\{12\}: \(.*\): does not authenticate.*/\1/p" .stderr)
	echo "named: $path"
	[ -f "plain/$path" ]
	G update-ref refs/heads/backup/app "$GOOD"
'

test_case "a chunk moved to another name is refused" '
	G ls-tree -r "$GOOD" | awk "\$4 ~ /\\// { print \$3, \$4 }" | head -2 >two
	a_blob=$(sed -n 1p two | cut -d" " -f1)
	b_path=$(sed -n 2p two | cut -d" " -f2)
	snapshot_with "$(replace "$b_path" "$a_blob")"
	refused "moved chunk"
	stderr_has "is not the file its manifest lists"
	G update-ref refs/heads/backup/app "$GOOD"
'

test_case "an older snapshot's chunk in place of the new one is refused" '
	G ls-tree -r "$GOOD~1" >old
	G ls-tree -r "$GOOD" >new
	# The chunk that the update changed: same name, another blob.
	line=$(join -j 2 <(awk "{print \$3, \$4}" old | sort -k2) <(awk "{print \$3, \$4}" new | sort -k2) |
		awk "\$2 != \$3 && \$1 != \"MANIFEST.enc\" { print; exit }")
	[ -n "$line" ]
	set -- $line
	snapshot_with "$(replace "$1" "$2")"
	refused "replayed chunk"
	G update-ref refs/heads/backup/app "$GOOD"
'

test_case "a sealed name changed is refused" '
	path=$(G ls-tree -r --name-only "$GOOD" | grep / | head -1)
	dir=${path%%/*}
	# One character of the directory name changed, the tree otherwise whole.
	newdir=$(echo "$dir" | sed "s/^\(.\{5\}\)./\1A/")
	[ "$newdir" != "$dir" ] || newdir=$(echo "$dir" | sed "s/^\(.\{5\}\)./\1B/")
	rm -f index
	GIT_INDEX_FILE=$T/index G read-tree "$GOOD"
	GIT_INDEX_FILE=$T/index G ls-files -s | awk -v d="$dir/" "index(\$4, d) == 1" >moved
	GIT_INDEX_FILE=$T/index G rm -q --cached -r "$dir"
	sed "s#\t$dir/#\t$newdir/#" moved | GIT_INDEX_FILE=$T/index G update-index --index-info
	snapshot_with "$(GIT_INDEX_FILE=$T/index G write-tree)"
	refused "renamed directory"
	stderr_has "is not a name encrypted with key"
	G update-ref refs/heads/backup/app "$GOOD"
'

test_case "a changed manifest is refused by list, show and verify alike" '
	G cat-file blob "$GOOD:MANIFEST.enc" >m
	python3 -c "import sys; p=sys.argv[1]; d=bytearray(open(p,\"rb\").read()); d[30]^=4; open(p,\"wb\").write(d)" m
	snapshot_with "$(replace MANIFEST.enc "$(G hash-object -w m)")"
	expect_exit 1 dg show app
	stderr_has "MANIFEST.json: does not authenticate"
	refused "manifest"
	expect_exit 0 dg list app
	G update-ref refs/heads/backup/app "$GOOD"
	expect_exit 0 dg verify app
	G fsck --full
'

test_done
