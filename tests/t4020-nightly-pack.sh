#!/bin/bash
# t4020-nightly-pack: the nightly pack is in proportion to the change.
# A night whose loose objects are worth packing writes one pack: the
# entries of the largest pack copied as they are, the night's objects
# added, each changed chunk whole and its previous version re-stored as
# a delta against it (src/store/packw.c). So the repository grows by the
# change, not by the chunks it touched, and there stays one pack. Only a
# rotation that dropped snapshots rewrites everything (libgit2's
# packbuilder), and so does a night whose largest pack cannot be extended.
# Checked with git's own verify-pack, cat-file and fsck.
#
# DBGIT_TEST_LOOSE_MIN=1 makes any loose object worth packing (instead of
# 32 MiB), so a small database shows the policy.
. "$TEST_SRCDIR/lib/test-lib.sh"

export TZ=UTC DBGIT_TEST_LOOSE_MIN=1
REPO=$T/backups.git
write_config "$T/dbgit.toml" "$REPO" '[[job]]' 'name = "app"' 'engine = "sqlite"' \
	"path = \"$T/app.db\"" '[job.keep]' 'last = 100'
export DBGIT_CONFIG=$T/dbgit.toml

# t1 is one chunk of about 200 KB of random hex (about 100 KB deflated),
# from a fixed seed so that the chunk boundaries are the same every run;
# 29 small tables beside it.
python3 -c '
import random
random.seed(4020)
print("BEGIN; CREATE TABLE t1(id INTEGER PRIMARY KEY, v TEXT);")
for i in range(1, 2501):
    print("INSERT INTO t1 VALUES(%d, \x27%s\x27);" % (i, "%060X" % random.getrandbits(240)))
print("COMMIT;")' | sqlite3 "$T/app.db"
for i in $(seq 2 30); do
	echo "CREATE TABLE t$i(id INTEGER PRIMARY KEY, v TEXT);
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
	INSERT INTO t$i SELECT i, hex(randomblob(30)) FROM n;"
done | sqlite3 "$T/app.db"

