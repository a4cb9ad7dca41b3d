#!/bin/bash
# t0500: every MANIFEST.json is hostile input. A repository may come back
# from a remote others can push to: a snapshot whose manifest is broken,
# type-confused, huge or deeply nested is a one-line error from every
# command, never a crash, and leaves no scratch data behind. Old snapshots
# are read as they were taken (engine, formats, exclusions from their own
# manifest), and a snapshot that lost an index or a trigger fails
# verification, naming it.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
export TMPDIR=$T/tmp
mkdir -p "$TMPDIR"
make_demo_db "$T/app.db"
write_config "$T/dbgit.toml" "$REPO" '[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\""
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
git_() { git --git-dir="$REPO" "$@"; }
BRANCH=refs/heads/backup/app

# no_scratch: nothing dbgit made is left in $TMPDIR.
no_scratch() {
	local left
	left=$(ls -A "$TMPDIR")
	[ -z "$left" ] || { echo "scratch left in TMPDIR: $left" >&2; return 1; }
}

# one_line: the last expect_exit wrote exactly one line to stderr, and no
# sanitizer report.
one_line() {
	[ "$(wc -l <"$T/.stderr")" -eq 1 ] || { echo "stderr is not one line:" >&2; cat "$T/.stderr" >&2; return 1; }
	test_must_fail grep -q "Sanitizer\|runtime error" "$T/.stderr"
}

