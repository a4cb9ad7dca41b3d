#!/bin/bash
# t2000: `dbgit backup --dry-run` dumps and verifies, says what it would
# commit, rotate and push, and changes nothing: no ref, no object (loose or
# packed), no hook run, no remote touched.
. "$TEST_SRCDIR/lib/test-lib.sh"
# Pushing: see tests/lsan.supp.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0

REPO=$T/backups.git
NAS=$T/nas.git
G() { git --git-dir="$REPO" "$@"; }
mkdir -p "$T/hooks"
for h in pre-backup post-backup on-failure; do
	printf '#!/bin/sh\necho "$0" >>"%s/hooks.ran"\n' "$T" >"$T/hooks/$h"
	chmod +x "$T/hooks/$h"
done
write_config "$T/dbgit.toml" "$REPO" '[hooks]' "dir = \"$T/hooks\"" '' \
	'[[remote]]' 'name = "nas"' "url = \"$NAS\"" '' \
	'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"" \
	'[job.keep]' 'last = 2'
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
make_demo_db "$T/app.db"
git init -q --bare "$NAS"

# Everything a run could change in the repository: refs, every object
# (loose and in packs), the pack files, the reflogs.
repo_state() {
	G for-each-ref --format='%(refname) %(objectname)'
	G count-objects -v | grep -v '^size'
	(cd "$REPO/objects" && find . -type f | sort)
	G cat-file --batch-all-objects --batch-check='%(objectname)' | wc -l
	find "$REPO/logs" -type f -exec md5sum {} + 2>/dev/null | sort
}

test_case "three snapshots, pushed, with a rotation policy of last 2" '
	expect_exit 0 dg init
	expect_exit 0 dg backup
	sqlite3 app.db "INSERT INTO plain VALUES (10, 1)"
	expect_exit 0 dg backup
	sqlite3 app.db "INSERT INTO plain VALUES (11, 2)"
	expect_exit 0 dg backup --no-push
	[ "$(G rev-list --count backup/app)" = 2 ]
	rm -f hooks.ran
'

test_case "a dry run reports what it would commit, rotate and push" '
	sqlite3 app.db "INSERT INTO plain VALUES (12, 3)"
	repo_state >before
	git --git-dir="$NAS" for-each-ref >nas.before
	expect_exit 0 dg backup --dry-run
	cat .stdout
	grep -q "^app: would commit [0-9]* tables, [0-9]* rows" .stdout
	grep -q "^backup/app: 3 snapshots, would keep 2, drop 1" .stdout
	grep -q "^  keep  (new) " .stdout
	grep -q "^  drop  " .stdout
	grep -q "^backup/app: would push to nas" .stdout
'

test_case "the dry run changed nothing in the repository" '
	repo_state >after
	diff before after
	git --git-dir="$NAS" for-each-ref >nas.after
	diff nas.before nas.after
	git --git-dir="$REPO" fsck --full
'

test_case "the dry run ran no hook" '
	test ! -e hooks.ran
'

test_case "a dry run with --json says dry-run and the plan sizes" '
	expect_exit 0 dg backup --dry-run --json
	python3 -c "
import json, sys
j = json.load(open(\".stdout\"))[0]
assert j[\"status\"] == \"dry-run\", j
assert j[\"would_keep\"] == 2 and j[\"would_drop\"] == 1, j
"
	repo_state >after
	diff before after
'

test_case "the real run then does what the dry run said" '
	expect_exit 0 dg backup
	[ "$(G rev-list --count backup/app)" = 2 ]
	[ "$(git --git-dir="$NAS" rev-parse backup/app)" = "$(G rev-parse backup/app)" ]
	grep -q pre-backup hooks.ran
'

test_done
