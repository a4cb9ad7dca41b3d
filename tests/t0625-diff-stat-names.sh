#!/bin/bash
# Names that dbgit diff --stat shows come from the snapshots' SQL, which may
# be hostile: a table named with an escape sequence (retitle the terminal,
# recolour it) is shown with '?' for each control character; --json keeps
# the name exactly, escaped as JSON.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
G() { git --git-dir="$REPO" "$@"; }

make_demo_db "$T/app.db"
write_config "$T/dbgit.toml" "$REPO" \
	'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\""
dg init >/dev/null
dg backup >/dev/null
GOOD=$(G rev-parse backup/app)

# A new tip: the good tree plus one more file creating the table.
blob=$(printf 'CREATE TABLE "evil\033]0;PWNED\007\033[31mRED"(x);\n' | G hash-object -w --stdin)
G read-tree --index-output="$T/plant.idx" "$GOOD"
GIT_INDEX_FILE="$T/plant.idx" G update-index --add --cacheinfo "100644,$blob,1-table/orders/1-rows-000001.sql"
tree=$(GIT_INDEX_FILE="$T/plant.idx" G write-tree)
rm -f "$T/plant.idx"
G update-ref refs/heads/backup/app "$(G log -1 --format=%B "$GOOD" | G commit-tree "$tree" -p "$GOOD")"

test_case "diff --stat shows a table name's control characters as '?'" '
	expect_exit 0 dg diff app --stat
	test_must_fail grep -q "$(printf "\033")" "$T/.stdout"
	test_must_fail grep -q "$(printf "\007")" "$T/.stdout"
	grep -qF "  evil?]0;PWNED??[31mRED" "$T/.stdout"
	grep -qF "  schema: + table evil?]0;PWNED??[31mRED" "$T/.stdout"
'

test_case "diff --stat --json keeps the name, escaped" '
	expect_exit 0 dg diff app --stat --json
	test_must_fail grep -q "$(printf "\033")" "$T/.stdout"
	grep -qF "evil\\u001b]0;PWNED\\u0007\\u001b[31mRED" "$T/.stdout"
'

test_done
