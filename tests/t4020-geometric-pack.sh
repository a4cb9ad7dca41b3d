#!/bin/bash
# t4020-geometric-pack: the nightly pack is in proportion to the change.
# A night whose loose objects are worth packing writes them into a new pack
# of their own and merges packs geometrically (a pack joins the smaller
# ones when it holds at most twice as many objects as they do together);
# the big pack of the old history is left as it is. Only a rotation that
# dropped snapshots (or a merge that takes every pack) rewrites everything.
#
# DBGIT_TEST_LOOSE_MIN=1 makes any loose object worth packing (instead of
# 32 MiB), so a small database shows the policy.
. "$TEST_SRCDIR/lib/test-lib.sh"

export TZ=UTC DBGIT_TEST_LOOSE_MIN=1
REPO=$T/backups.git
write_config "$T/dbgit.toml" "$REPO" '[[job]]' 'name = "app"' 'engine = "sqlite"' \
	"path = \"$T/app.db\"" '[job.keep]' 'last = 100'
export DBGIT_CONFIG=$T/dbgit.toml

# 30 tables: a snapshot has about a hundred objects; a night that changes
# one table adds eight.
for i in $(seq 1 30); do
	echo "CREATE TABLE t$i(id INTEGER PRIMARY KEY, v TEXT);
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
	INSERT INTO t$i SELECT i, hex(randomblob(30)) FROM n;"
done | sqlite3 "$T/app.db"

packs() { ls "$REPO/objects/pack/" | grep '\.pack$' | sort; }
loose() { find "$REPO/objects" -path "*/objects/[0-9a-f][0-9a-f]/*" -type f | wc -l; }
# night N: change one row, back up with -v (log in night-N.err).
night() {
	sqlite3 app.db "UPDATE t1 SET v = 'night $1' WHERE id = 1"
	DBGIT_NOW="2024-03-$(printf %02d "$1")T03:00:00Z" "$DBGIT" -v backup --no-push 2>"night-$1.err"
}

test_case "the second night packs everything once (there is no pack yet)" '
	"$DBGIT" init
	night 1
	[ "$(packs | wc -l)" = 0 ]
	night 2
	grep -q "reclaim: .* objects in one pack" night-2.err
	[ "$(packs | wc -l)" = 1 ]
	[ "$(loose)" = 0 ]
	packs >big-pack
	git --git-dir="$REPO" fsck --full --strict
'

test_case "a night with a little change packs only its own objects, the old pack stays" '
	night 3
	grep -q "pack: 8 loose objects and 0 of 1 packs merged into one of 8 objects; 2 packs" night-3.err
	[ "$(loose)" = 0 ]
	[ "$(packs | wc -l)" = 2 ]
	packs >now
	comm -12 big-pack now >same
	cmp same big-pack
	git --git-dir="$REPO" fsck --full --strict
'

test_case "small packs merge geometrically; the big pack stays until they reach half of it" '
	for n in 4 5 6 7 8; do
		night $n
		git --git-dir="$REPO" fsck --full --strict
		[ "$(loose)" = 0 ]
		packs >now
		comm -12 big-pack now >same
		cmp same big-pack
		test_must_fail grep -q "reclaim: " night-$n.err
	done
	# packs by object count, smallest first (the 103 of nights 1-2 last):
	# night 4 merges the 8 of night 3 with its own 8; night 5 those 16
	# with 8 more; night 6 stands alone beside them (24 > 2 * 8); night 7
	# takes 8 + 24; night 8 stands alone (40 > 2 * 8)
	grep -q "pack: 8 loose objects and 1 of 2 packs merged into one of 16 objects; 2 packs" night-4.err
	grep -q "pack: 8 loose objects and 1 of 2 packs merged into one of 24 objects; 2 packs" night-5.err
	grep -q "pack: 8 loose objects and 0 of 2 packs merged into one of 8 objects; 3 packs" night-6.err
	grep -q "pack: 8 loose objects and 2 of 3 packs merged into one of 40 objects; 2 packs" night-7.err
	grep -q "pack: 8 loose objects and 0 of 2 packs merged into one of 8 objects; 3 packs" night-8.err
	[ "$(packs | wc -l)" = 3 ]
'

test_case "when the small packs reach half of the big one, everything is merged once" '
	# 8 + 8 + 40 = 56 objects below the 103 of the big pack: 103 <= 112
	night 9
	grep -q "reclaim: .* objects in one pack" night-9.err
	[ "$(packs | wc -l)" = 1 ]
	[ "$(loose)" = 0 ]
	git --git-dir="$REPO" fsck --full --strict
	night 10
	grep -q "pack: 8 loose objects and 0 of 1 packs merged into one of 8 objects; 2 packs" night-10.err
	[ "$(git --git-dir="$REPO" rev-list --count backup/app)" = 10 ]
	rm -f r.db
	"$DBGIT" restore app --to r.db
	same_db app.db r.db
	rm -f r.db
	"$DBGIT" restore app HEAD~8 --to r.db
	[ "$(sqlite3 r.db "SELECT v FROM t1 WHERE id = 1")" = "night 2" ]
'

test_case "a rotation that drops snapshots repacks everything into one pack" '
	git --git-dir="$REPO" rev-parse backup/app~8:1-table/t1/1-rows-000000.sql >dropped-blob
	write_config "$T/dbgit.toml" "$REPO" "[[job]]" "name = \"app\"" "engine = \"sqlite\"" \
		"path = \"$T/app.db\"" "[job.keep]" "last = 3"
	night 11
	grep -q "reclaim: .* objects in one pack" night-11.err
	[ "$(packs | wc -l)" = 1 ]
	[ "$(loose)" = 0 ]
	[ "$(git --git-dir="$REPO" rev-list --count backup/app)" = 3 ]
	test_must_fail git --git-dir="$REPO" cat-file -e "$(cat dropped-blob)"
	git --git-dir="$REPO" fsck --full --strict
'

test_case "without loose objects worth packing a night packs nothing" '
	write_config "$T/dbgit.toml" "$REPO" "[[job]]" "name = \"app\"" "engine = \"sqlite\"" \
		"path = \"$T/app.db\"" "[job.keep]" "last = 100"
	packs >before
	sqlite3 app.db "UPDATE t1 SET v = \"night 12\" WHERE id = 1"
	DBGIT_TEST_LOOSE_MIN=100000000 "$DBGIT" -v backup --no-push 2>night-12.err
	packs >after
	cmp before after
	[ "$(loose)" -gt 0 ]
	test_must_fail grep -q "pack: \\|reclaim: " night-12.err
'

test_done
