#!/bin/bash
# t7220: `dbgit diff` in proportion to the change. A big table (dozens of
# chunk files) with one row changed: the diff is git's own diff of the
# whole files (same hunks, same line numbers), yet the chunks after the
# change are never read, and `diff --stat` reads only the changed chunks -
# shown by deleting the objects of the others - and counts the rows
# without restoring either snapshot. Where the text cannot tell (a schema
# change) --stat still restores both and gives the same numbers.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/repo.git
BRANCH=refs/heads/backup/app
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
git_() { git -C "$REPO" "$@"; }

sqlite3 "$T/app.db" <<'SQL'
CREATE TABLE big(id INTEGER PRIMARY KEY, name TEXT, amount REAL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 150000)
INSERT INTO big SELECT i, 'customer ' || i || ' ' || hex(randomblob(16)), i * 0.25 FROM n;
CREATE TABLE kv(k TEXT, w, v, PRIMARY KEY (v, k)) WITHOUT ROWID;
INSERT INTO kv VALUES ('a', 'x', 1), ('b', 'x', 2), ('c', 'x', 3);
CREATE TABLE plain(a, b);
INSERT INTO plain VALUES (1, 'x'), (2, 'y');
SQL
# objects stay loose (no nightly pack), so that single ones can be deleted
export DBGIT_TEST_LOOSE_MIN=100000000000
write_config "$T/dbgit.toml" "$REPO" '[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\""
dg init >/dev/null
dg backup >/dev/null
# One row in the first third of big, one row of each small table.
sqlite3 "$T/app.db" "UPDATE big SET amount = -1 WHERE id = 40000;
	UPDATE kv SET w = 'y' WHERE k = 'b'; INSERT INTO kv VALUES ('d', 'x', 4);
	DELETE FROM plain WHERE a = 1;"
dg backup >/dev/null

# whole SIDE FILE: the logical file of a commit, its chunks joined.
whole() {
	local path
	for path in $(git_ ls-tree -r --name-only "$1" | grep "^1-table/big/1-rows-"); do
		git_ cat-file blob "$1:$path"
	done
}
# chunks REV: "path blob" of big's chunk files.
chunks() { git_ ls-tree -r "$1" | awk '$4 ~ /^1-table\/big\/1-rows-/ {print $4, $3}'; }
# copy: a throw-away copy of the repository (objects get deleted there).
COPY=$T/copy.git
copy() {
	rm -rf "$COPY"
	cp -a "$REPO" "$COPY"
	write_config "$T/copy.toml" "$COPY" '[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\""
}
dc() { "$DBGIT" --config "$T/copy.toml" "$@"; }
object_file() { echo "$COPY/objects/${1:0:2}/${1:2}"; }

test_case "the big table spans many chunk files, one of which changed" '
	[ "$(chunks "$BRANCH" | wc -l)" -ge 20 ]
	[ "$(comm -13 <(chunks "$BRANCH~1" | sort) <(chunks "$BRANCH" | sort) | wc -l)" = 1 ]
'

test_case "diff shows the hunks and line numbers git diff gives for the whole files" '
	whole "$BRANCH~1" >"$T/old.sql"
	whole "$BRANCH" >"$T/new.sql"
	expect_exit 1 git diff --no-index -U1 "$T/old.sql" "$T/new.sql"
	sed -n "/^@@/,\$p" .stdout >"$T/want"
	[ "$(grep -c "^@@" "$T/want")" = 1 ]
	dg diff app --no-color >"$T/diff.txt"
	awk "/^diff --git a\/1-table\/big\//{on=1; next} /^diff --git/{on=0} on" "$T/diff.txt" | sed -n "/^@@/,\$p" >"$T/got"
	diff "$T/want" "$T/got"
	grep -q "^@@ -39999,3 +39999,3 @@ INSERT INTO \"big\" VALUES(39998," "$T/got"
'

