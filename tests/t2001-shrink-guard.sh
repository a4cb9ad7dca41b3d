#!/bin/bash
# t2001: the shrink guard. A snapshot that lost more than shrink_limit
# (default half) of a table's rows, or of all rows, since the snapshot
# before is still verified and committed, but the run exits 1 naming the
# table and the drop, the on-failure hook runs, and the branch is not
# rotated (the snapshots before may be the last good ones). An intended
# purge passes with --allow-shrink or allow_shrink = true.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
G() { git --git-dir="$REPO" "$@"; }
mkdir -p "$T/hooks"
for h in post-backup on-failure; do
	printf '#!/bin/sh\necho "%s $DBGIT_STATUS $DBGIT_COMMIT $DBGIT_MESSAGE" >>"%s/hooks.ran"\n' "$h" "$T" \
		>"$T/hooks/$h"
	chmod +x "$T/hooks/$h"
done
job='[[job]]'
cfg() {
	write_config "$T/$1.toml" "$REPO" '[hooks]' "dir = \"$T/hooks\"" '' \
		"$job" 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"" "${@:2}" \
		'[job.keep]' 'last = 1'
}
cfg dbgit
cfg allow 'allow_shrink = true'
cfg loose 'shrink_limit = 0.95'
write_config "$T/defaults.toml" "$REPO" '[defaults]' 'shrink_limit = 0.95' '' \
	"$job" 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\""
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
sqlite3 "$T/app.db" "CREATE TABLE big(id INTEGER PRIMARY KEY, v TEXT);
	CREATE TABLE small(id INTEGER PRIMARY KEY);
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
	INSERT INTO big SELECT i, 'row ' || i FROM n;
	INSERT INTO small VALUES (1), (2), (3);"
rows() { sqlite3 "$T/app.db" "SELECT count(*) FROM big"; }

test_case "a first snapshot has nothing to compare with" '
	expect_exit 0 dg init
	expect_exit 0 dg backup
'

test_case "losing 10% of a table passes" '
	sqlite3 app.db "DELETE FROM big WHERE id % 10 = 0"
	[ "$(rows)" = 900 ]
	expect_exit 0 dg backup
	rm -f hooks.ran
'

test_case "a table emptied of a few rows is not a lost database" '
	sqlite3 app.db "DELETE FROM small"
	expect_exit 0 dg backup
	rm -f hooks.ran
'

test_case "losing 90% of a table is committed, but the run fails naming the table and the drop" '
	before=$(G rev-parse backup/app)
	sqlite3 app.db "DELETE FROM big WHERE id > 100"
	[ "$(rows)" = 90 ]
	expect_exit 1 dg backup
	stderr_has "job '\''app'\'': table '\''big'\'' fell from 900 to 90 rows (-90%), more than the shrink limit of 50%"
	stderr_has "allow_shrink = true or --allow-shrink"
	[ "$(wc -l <.stderr)" = 1 ]
	after=$(G rev-parse backup/app)
	[ "$before" != "$after" ]
	[ "$(G rev-parse backup/app~1)" = "$before" ]
	G show backup/app:MANIFEST.json >m.json
	python3 -c "import json; assert json.load(open(\"m.json\"))[\"verification\"][\"result\"] == \"passed\""
	G fsck --full
'

test_case "the on-failure hook ran with the drop, post-backup did not" '
	grep -q "^on-failure failed $(G rev-parse backup/app) job .app.: table .big. fell from 900 to 90" hooks.ran
	test_must_fail grep -q "^post-backup" hooks.ran
'

test_case "the branch was not rotated after the shrink (last = 1 would keep one)" '
	[ "$(G rev-list --count backup/app)" = 2 ]
'

test_case "status and status --max-age report the shrunk attempt" '
	expect_exit 0 dg status
	grep -q "last attempt shrunk: job .app.: table .big. fell" .stdout
	expect_exit 1 dg status --max-age 26h
	stderr_has "app: last attempt shrunk: job '\''app'\'': table '\''big'\''"
'

test_case "--allow-shrink passes an intended purge" '
	sqlite3 app.db "DELETE FROM big WHERE id > 5"
	rm -f hooks.ran
	expect_exit 0 dg backup --allow-shrink
	grep -q "^post-backup ok" hooks.ran
	[ "$(G rev-list --count backup/app)" = 1 ]
	expect_exit 0 dg status --max-age 26h
'

test_case "allow_shrink = true in the job passes it too" '
	sqlite3 app.db "WITH RECURSIVE n(i) AS (SELECT 6 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
		INSERT INTO big SELECT i, '\''x'\'' FROM n"
	expect_exit 0 dg backup
	sqlite3 app.db "DELETE FROM big WHERE id > 50"
	expect_exit 0 "$DBGIT" --config "$T/allow.toml" backup
'

test_case "shrink_limit = 0.95 in the job or in [defaults] lets 90% pass, not 99%" '
	sqlite3 app.db "WITH RECURSIVE n(i) AS (SELECT 51 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
		INSERT INTO big SELECT i, '\''x'\'' FROM n"
	expect_exit 0 dg backup
	sqlite3 app.db "DELETE FROM big WHERE id > 100"
	expect_exit 0 "$DBGIT" --config "$T/loose.toml" backup
	sqlite3 app.db "WITH RECURSIVE n(i) AS (SELECT 101 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
		INSERT INTO big SELECT i, '\''x'\'' FROM n"
	expect_exit 0 dg backup
	sqlite3 app.db "DELETE FROM big WHERE id > 100"
	expect_exit 0 "$DBGIT" --config "$T/defaults.toml" backup
	sqlite3 app.db "WITH RECURSIVE n(i) AS (SELECT 101 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
		INSERT INTO big SELECT i, '\''x'\'' FROM n"
	expect_exit 0 dg backup
	sqlite3 app.db "DELETE FROM big WHERE id > 5"
	expect_exit 1 "$DBGIT" --config "$T/loose.toml" backup
	stderr_has "fell from 1000 to 5 rows (-100%), more than the shrink limit of 95%"
'

test_case "a bad shrink_limit is a configuration error naming the key" '
	cfg bad "shrink_limit = 1.5"
	expect_exit 2 "$DBGIT" --config "$T/bad.toml" backup
	stderr_has "shrink_limit"
'

test_done
