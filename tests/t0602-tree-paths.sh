#!/bin/bash
# Tree paths from a hostile repository (issue "Trust"): a snapshot holds
# plain files and directories with plain names. A '..' entry, a symlink, a
# submodule, a name with control characters is refused by restore, verify
# and diff (--stat and text) with one line naming the commit and the path - never followed,
# never printed raw to a terminal.
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

# plant_entry LINE: a new tip whose root tree is the good one's plus the
# mktree LINE ("<mode> <type> <id>\t<name>"), under the same manifest.
plant_entry() {
	local tree commit
	tree=$({ G ls-tree "$GOOD"; printf '%s\n' "$1"; } | G mktree)
	commit=$(G log -1 --format=%B "$GOOD" | G commit-tree "$tree" -p "$GOOD")
	G update-ref refs/heads/backup/app "$commit"
	TIP=$commit
}

# refused WHAT: restore, verify and diff --stat all fail with one line
# naming the commit and WHAT; no target.
refused() {
	expect_exit 1 dg restore app --to "$T/out.db"
	stderr_has "snapshot ${TIP:0:12}: tree entry $1"
	[ "$(wc -l <"$T/.stderr")" = 1 ]
	test_must_fail test -e "$T/out.db"
	expect_exit 1 dg verify app
	grep -qF "tree entry $1" "$T/.stdout" "$T/.stderr"
	expect_exit 1 dg diff app --stat
	stderr_has "tree entry $1"
	expect_exit 1 dg diff app
	stderr_has "tree entry $1"
}

EVIL=$(printf 'ATTACH 1;\n' | G hash-object -w --stdin)

test_case "a '..' directory in the tree is refused" '
	sub=$(printf "100644 blob %s\tevil.sql\n" "$EVIL" | G mktree)
	plant_entry "$(printf "040000 tree %s\t.." "$sub")"
	refused "'\''..'\'' is not a file name"
'

test_case "a symlink entry in the tree is refused, not followed" '
	link=$(printf "%s" "$T/app.db" | G hash-object -w --stdin)
	plant_entry "$(printf "120000 blob %s\t1-table-link.sql" "$link")"
	refused "'\''1-table-link.sql'\'' is a symbolic link"
'

test_case "a submodule entry in the tree is refused" '
	plant_entry "$(printf "160000 commit %s\tsub" "$GOOD")"
	refused "'\''sub'\'' is a submodule"
'

test_case "a name with control characters is refused and shown without them" '
	plant_entry "$(printf "100644 blob %s\t9-\033[31mred.sql" "$EVIL")"
	refused "'\''9-?[31mred.sql'\'' holds a control character"
	test_must_fail grep -q "$(printf "\033")" "$T/.stderr"
'

test_case "the good snapshot still restores" '
	G update-ref refs/heads/backup/app "$GOOD"
	expect_exit 0 dg restore app --to "$T/out.db"
	same_db "$T/app.db" "$T/out.db"
'

test_done