CHUNK=1-table/t1/1-rows-000000.sql
packs() { ls "$REPO/objects/pack/" | grep '\.pack$' | sort; }
loose() { find "$REPO/objects" -path "*/objects/[0-9a-f][0-9a-f]/*" -type f | wc -l; }
packsize() { stat -c %s "$REPO"/objects/pack/*.pack; }
# vp ID: the line `git verify-pack -v` prints for object ID
vp() { git verify-pack -v "$REPO"/objects/pack/*.idx | grep "^$1 "; }
# night N: change one row, back up with -v (log in night-N.err).
night() {
	sqlite3 app.db "UPDATE t1 SET v = 'night $1' WHERE id = 1000"
	DBGIT_NOW="2024-03-$(printf %02d "$1")T03:00:00Z" "$DBGIT" -v backup --no-push 2>"night-$1.err"
}

test_case "the second night packs both snapshots; the older chunk is a delta against the newer" '
	"$DBGIT" init
	night 1
	[ "$(packs | wc -l)" = 0 ]
	night 2
	grep -q "pack: [0-9]* loose objects and 0 packs into one pack of" night-2.err
	[ "$(packs | wc -l)" = 1 ]
	[ "$(loose)" = 0 ]
	git --git-dir="$REPO" fsck --full --strict
	old=$(git --git-dir="$REPO" rev-parse backup/app~1:$CHUNK)
	new=$(git --git-dir="$REPO" rev-parse backup/app:$CHUNK)
	[ "$(git --git-dir="$REPO" cat-file -s "$new")" -gt 150000 ]
	# verify-pack: "id type size size-in-pack offset [depth base]"
	vp "$old" >old.vp
	vp "$new" >new.vp
	[ "$(awk "{print \$7}" old.vp)" = "$new" ]
	[ "$(wc -w <new.vp)" = 5 ]
	[ "$(awk "{print \$4}" old.vp)" -lt 1000 ]
	[ "$(awk "{print \$4}" new.vp)" -gt 50000 ]
'

test_case "each night extends the one pack by about the change, not by the chunk it touched" '
	for n in 3 4 5 6 7 8; do
		before=$(packsize)
		night $n
		after=$(packsize)
		grep -q "pack: [0-9]* loose objects and 1 packs into one pack of [0-9]* objects ([0-9]* copied" night-$n.err
		grep -q "[1-9][0-9]* previous versions re-stored as deltas" night-$n.err
		# the new chunks first lines come from the writer, the old ones
		# from the lineage cache: no chunk is read to pair it
		grep -q "1 packs; 0 chunks read to pair them" night-$n.err
		[ "$(packs | wc -l)" = 1 ]
		[ "$(loose)" = 0 ]
		# one changed row of a 100 KB chunk: a few KB of trees, a commit,
		# a manifest and the deltas, never the chunk again
		[ $((after - before)) -lt 12000 ]
		git --git-dir="$REPO" fsck --full --strict
		git verify-pack "$REPO"/objects/pack/*.idx
	done
	# the newest version whole, each older one a delta against the next
	for k in 1 2 3 4 5 6 7; do
		id=$(git --git-dir="$REPO" rev-parse backup/app~$k:$CHUNK)
		next=$(git --git-dir="$REPO" rev-parse backup/app~$((k - 1)):$CHUNK)
		vp "$id" >v.vp
		[ "$(awk "{print \$7}" v.vp)" = "$next" ]
	done
'

test_case "a lineage cache made bad is ignored: the chunks are read again, the cache rebuilt" '
	printf X | dd of="$REPO/dbgit-lineage" bs=1 seek=40 conv=notrunc status=none
	cp app.db keep.db
	night 9
	grep -q "ignoring the lineage cache" night-9.err
	grep -q "1 packs; [1-9][0-9]* chunks read to pair them" night-9.err
	git --git-dir="$REPO" fsck --full --strict
	# take night 9 back, so the cases below see nights 1-8
	git --git-dir="$REPO" update-ref refs/heads/backup/app backup/app~1
	cp keep.db app.db
'

test_case "every snapshot restores through the delta chains" '
	rm -f r.db
	"$DBGIT" restore app --to r.db
	same_db app.db r.db
	for k in 0 3 6; do
		rm -f r.db
		"$DBGIT" restore app HEAD~$k --to r.db
		[ "$(sqlite3 r.db "SELECT v FROM t1 WHERE id = 1000")" = "night $((8 - k))" ]
	done
	"$DBGIT" verify app --all
'

# copy NAME: a copy of the repository as it is now, and its config
copy() {
	rm -rf "$T/$1.git"
	cp -a "$REPO" "$T/$1.git"
	write_config "$T/$1.toml" "$T/$1.git" "[[job]]" "name = \"app\"" "engine = \"sqlite\"" \
		"path = \"$T/app.db\"" "[job.keep]" "last = 100"
}
# night_in NAME N: night N backed up into the copy NAME
night_in() {
	sqlite3 app.db "UPDATE t1 SET v = \"night $2\" WHERE id = 1000"
	DBGIT_NOW="2024-03-$(printf %02d "$2")T03:00:00Z" "$DBGIT" --config "$1.toml" -v backup --no-push \
		2>"$1-$2.err"
}

test_case "a damaged entry in the pack stops the night pack before it deletes anything" '
	copy dmg
	# a byte inside the compressed data of an old chunk version (a delta
	# no new snapshot reads): its CRC-32 no longer matches the index
	id=$(git --git-dir=dmg.git rev-parse backup/app~5:$CHUNK)
	git verify-pack -v dmg.git/objects/pack/*.idx | grep "^$id " >d.vp
	off=$(( $(awk "{print \$5}" d.vp) + $(awk "{print \$4}" d.vp) - 3 ))
	pack=$(ls dmg.git/objects/pack/*.pack)
	chmod u+w "$pack"
	printf "\\377" | dd of="$pack" bs=1 seek=$off conv=notrunc status=none
	ls dmg.git/objects/pack >before
	night_in dmg 9
	grep -q "reclaiming space failed: pack: object $id is damaged in the old pack" dmg-9.err
	ls dmg.git/objects/pack >after
	cmp before after
	[ "$(find dmg.git/objects -path "*/objects/[0-9a-f][0-9a-f]/*" -type f | wc -l)" -gt 0 ]
	[ "$(git --git-dir=dmg.git rev-list --count backup/app)" = 9 ]
'

test_case "an object written wrong is caught by the read-back check: the new pack goes, nothing else" '
	copy bad
	ls bad.git/objects/pack >before
	sqlite3 app.db "UPDATE t1 SET v = \"night 9\" WHERE id = 1000"
	DBGIT_TEST_CORRUPT_PACK=1 DBGIT_NOW=2024-03-09T03:00:00Z "$DBGIT" --config bad.toml -v backup --no-push 2>bad-9.err
	grep -q "reclaiming space failed: pack: the new pack .* does not give back every object; nothing deleted" bad-9.err
	ls bad.git/objects/pack >after
	cmp before after
	[ "$(find bad.git/objects -path "*/objects/[0-9a-f][0-9a-f]/*" -type f | wc -l)" -gt 0 ]
	git --git-dir=bad.git fsck --full --strict
	night_in bad 10
	grep -q "pack: [0-9]* loose objects and 1 packs into one pack of" bad-10.err
	git --git-dir=bad.git fsck --full --strict
'

test_case "a pack this writer cannot extend (a version 1 index) is repacked whole by libgit2" '
	copy v1
	pack=$(ls v1.git/objects/pack/*.pack)
	rm "${pack%.pack}.idx"
	git index-pack --index-version=1 -o "${pack%.pack}.idx" "$pack"
	night_in v1 9
	grep -q "reclaim: .* objects in one pack" v1-9.err
	[ "$(ls v1.git/objects/pack | grep -c "\\.pack$")" = 1 ]
	git --git-dir=v1.git fsck --full --strict
	[ "$(git --git-dir=v1.git rev-list --count backup/app)" = 9 ]
'

test_case "an index whose own checksum does not match is not extended: libgit2 repacks" '
	copy sum
	idx=$(ls sum.git/objects/pack/*.idx)
	chmod u+w "$idx"
	# a byte of the CRC table (after the header, fan-out and ids)
	n=$(git verify-pack -v sum.git/objects/pack/*.idx | grep -c "^[0-9a-f]\{40\} ")
	printf "\377" | dd of="$idx" bs=1 seek=$((8 + 1024 + 20 * n + 1)) conv=notrunc status=none
	night_in sum 9
	grep -q "reclaim: .* objects in one pack" sum-9.err
	git --git-dir=sum.git fsck --full --strict
	[ "$(git --git-dir=sum.git rev-list --count backup/app)" = 9 ]
'

test_case "delta chains stay within 50: a version with 50 behind it is kept whole" '
	copy deep
	for n in $(seq 9 62); do
		night_in deep $n
	done
	git --git-dir=deep.git fsck --full --strict
	git verify-pack -v deep.git/objects/pack/*.idx >deep.vp
	grep "^chain length = " deep.vp >chains
	last=$(tail -n 1 chains | sed "s/chain length = \\([0-9]*\\):.*/\\1/")
	[ "$last" -le 50 ]
	[ "$last" -ge 40 ]
	rm -f r.db
	"$DBGIT" --config deep.toml restore app HEAD~60 --to r.db
	[ "$(sqlite3 r.db "SELECT v FROM t1 WHERE id = 1000")" = "night 2" ]
'

test_case "a rotation that drops snapshots repacks everything into one pack" '
	git --git-dir="$REPO" rev-parse backup/app~6:$CHUNK >dropped-blob
	write_config "$T/dbgit.toml" "$REPO" "[[job]]" "name = \"app\"" "engine = \"sqlite\"" \
		"path = \"$T/app.db\"" "[job.keep]" "last = 3"
	night 9
	grep -q "reclaim: .* objects in one pack" night-9.err
	[ "$(packs | wc -l)" = 1 ]
	[ "$(loose)" = 0 ]
	[ "$(git --git-dir="$REPO" rev-list --count backup/app)" = 3 ]
	test_must_fail git --git-dir="$REPO" cat-file -e "$(cat dropped-blob)"
	git --git-dir="$REPO" fsck --full --strict
	# the next night extends the pack libgit2 wrote (OFS_DELTA entries)
	write_config "$T/dbgit.toml" "$REPO" "[[job]]" "name = \"app\"" "engine = \"sqlite\"" \
		"path = \"$T/app.db\"" "[job.keep]" "last = 100"
	night 10
	grep -q "pack: [0-9]* loose objects and 1 packs into one pack of" night-10.err
	git --git-dir="$REPO" fsck --full --strict
	rm -f r.db
	"$DBGIT" restore app HEAD~2 --to r.db
	[ "$(sqlite3 r.db "SELECT v FROM t1 WHERE id = 1000")" = "night 8" ]
'

test_case "without loose objects worth packing a night packs nothing" '
	write_config "$T/dbgit.toml" "$REPO" "[[job]]" "name = \"app\"" "engine = \"sqlite\"" \
		"path = \"$T/app.db\"" "[job.keep]" "last = 100"
	packs >before
	sqlite3 app.db "UPDATE t1 SET v = \"night 11\" WHERE id = 1"
	DBGIT_TEST_LOOSE_MIN=100000000 "$DBGIT" -v backup --no-push 2>night-11.err
	packs >after
	cmp before after
	[ "$(loose)" -gt 0 ]
	test_must_fail grep -q "pack: \\|reclaim: " night-11.err
'

test_done