# craft FILE [PATH BLOBFILE]: a commit on the job's branch whose tree is
# the good snapshot's with MANIFEST.json replaced by FILE (and PATH, a file
# at the root, by BLOBFILE), made with git plumbing as anyone could push it.
craft() {
	local manifest blob tree commit
	manifest=$(git_ hash-object -w "$1")
	tree=$(
		git_ ls-tree "$GOOD" | grep -v "	MANIFEST.json\$" | { if [ $# -ge 3 ]; then grep -v "	$2\$"; else cat; fi; }
		printf '100644 blob %s\tMANIFEST.json\n' "$manifest"
		if [ $# -ge 3 ]; then
			blob=$(git_ hash-object -w "$3")
			printf '100644 blob %s\t%s\n' "$blob" "$2"
		fi
	)
	tree=$(printf '%s\n' "$tree" | git_ mktree)
	commit=$(git_ commit-tree "$tree" -p "$GOOD" -m "crafted")
	git_ update-ref "$BRANCH" "$commit"
}

test_case "a good snapshot records its schema and its exclusions" '
	dg init >/dev/null
	DBGIT_NOW=2026-01-01T00:00:00Z dg backup >/dev/null
	git_ show backup/app:MANIFEST.json >good.json
	jq -e ".schema | map(.type + \" \" + .name) | index(\"index orders_customer\")" good.json
	jq -e ".schema | map(.type + \" \" + .name) | index(\"trigger customers_email\")" good.json
	jq -e ".schema | map(.name) | index(\"sqlite_sequence\") | not" good.json
	jq -e ".format_version == 1 and (.tables | length) > 0" good.json
	git_ rev-parse backup/app >good.id
	no_scratch
'
GOOD=$(cat "$T/good.id")

# The manifests anyone could push, each with the field its error names.
bad() { # bad NAME FILTER EXPECTED-TEXT: good.json through jq FILTER
	jq "$2" "$T/good.json" >"$T/bad-$1.json"
	printf '%s\n' "$3" >"$T/bad-$1.want"
}
bad rows-string '.tables[1].rows = "2"' 'tables[1].rows is not a number'
bad rows-negative '.tables[0].rows = -1' 'tables[0].rows is not a non-negative integer'
bad rows-float '.tables[2].rows = 1.5' 'tables[2].rows is not a non-negative integer'
bad rows-huge '.tables[0].rows = 1e300' 'tables[0].rows is not a non-negative integer'
bad checksum '.tables[0].checksum = "xyz"' 'tables[0].checksum is not 64 lowercase hex digits'
bad blob '.files[0].blob = 12' 'files[0].blob is not 40 lowercase hex digits'
bad path-dotdot '.files[0].path = "../../etc/passwd"' 'files[0].path is not a relative path'
bad path-abs '.files[1].path = "/etc/passwd"' 'files[1].path is not a relative path'
bad path-empty '.files[1].path = "a//b"' 'files[1].path is not a relative path'
bad tables-object '.tables = {}' 'tables is not an array'
bad tables-missing 'del(.tables)' 'tables is missing'
bad formats-unknown '.formats = ["exe"]' 'formats[0] "exe" is not known'
bad formats-empty '.formats = []' 'formats is empty'
bad engine-unknown '.engine = "oracle"' 'engine "oracle" is not known'
bad engine-number '.engine = 7' 'engine is not a string'
bad version-newer '.format_version = 2' 'format_version 2 is newer'
bad schema-type '.schema[0].type = "bomb"' 'schema[0].type is not table, index, view, trigger or function'
bad table-null '.tables[0] = null' 'tables[0] is not an object'
bad not-object '[1, 2, 3]' 'is not a JSON object'
printf 'this is { not JSON' >"$T/bad-not-json.json"
echo 'is not valid JSON' >"$T/bad-not-json.want"
# Nested far deeper than cJSON would recurse safely.
{ head -c 200000 /dev/zero | tr '\0' '['; } >"$T/bad-deep.json"
echo 'is nested deeper than' >"$T/bad-deep.want"
# 17 MiB: refused before it is read whole.
{ head -c 17000000 /dev/zero | tr '\0' ' '; cat "$T/good.json"; } >"$T/bad-huge.json"
echo 'is larger than 16 MiB' >"$T/bad-huge.want"

for f in "$T"/bad-*.json; do
	name=${f##*/bad-}
	name=${name%.json}
	test_case "a manifest that is $name: every command says so in one line, nothing crashes" '
		want=$(cat "$T/bad-'"$name"'.want")
		craft "$T/bad-'"$name"'.json"
		expect_exit 0 dg list
		grep -q "invalid manifest" "$T/.stdout"
		expect_exit 0 dg list --json
		jq -e ".[0].verified == \"invalid\"" "$T/.stdout"
		expect_exit 0 dg status
		grep -q "1 snapshot without a valid manifest" "$T/.stdout"
		expect_exit 1 dg show app
		one_line
		stderr_has "MANIFEST.json"
		stderr_has "$want"
		expect_exit 1 dg show app --json
		one_line
		test_must_fail test -s "$T/.stdout"
		expect_exit 1 dg verify app
		one_line
		stderr_has "$want"
		expect_exit 1 dg verify app --all
		expect_exit 1 dg restore app --to "$T/out.db"
		one_line
		stderr_has "$want"
		test_must_fail test -e "$T/out.db"
		test -z "$(ls "$T" | grep dbgit-restore)"
		expect_exit 1 dg diff app
		one_line
		expect_exit 1 dg diff app --stat
		one_line
		stderr_has "$want"
		no_scratch
		git_ update-ref "$BRANCH" "$GOOD"
	'
done

test_case "a MANIFEST.json that is a directory is an error, not a crash" '
	sub=$(printf "100644 blob %s\tx\n" "$(git_ hash-object -w good.json)" | git_ mktree)
	tree=$( (git_ ls-tree "$GOOD" | grep -v "	MANIFEST.json\$"; printf "040000 tree %s\tMANIFEST.json\n" "$sub") | git_ mktree)
	git_ update-ref "$BRANCH" "$(git_ commit-tree "$tree" -p "$GOOD" -m crafted)"
	expect_exit 1 dg verify app
	stderr_has "has no readable MANIFEST.json"
	expect_exit 1 dg restore app --to "$T/out.db"
	one_line
	expect_exit 0 dg list
	no_scratch
	git_ update-ref "$BRANCH" "$GOOD"
'

test_case "unknown keys are tolerated (a newer dbgit may add fields)" '
	jq ".future = {\"x\": [1, 2]} | .tables[0].comment = \"hi\"" good.json >future.json
	craft future.json
	expect_exit 0 dg verify app
	expect_exit 0 dg restore app --to "$T/future.db"
	same_db "$T/app.db" "$T/future.db"
	git_ update-ref "$BRANCH" "$GOOD"
'

test_case "a manifest written before schema and exclude_tables were recorded still verifies" '
	jq "del(.schema) | del(.exclude_tables)" good.json >old.json
	craft old.json
	expect_exit 0 dg verify app
	git_ update-ref "$BRANCH" "$GOOD"
'

# A snapshot whose 3-schema file lost one statement, committed with the
# original manifest (what a bug or a tampered push could leave behind).
drop_schema_line() { # drop_schema_line PATTERN
	local path
	path=$(git_ ls-tree --name-only "$GOOD" | grep "^3-schema")
	git_ show "$GOOD:$path" | grep -v "$1" >"$T/schema.sql"
	test_must_fail cmp -s "$T/schema.sql" <(git_ show "$GOOD:$path")
	craft "$T/good.json" "$path" "$T/schema.sql"
}

test_case "a snapshot that lost an index fails verification, naming the index" '
	drop_schema_line "CREATE INDEX orders_customer"
	expect_exit 1 dg verify app
	stderr_has "index orders_customer: in the source, missing from the snapshot"
	expect_exit 1 dg restore app --to "$T/noindex.db"
	stderr_has "index orders_customer"
	test_must_fail test -e "$T/noindex.db"
	no_scratch
	git_ update-ref "$BRANCH" "$GOOD"
'

test_case "a snapshot that lost a trigger fails verification, naming the trigger" '
	drop_schema_line "CREATE TRIGGER customers_email"
	expect_exit 1 dg verify app
	stderr_has "trigger customers_email: in the source, missing from the snapshot"
	git_ update-ref "$BRANCH" "$GOOD"
'

test_case "a snapshot whose trigger changed fails verification: different definition" '
	path=$(git_ ls-tree --name-only "$GOOD" | grep "^3-schema")
	git_ show "$GOOD:$path" | sed "s/email changed/email CHANGED/" >"$T/schema.sql"
	craft "$T/good.json" "$path" "$T/schema.sql"
	expect_exit 1 dg verify app
	stderr_has "trigger customers_email: different definition"
	git_ update-ref "$BRANCH" "$GOOD"
'

test_case "at backup time, a snapshot that would lose an index is not committed" '
	before=$(git_ rev-parse backup/app)
	DBGIT_TEST_CORRUPT=drop-line:3-schema expect_exit 1 dg backup app
	stderr_has "verification failed, nothing committed: index orders_customer: in the source, missing from the snapshot"
	[ "$(git_ rev-parse backup/app)" = "$before" ]
	no_scratch
'

test_case "a snapshot whose manifest could not be read back is not committed" '
	cp "$T/app.db" "$T/new
line.db"
	write_config "$T/nl.toml" "$T/nl.git" "[[job]]" "name = \"nl\"" "engine = \"sqlite\"" \
		"path = \"$T/new\\nline.db\""
	"$DBGIT" --config "$T/nl.toml" init >/dev/null
	expect_exit 1 "$DBGIT" --config "$T/nl.toml" backup
	stderr_has "the new MANIFEST.json: source holds a control character"
	test_must_fail git --git-dir="$T/nl.git" rev-parse --verify -q backup/nl
	no_scratch
'

test_case "changing exclude_tables and format after a backup: old snapshots still restore and verify" '
	write_config "$T/ex.toml" "$T/ex.git" "[[job]]" "name = \"app\"" "engine = \"sqlite\"" \
		"path = \"$T/app.db\"" "format = \"sql\"" "exclude_tables = [\"plain\"]"
	"$DBGIT" --config "$T/ex.toml" init >/dev/null
	DBGIT_NOW=2026-01-01T00:00:00Z "$DBGIT" --config "$T/ex.toml" backup >/dev/null
	git --git-dir="$T/ex.git" show backup/app:MANIFEST.json | jq -e ".exclude_tables == [\"plain\"]"
	# Today: kv is excluded too, and plain is back.
	write_config "$T/ex.toml" "$T/ex.git" "[[job]]" "name = \"app\"" "engine = \"sqlite\"" \
		"path = \"$T/app.db\"" "format = \"sql\"" "exclude_tables = [\"kv\", \"customers\"]"
	expect_exit 0 "$DBGIT" --config "$T/ex.toml" verify app
	expect_exit 0 "$DBGIT" --config "$T/ex.toml" restore app --to "$T/ex1.db"
	[ "$(sqlite3 "$T/ex1.db" "SELECT count(*) FROM kv")" = 5 ]
	[ "$(sqlite3 "$T/ex1.db" "SELECT count(*) FROM customers")" = 4 ]
	# And the format: the job is binary today, the snapshot is SQL.
	write_config "$T/ex.toml" "$T/ex.git" "[[job]]" "name = \"app\"" "engine = \"sqlite\"" \
		"path = \"$T/app.db\"" "format = \"binary\""
	expect_exit 0 "$DBGIT" --config "$T/ex.toml" verify app
	expect_exit 0 "$DBGIT" --config "$T/ex.toml" restore app --to "$T/ex2.db"
	[ "$(sqlite3 "$T/ex2.db" "SELECT count(*) FROM orders")" = 4 ]
	DBGIT_NOW=2026-01-02T00:00:00Z "$DBGIT" --config "$T/ex.toml" backup >/dev/null
	expect_exit 0 "$DBGIT" --config "$T/ex.toml" verify app --all
	expect_exit 0 "$DBGIT" --config "$T/ex.toml" diff app --stat
	no_scratch
'

test_done
