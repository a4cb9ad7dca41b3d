#!/bin/bash
# t2003: `dbgit status` as the monitoring check. --max-age DURATION exits 1
# with one line per late, never-backed-up or failing job; a job never
# backed up says so instead of "newest - at - (- ago)"; sizes read as list
# prints them (KiB, MiB).
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
write_config "$T/dbgit.toml" "$REPO" \
	'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"" '' \
	'[[job]]' 'name = "new"' 'engine = "sqlite"' "path = \"$T/app.db\""
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
make_demo_db "$T/app.db"

test_case "a job never backed up reads as never, and is late for --max-age" '
	expect_exit 0 dg init
	expect_exit 0 dg backup app
	expect_exit 0 dg status
	grep -q "^new: never backed up$" .stdout
	test_must_fail grep -q "newest - at" .stdout
	expect_exit 1 dg status --max-age 26h
	stderr_has "new: never backed up"
	[ "$(wc -l <.stderr)" = 1 ]
'

test_case "sizes in KiB as list prints them" '
	expect_exit 0 dg status
	grep -Eq "^app: 1 snapshot, newest [0-9a-f]{12} at .* \([0-9]+m ago\), dump [0-9.]+ KiB$" .stdout
'

test_case "every job fresh: exit 0, nothing on stderr" '
	expect_exit 0 dg backup new
	expect_exit 0 dg status --max-age 26h
	[ ! -s .stderr ]
'

test_case "a snapshot older than --max-age is late: exit 1 and one line naming the job" '
	# The snapshot was taken seconds ago: any age below that is late.
	sleep 2
	expect_exit 1 dg status --max-age 1s
	stderr_has "app: late: newest snapshot is"
	stderr_has "new: late: newest snapshot is"
	[ "$(wc -l <.stderr)" = 2 ]
'

test_case "a failing last attempt fails the check although the snapshot is fresh" '
	mv app.db app.db.away
	expect_exit 1 dg backup new
	mv app.db.away app.db
	expect_exit 1 dg status --max-age 26h
	stderr_has "new: last attempt failed: job '\''new'\'': dump failed"
	[ "$(wc -l <.stderr)" = 1 ]
	expect_exit 0 dg backup new
	expect_exit 0 dg status --max-age 26h
'

test_case "--json carries the verdict and the last attempt" '
	expect_exit 1 dg status --json --max-age 1s
	python3 -c "
import json
j = {o[\"job\"]: o for o in json.load(open(\".stdout\"))}
assert j[\"app\"][\"late\"] is True and j[\"new\"][\"last_result\"] == \"ok\", j
"
'

test_case "a bad --max-age is a usage error" '
	expect_exit 2 dg status --max-age soon
	stderr_has "--max-age"
'

test_done
