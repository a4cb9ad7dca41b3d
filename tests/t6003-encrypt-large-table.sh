#!/bin/bash
# Encrypted snapshots cut a table finer than plain ones (8 KiB chunks:
# ciphertext never deltas), coarser with the offset in the table's file
# (chunk.c, chunker_init_sealed): 8 KiB to 16 MiB, 16 KiB to 32 MiB, ...
# Without that growth a 1 GB table was 130,000 chunks, a manifest past its
# 16 MiB bound and a backup that failed. Here a table of about 24 MiB of
# rows: its chunks past 16 MiB are about twice those before, the whole
# restores as it was, and a changed row deep in the table still changes
# one chunk (plus at most a couple where a doubling point moved).
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }

sqlite3 "$T/app.db" "CREATE TABLE big(id INTEGER PRIMARY KEY, v TEXT);
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 180000)
INSERT INTO big SELECT i, hex(randomblob(60)) FROM s;"
expect_exit 0 "$DBGIT" keygen "$T/backup.key"
write_config "$T/dbgit.toml" "$REPO" "key_file = \"$T/backup.key\"" \
	"[[job]]" "name = \"app\"" "engine = \"sqlite\"" "path = \"$T/app.db\""
dg init >/dev/null

# chunk_sizes DIR: the size of each chunk file of table big, in order, one a line.
chunk_sizes() {
	find "$1" -type f -path "*/big/*" -name "*.sql" -print0 | LC_ALL=C sort -z | xargs -0 stat -c %s
}

test_case "a table past 16 MiB: its later chunks are larger, and it restores whole" '
	expect_exit 0 dg backup app
	expect_exit 0 dg export app --to exp
	chunk_sizes exp >sizes
	total=$(awk "{ s += \$1 } END { print s }" sizes)
	[ "$total" -gt $((20 << 20)) ]
	# Average chunk of the first 12 MiB, and of what lies past 17 MiB.
	awk -v lo=$((12 << 20)) -v hi=$((17 << 20)) "
		{ if (off < lo) { a += \$1; na++ } else if (off >= hi) { b += \$1; nb++ }; off += \$1 }
		END { printf \"%d %d %d %d\n\", a / na, na, b / nb, nb }" sizes >avg
	read -r early n_early late n_late <avg
	echo "early chunks: $n_early of $early bytes; late: $n_late of $late bytes"
	[ "$early" -gt 4096 ]
	[ "$early" -lt 16384 ]
	[ "$n_late" -ge 50 ]
	# Twice the average, give or take the randomness of where rows end.
	[ "$late" -gt $((early * 3 / 2)) ]
	[ "$late" -lt $((early * 3)) ]
	# The manifest lists every chunk; without the growth they would be
	# total / 8 KiB.
	files=$(python3 -c "import json; print(len(json.load(open(\"exp/MANIFEST.json\"))[\"files\"]))")
	[ "$files" -lt $((total / 8192 * 9 / 10)) ]
	expect_exit 0 dg restore app --to r.db
	same_db "$T/app.db" r.db
	git --git-dir="$REPO" fsck --full
'

test_case "one changed row past 16 MiB changes a chunk or two" '
	before=$(git --git-dir="$REPO" rev-parse backup/app)
	sqlite3 "$T/app.db" "UPDATE big SET v = '"'"'changed'"'"' WHERE id = 170000"
	expect_exit 0 dg backup app
	new=$(git --git-dir="$REPO" rev-list --objects backup/app --not "$before" | wc -l)
	echo "$new new objects"
	# The commit, MANIFEST.json, the key entry and the trees on the
	# chunk path, and the chunk itself (a doubling point moved by the
	# edit may cut one more).
	[ "$new" -le 12 ]
	expect_exit 0 dg restore app --to r2.db --force
	same_db "$T/app.db" r2.db
'

test_done