test_case "diff reads no chunk after the change (their objects removed)" '
	copy
	dc diff app --no-color >"$T/before.txt"
	# The changed chunk and the unchanged one after it (context) stay.
	changed=$(comm -13 <(chunks "$BRANCH~1" | sort) <(chunks "$BRANCH" | sort) | cut -d" " -f1)
	for blob in $(chunks "$BRANCH" | awk -v c="$changed" "seen >= 2 {print \$2} \$1 == c || seen {seen++}"); do
		rm -f "$(object_file "$blob")"
	done
	test_must_fail git -C "$COPY" fsck --full >/dev/null 2>&1
	dc diff app --no-color >"$T/after.txt"
	cmp "$T/before.txt" "$T/after.txt"
'

test_case "diff --stat reads only the changed chunks (and schemas) and restores nothing" '
	copy
	expect_exit 0 dc diff app --stat --json
	cp .stdout "$T/full.json"
	# Every rows chunk that is the same blob on both sides: gone. (The
	# tables whose rows changed have their CREATE TABLE read: the key.)
	rows() { git_ ls-tree -r "$1" | awk "\$4 ~ /\/1-rows-/ {print \$3}" | sort; }
	for blob in $(comm -12 <(rows "$BRANCH~1") <(rows "$BRANCH")); do
		rm -f "$(object_file "$blob")"
	done
	expect_exit 0 dc -v diff app --stat --json
	stderr_has "counted from the changed chunks, nothing restored"
	cmp "$T/full.json" .stdout
	jq -e ".tables | length == 3" .stdout
	jq -e ".tables[0] == {\"name\": \"big\", \"added\": 0, \"removed\": 0, \"changed\": 1}" .stdout
	jq -e ".tables[1] == {\"name\": \"kv\", \"added\": 1, \"removed\": 0, \"changed\": 1}" .stdout
	jq -e ".tables[2] == {\"name\": \"plain\", \"added\": 0, \"removed\": 1, \"changed\": 0}" .stdout
	jq -e ".schema == []" .stdout
	# Restoring (the old way) needs the chunks that are gone.
	expect_exit 1 dc verify app
'

test_case "diff of the big table takes about the memory of a table ten times smaller" '
	[ -x /usr/bin/time ] || { echo "needs /usr/bin/time" >&2; exit 1; }
	# ASan keeps freed memory in quarantine: off, to see the live set.
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
	sqlite3 "$T/small.db" "CREATE TABLE big(id INTEGER PRIMARY KEY, name TEXT, amount REAL);
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 15000)
		INSERT INTO big SELECT i, '"'"'customer '"'"' || i || '"'"' '"'"' || hex(randomblob(16)), i * 0.25 FROM n;"
	write_config "$T/two.toml" "$REPO" "[[job]]" "name = \"app\"" "engine = \"sqlite\"" "path = \"$T/app.db\"" "" \
		"[[job]]" "name = \"small\"" "engine = \"sqlite\"" "path = \"$T/small.db\""
	"$DBGIT" --config "$T/two.toml" backup small >/dev/null
	sqlite3 "$T/small.db" "UPDATE big SET amount = -1 WHERE id = 4000"
	"$DBGIT" --config "$T/two.toml" backup small >/dev/null
	/usr/bin/time -f %M -o "$T/small.kb" "$DBGIT" --config "$T/two.toml" diff small --no-color >/dev/null
	/usr/bin/time -f %M -o "$T/big.kb" "$DBGIT" --config "$T/two.toml" diff app HEAD~1 HEAD --no-color >/dev/null
	small=$(tail -1 "$T/small.kb")
	big=$(tail -1 "$T/big.kb")
	echo "peak: small $small KiB, big $big KiB"
	# Whole files in memory would add twice the table (some 20 MB).
	[ "$big" -lt $((small + 8192)) ]
'

test_case "with a schema change --stat restores both snapshots, same numbers as before" '
	sqlite3 "$T/app.db" "CREATE INDEX big_name ON big(name); UPDATE big SET name = 1 WHERE id = 7"
	dg backup >/dev/null
	expect_exit 0 dg -v diff app --stat --json
	stderr_has "restoring both snapshots"
	jq -e ".tables == [{\"name\": \"big\", \"added\": 0, \"removed\": 0, \"changed\": 1}]" .stdout
	jq -e ".schema == [\"+ index big_name\"]" .stdout
'

test_done
