#!/bin/bash
# t0800: the environment variables meant for tests (DBGIT_NOW,
# DBGIT_TEST_CORRUPT, DBGIT_TEST_PAUSE_RECLAIM and the others) exist only
# in the test build.
# A release build of this very checkout (configured and built here, which
# takes a minute) ignores them: a stray DBGIT_NOW in a production
# environment cannot back-date a snapshot, and DBGIT_TEST_CORRUPT cannot
# make a good snapshot fail its verification.
. "$TEST_SRCDIR/lib/test-lib.sh"

REL=$T/release
REPO=$T/backups.git
make_demo_db "$T/app.db"
write_config "$T/dbgit.toml" "$REPO" '[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\""

test_case "a release build (DBGIT_SANITIZE=OFF) configures and builds" '
	cmake -S "$TEST_SRCDIR/.." -B "$REL" -DDBGIT_SANITIZE=OFF >cmake.log
	grep -q "^DBGIT_TEST_HOOKS:BOOL=OFF" "$REL/CMakeCache.txt"
	cmake --build "$REL" -j2 --target dbgit >build.log
	test -x "$REL/dbgit"
'

test_case "--version names the libraries; only the test build says it has test hooks" '
	expect_exit 0 "$REL/dbgit" --version
	grep -q "^dbgit [0-9]" .stdout
	grep -q "^libgit2 1\.[0-9]*\.[0-9]*, SQLite 3\.[0-9.]*, libssh2 [0-9.]*, zlib [0-9.]*, cJSON [0-9.]*, OpenSSL " .stdout
	test_must_fail grep -q "test hooks" .stdout
	expect_exit 0 "$DBGIT" --version
	grep -q "^test hooks compiled in: DBGIT_NOW, DBGIT_TEST_CORRUPT, DBGIT_TEST_PAUSE_RECLAIM and DBGIT_TEST_PAUSE_RESTORE" .stdout
'

test_case "the release binary does not even hold the variables names" '
	for v in DBGIT_NOW DBGIT_TEST_CORRUPT DBGIT_TEST_PAUSE_RECLAIM DBGIT_TEST_PAUSE_RESTORE DBGIT_TEST_LOOSE_MIN DBGIT_TEST_CORRUPT_PACK; do
		test_must_fail grep -q -a "$v" "$REL/dbgit"
		grep -q -a "$v" "$DBGIT"
	done
'

test_case "DBGIT_NOW sets the commit time in the test build only" '
	"$DBGIT" --config dbgit.toml init >/dev/null
	DBGIT_NOW=2001-02-03T04:05:06Z expect_exit 0 "$DBGIT" --config dbgit.toml backup
	[ "$(git --git-dir="$REPO" log -1 --format=%ct backup/app)" = 981173106 ]
	start=$(date +%s)
	DBGIT_NOW=2001-02-03T04:05:06Z expect_exit 0 "$REL/dbgit" --config dbgit.toml backup
	when=$(git --git-dir="$REPO" log -1 --format=%ct backup/app)
	[ "$when" -ge "$start" ]
	[ "$when" -le "$(date +%s)" ]
	git --git-dir="$REPO" show backup/app:MANIFEST.json >manifest.json
	grep -q "\"started\":[[:space:]]*\"$(date -u +%Y)-" manifest.json
	[ "$(git --git-dir="$REPO" rev-list --count backup/app)" = 2 ]
	git --git-dir="$REPO" fsck --full
'

test_case "DBGIT_TEST_CORRUPT fails a verification in the test build only" '
	before=$(git --git-dir="$REPO" rev-parse backup/app)
	sqlite3 app.db "INSERT INTO plain VALUES (9, '\''new'\'')"
	DBGIT_TEST_CORRUPT=drop-line:1-table/orders/1-rows expect_exit 1 "$DBGIT" --config dbgit.toml backup
	stderr_has "table orders"
	[ "$(git --git-dir="$REPO" rev-parse backup/app)" = "$before" ]
	DBGIT_TEST_CORRUPT=drop-line:1-table/orders/1-rows expect_exit 0 "$REL/dbgit" --config dbgit.toml backup
	[ "$(git --git-dir="$REPO" rev-parse backup/app^)" = "$before" ]
'

test_done
