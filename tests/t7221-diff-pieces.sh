#!/bin/bash
# t7221: `dbgit diff` of a table whose every chunk changed. The run of
# changed chunks is diffed in pieces (RUN_MAX chunks each) by several
# threads and printed in order: the output is byte for byte the one-thread
# run's (DBGIT_TEST_DIFF_WORKERS=0, a test build's hook), its hunks are
# those git diff gives for the whole files, none dropped, reordered or
# doubled, and --stat counts the same rows either way. A stop signal while
# pieces are in flight on the other threads ends the diff with 143 (130)
# at once, nothing leaked (LSan).
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/repo.git
BRANCH=refs/heads/backup/app
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
git_() { git -C "$REPO" "$@"; }

sqlite3 "$T/app.db" <<'SQL'
CREATE TABLE big(id INTEGER PRIMARY KEY, name TEXT, amount REAL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
INSERT INTO big SELECT i, 'customer ' || i || ' ' || hex(randomblob(16)), i * 0.25 FROM n;
SQL
# objects stay loose (no nightly pack), so that single ones can be damaged
export DBGIT_TEST_LOOSE_MIN=100000000000
write_config "$T/dbgit.toml" "$REPO" '[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\""
dg init >/dev/null
dg backup >/dev/null
cp "$T/app.db" "$T/old.db"
# Changes everywhere, some next to each other: every chunk is new.
sqlite3 "$T/app.db" "UPDATE big SET amount = -1 WHERE id % 997 = 0;
	DELETE FROM big WHERE id % 1499 = 0 OR id % 1499 = 1;
	INSERT INTO big SELECT id + 200000, 'new ' || id, 0 FROM big WHERE id % 3001 = 0;
	UPDATE big SET name = 'renamed' WHERE id BETWEEN 100000 AND 100004;"
dg backup >/dev/null

chunks() { git_ ls-tree -r "$1" | awk '$4 ~ /^1-table\/big\/1-rows-/ {print $3}'; }
whole() {
	local path
	for path in $(git_ ls-tree -r --name-only "$1" | grep "^1-table/big/1-rows-"); do
		git_ cat-file blob "$1:$path"
	done
}

test_case "nearly every one of the table's many chunks changed (several pieces of 16)" '
	[ "$(chunks "$BRANCH" | wc -l)" -ge 40 ]
	[ "$(comm -12 <(chunks "$BRANCH~1" | sort) <(chunks "$BRANCH" | sort) | wc -l)" -le 5 ]
'

test_case "diff with threads is byte for byte the one-thread diff" '
	DBGIT_TEST_DIFF_WORKERS=0 dg diff app --no-color >"$T/one.txt"
	DBGIT_TEST_DIFF_WORKERS=3 dg diff app --no-color >"$T/four.txt"
	DBGIT_TEST_DIFF_WORKERS=1 dg diff app --no-color >"$T/two.txt"
	[ "$(grep -c "^@@" "$T/one.txt")" -ge 200 ]
	cmp "$T/one.txt" "$T/four.txt"
	cmp "$T/one.txt" "$T/two.txt"
	DBGIT_TEST_DIFF_WORKERS=0 dg diff app --color >"$T/one.color"
	DBGIT_TEST_DIFF_WORKERS=3 dg diff app --color >"$T/four.color"
	cmp "$T/one.color" "$T/four.color"
'

test_case "its hunks are git diff of the whole files, in order, none twice" '
	whole "$BRANCH~1" >"$T/old.sql"
	whole "$BRANCH" >"$T/new.sql"
	expect_exit 1 git diff --no-index -U1 "$T/old.sql" "$T/new.sql"
	sed -n "/^@@/,\$p" .stdout >"$T/want"
	DBGIT_TEST_DIFF_WORKERS=3 dg diff app --no-color >"$T/got.txt"
	sed -n "/^@@/,\$p" "$T/got.txt" >"$T/got"
	diff "$T/want" "$T/got"
'

test_case "diff --stat counts the same rows with threads and without" '
	expect_exit 0 env DBGIT_TEST_DIFF_WORKERS=0 "$DBGIT" --config "$T/dbgit.toml" -v diff app --stat --json
	stderr_has "counted from the changed chunks, nothing restored"
	cp .stdout "$T/one.json"
	expect_exit 0 env DBGIT_TEST_DIFF_WORKERS=3 "$DBGIT" --config "$T/dbgit.toml" diff app --stat --json
	cmp "$T/one.json" .stdout
	# The rows sqldiff names.
	sqldiff "$T/old.db" "$T/app.db" >"$T/sqldiff.sql"
	added=$(grep -c "^INSERT" "$T/sqldiff.sql")
	removed=$(grep -c "^DELETE" "$T/sqldiff.sql")
	changed=$(grep -c "^UPDATE" "$T/sqldiff.sql")
	[ "$changed" -ge 200 ]
	jq -e ".tables == [{\"name\": \"big\", \"added\": $added, \"removed\": $removed, \"changed\": $changed}]" .stdout
'

# A throw-away copy of the repository, to damage.
COPY=$T/copy.git
copy() {
	rm -rf "$COPY"
	cp -a "$REPO" "$COPY"
	write_config "$T/copy.toml" "$COPY" '[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\""
}
object_file() { echo "$COPY/objects/${1:0:2}/${1:2}"; }
# The new side's chunks that the old side lacks, in order: read by --stat too.
changed() { chunks "$BRANCH" | grep -vxF -f <(chunks "$BRANCH~1"); }

test_case "a chunk missing in the middle of the run: exit 1 naming the file, what came before printed" '
	DBGIT_TEST_DIFF_WORKERS=0 dg diff app --no-color >"$T/one.txt"
	copy
	rm -f "$(object_file "$(changed | sed -n 30p)")"
	for n in 0 3; do
		expect_exit 1 env DBGIT_TEST_DIFF_WORKERS=$n "$DBGIT" --config "$T/copy.toml" diff app --no-color
		stderr_has "1-table/big/1-rows.sql"
		[ -s .stdout ]
		cmp .stdout <(head -c "$(wc -c <.stdout)" "$T/one.txt")
		cp .stdout "$T/cut.$n"
	done
	# The pieces planned before the error printed, as one thread does.
	cmp "$T/cut.0" "$T/cut.3"
'

test_case "a chunk whose object holds another blob is refused, though libgit2 no longer checks it" '
	copy
	victim=$(changed | sed -n 20p)
	other=$(changed | sed -n 21p)
	[ -n "$victim" ]
	[ -n "$other" ]
	chmod u+w "$(object_file "$victim")"
	cp "$(object_file "$other")" "$(object_file "$victim")"
	for n in 0 3; do
		expect_exit 1 env DBGIT_TEST_DIFF_WORKERS=$n "$DBGIT" --config "$T/copy.toml" diff app --no-color
		stderr_has "does not hold what its id says"
		expect_exit 1 env DBGIT_TEST_DIFF_WORKERS=$n "$DBGIT" --config "$T/copy.toml" diff app --stat
		stderr_has "does not hold what its id says"
	done
'

# stopped SIG: a threaded diff paused with pieces in flight, then SIG.
stopped() {
	DBGIT_TEST_DIFF_WORKERS=3 DBGIT_TEST_PAUSE_DIFF=pieces "$DBGIT" --config "$T/dbgit.toml" diff app --no-color \
		>"$T/cut.txt" 2>"$T/err" &
	pid=$!
	local paused=0
	for _ in $(seq 1 300); do
		if grep -q "diff paused at pieces" "$T/err"; then
			paused=1
			break
		fi
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
	done
	[ $paused = 1 ] || { cat "$T/err" >&2; return 1; }
	start=$(date +%s)
	kill -"$1" $pid
	rc=0
	wait $pid || rc=$?
	# The signal reached the main thread (the workers block it): the
	# pause ended at once, not after its 120 s.
	[ $(($(date +%s) - start)) -lt 30 ]
}

test_case "SIGTERM with pieces in flight: exit 143, what was printed a prefix" '
	stopped TERM
	[ $rc = 143 ]
	grep -q "interrupted by SIGTERM" "$T/err"
	test_must_fail grep -q "Sanitizer" "$T/err"
	DBGIT_TEST_DIFF_WORKERS=0 dg diff app --no-color >"$T/one.txt"
	[ "$(wc -c <"$T/cut.txt")" -lt "$(wc -c <"$T/one.txt")" ]
	cmp "$T/cut.txt" <(head -c "$(wc -c <"$T/cut.txt")" "$T/one.txt")
'

test_case "SIGINT with pieces in flight: exit 130" '
	stopped INT
	[ $rc = 130 ]
	test_must_fail grep -q "Sanitizer" "$T/err"
'

test_done
