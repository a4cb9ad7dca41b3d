#!/bin/bash
# t4023-pack-moved-boundaries: chunk boundaries are content-defined, so
# they move with the data. A changed row can become a boundary (the chunk
# splits: its first part keeps the old chunk's first line, the second part
# opens a new chunk) or stop being one (two chunks merge: nothing starts
# with the second one's first line any more). The nightly pack pairs an
# old chunk with its new version by the first line, so before this, the
# old chunk of a split was a delta against its first part only (the rest
# literal, or refused and kept whole), and the second old chunk of a merge
# was paired with nothing and kept whole for ever: each boundary that
# moved added a whole chunk to the repository. Now the split one is tried
# against the next chunk too and the merged one against the chunk it went
# into (src/store/packw.c, encode_split, note_merged).
#
# The data is fixed (seeded), so the same boundaries move every run:
# 6,000 rows of 1,000 random hex digits (about 24 chunks), 5% of the rows
# changed a night; with seed 3, night 3's pack sees one split and one
# merge, night 4's two merges. Checked with git verify-pack, git fsck and
# restores of every snapshot compared with sqldiff.
. "$TEST_SRCDIR/lib/test-lib.sh"

export TZ=UTC DBGIT_TEST_LOOSE_MIN=1
REPO=$T/backups.git
write_config "$T/dbgit.toml" "$REPO" '[[job]]' 'name = "app"' 'engine = "sqlite"' \
	"path = \"$T/app.db\"" '[job.keep]' 'last = 100'
export DBGIT_CONFIG=$T/dbgit.toml

cat >"$T/gen.py" <<'PY'
import random, sys
night = int(sys.argv[1])
r = random.Random(300 + night)
def text():
    return "%01000X" % r.getrandbits(4000)
print("BEGIN;")
if night == 0:
    print("CREATE TABLE t1(id INTEGER PRIMARY KEY, v TEXT);")
    for i in range(1, 6001):
        print("INSERT INTO t1 VALUES(%d, '%s');" % (i, text()))
else:
    ids = r.sample(range(1, 6001), 400)
    for i in ids[:300]:
        print("UPDATE t1 SET v = '%s' WHERE id = %d;" % (text(), i))
    for i in ids[300:]:
        print("DELETE FROM t1 WHERE id = %d;" % i)
    for k in range(100):
        print("INSERT INTO t1(v) VALUES('%s');" % text())
print("COMMIT;")
PY
python3 "$T/gen.py" 0 | sqlite3 "$T/app.db"

# night N: back up (log in night-N.err, the database kept as db-N), then
# the next night's changes.
night() {
	DBGIT_NOW="2024-03-0$1T03:00:00Z" "$DBGIT" -v -v backup --no-push 2>"$T/night-$1.err"
	cp "$T/app.db" "$T/db-$1"
	python3 "$T/gen.py" "$1" | sqlite3 "$T/app.db"
}
# counted N WHAT: the figure the night's pack log gives for WHAT
counted() { sed -n "s/.*$2: \([0-9]*\).*/\1/p" "$T/night-$1.err"; }
# whole_old REV: chunks of REV that the newest snapshot no longer has and
# that the pack stores whole (not as deltas)
whole_old() {
	git --git-dir="$REPO" verify-pack -v "$REPO"/objects/pack/*.idx >"$T/vp"
	awk '$2 == "blob" { if (NF < 7) print $1 }' "$T/vp" | sort >"$T/whole"
	git --git-dir="$REPO" ls-tree -r backup/app 1-table/t1 >"$T/newest.tree"
	awk '{print $3}' "$T/newest.tree" | sort >"$T/newest"
	git --git-dir="$REPO" ls-tree -r "$1" 1-table/t1 >"$T/old.tree"
	awk '{print $3}' "$T/old.tree" | sort | comm -23 - "$T/newest" | comm -12 - "$T/whole"
}

test_case "four nights; the packs of nights 3 and 4 see boundaries move" '
	"$DBGIT" init
	for n in 1 2 3 4; do night $n; done
	[ "$(counted 3 "against the next chunk")" -ge 1 ]
	[ "$(counted 3 "merged into the one before")" -ge 1 ]
	[ "$(counted 4 "merged into the one before")" -ge 1 ]
	[ "$(ls "$REPO"/objects/pack/*.pack | wc -l)" = 1 ]
	git --git-dir="$REPO" fsck --full --strict --no-progress
'

test_case "no chunk of the previous snapshot is left whole: each is a delta" '
	git --git-dir="$REPO" ls-tree -r backup/app~1 1-table/t1 >"$T/prev"
	[ "$(wc -l <"$T/prev")" -gt 15 ]
	whole_old backup/app~1 >"$T/left"
	[ ! -s "$T/left" ] || { echo "stored whole:"; cat "$T/left"; false; } >&2
'

test_case "every snapshot restores to the database it was taken from" '
	for n in 1 2 3 4; do
		rm -f "$T/r.db"
		"$DBGIT" restore app "HEAD~$((4 - n))" --to "$T/r.db"
		same_db "$T/r.db" "$T/db-$n"
	done
'

test_case "the next night packs on top of them, git reads every object back" '
	night 5
	git --git-dir="$REPO" fsck --full --strict --no-progress
	git --git-dir="$REPO" rev-list --objects --all >"$T/objects"
	cut -d" " -f1 "$T/objects" >"$T/ids"
	git --git-dir="$REPO" cat-file --batch-check="%(objecttype)" <"$T/ids" >"$T/types"
	[ "$(wc -l <"$T/types")" = "$(wc -l <"$T/ids")" ]
	test_must_fail grep -q missing "$T/types"
	rm -f "$T/r.db"
	"$DBGIT" restore app "HEAD~2" --to "$T/r.db"
	same_db "$T/r.db" "$T/db-3"
'

test_done
