# test-lib.sh: the helper library of dbgit's scenario tests (in the manner of
# git's t/test-lib.sh). A test script sources it, defines small named cases
# with test_case, and ends with test_done.
#
#   . "$TEST_SRCDIR/lib/test-lib.sh"
#   test_case "a backup of a new database lists one snapshot" '
#       ...shell that fails on the first failing command...
#   '
#   test_done
#
# Each case runs in a subshell with `set -e`; the scratch directory $T is
# removed at exit and every server registered with test_track_pid is
# stopped, even when a case fails. set -e does not see a failure in
# `a && b` (of a), `! cmd` or `cmd || true`: write one check per line and
# test_must_fail CMD; lib/lint-tests.py (run by t0801) flags the rest.

set -u
# Files the tests make (hooks, keys) as a careful admin would: the checks
# on modes must not depend on the umask of whoever runs the suite.
umask 022
: "${DBGIT:?DBGIT must point at the dbgit binary}"
: "${TEST_SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
export TEST_SRCDIR

T=$(mktemp -d "${TMPDIR:-/tmp}/dbgit-test.XXXXXX")
export T
export HOME="$T/home"
mkdir -p "$HOME"
# Quiet, deterministic git for checks.
export GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=test GIT_AUTHOR_EMAIL=test@example.invalid
export GIT_COMMITTER_NAME=test GIT_COMMITTER_EMAIL=test@example.invalid
unset DBGIT_CONFIG DBGIT_NOW

_test_pass=0
_test_fail=0
_test_pids=()

# test_track_pid PID: stopped (TERM, then KILL) when the test script exits,
# pass or fail. Also from inside a test_case: a case runs in a subshell,
# whose variables the script's exit never sees, so the pid goes to a file.
test_track_pid() {
	_test_pids+=("$1")
	echo "$1" >>"$T/.test-pids"
}

_test_cleanup() {
	local pid
	if [ -f "$T/.test-pids" ]; then
		while read -r pid; do
			_test_pids+=("$pid")
		done <"$T/.test-pids"
	fi
	for pid in "${_test_pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${_test_pids[@]}"; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -9 "$pid" 2>/dev/null || true
	done
	[ -n "${TEST_KEEP:-}" ] || rm -rf "$T"
}
trap _test_cleanup EXIT
trap 'exit 130' INT TERM

# test_case NAME BODY: runs BODY in a subshell under set -e.
test_case() {
	local name=$1 body=$2
	# A plain statement, not "if ( ... )" nor "( ... ) || ...": bash ignores
	# set -e inside a condition or an && / || list, and every command of
	# the case must be able to fail it.
	local rc
	( set -e; cd "$T"; eval "$body" ) >"$T/.case.log" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ]; then
		_test_pass=$((_test_pass + 1))
		echo "ok - $name"
	else
		_test_fail=$((_test_fail + 1))
		echo "not ok - $name"
		sed 's/^/#   /' "$T/.case.log"
	fi
}

test_done() {
	echo "$_test_pass passed, $_test_fail failed"
	[ "$_test_fail" -eq 0 ]
}

# test_must_fail CMD...: CMD must exit non-zero (a bare "! cmd" never fails
# a case under set -e).
test_must_fail() {
	if "$@"; then
		echo "expected failure: $*" >&2
		return 1
	fi
}

# expect_exit CODE CMD...: runs CMD, fails unless it exits CODE. Its stderr
# is kept in $T/.stderr and its stdout in $T/.stdout.
expect_exit() {
	local want=$1 got=0
	shift
	"$@" >"$T/.stdout" 2>"$T/.stderr" || got=$?
	if [ "$got" -ne "$want" ]; then
		echo "expected exit $want, got $got: $*" >&2
		sed 's/^/  stdout: /' "$T/.stdout" >&2
		sed 's/^/  stderr: /' "$T/.stderr" >&2
		return 1
	fi
}

# stderr_has TEXT: the last expect_exit printed TEXT (fixed string) to stderr.
stderr_has() {
	grep -qF -- "$1" "$T/.stderr" || { echo "stderr lacks '$1':" >&2; cat "$T/.stderr" >&2; return 1; }
}

# A small SQLite database with the awkward cases: REALs that .dump loses,
# text with newlines and NULs, blobs, an AUTOINCREMENT table, a WITHOUT ROWID
# and a STRICT table, a generated column, a view, a trigger, an index, an
# FTS5 table, user_version and application_id.
make_demo_db() {
	sqlite3 "$1" <<'SQL'
PRAGMA user_version = 42;
PRAGMA application_id = 1234567;
CREATE TABLE customers(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, email TEXT UNIQUE, balance REAL);
CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id), total REAL, note TEXT, raw BLOB);
CREATE TABLE kv(k TEXT PRIMARY KEY, v ANY) STRICT, WITHOUT ROWID;
CREATE TABLE plain(a, b);
CREATE TABLE gen(a INTEGER, b INTEGER GENERATED ALWAYS AS (a * 2) VIRTUAL, c TEXT GENERATED ALWAYS AS (upper(name)) STORED, name TEXT);
CREATE INDEX orders_customer ON orders(customer_id);
CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;
CREATE TRIGGER customers_email AFTER UPDATE OF email ON customers BEGIN UPDATE orders SET note = 'email changed' WHERE customer_id = new.id; END;
CREATE VIRTUAL TABLE docs USING fts5(title, body);
INSERT INTO customers(name, email, balance) VALUES ('Ada', 'ada@example.org', 0.1), ('Bob', 'bob@example.org', 1e-310), ('Cy', NULL, 3.141592653589793), ('Di', 'di@example.org', -0.0);
INSERT INTO orders VALUES (1, 1, 0.30000000000000004, 'first' || char(10) || 'line two', X'00FF10'), (2, 2, 123.456, 'it''s', NULL), (3, 3, 1.7976931348623157e308, 'nul' || char(0) || 'inside', zeroblob(3));
INSERT INTO orders VALUES (4, 1, 2.2250738585072014e-308, 'tab	and cr' || char(13), X'');
INSERT INTO kv VALUES ('a', 1), ('b', 2.5), ('c', 'text'), ('d', X'0102'), ('e', NULL);
INSERT INTO plain VALUES (1, 'x'), (2, 'y');
DELETE FROM plain WHERE a = 1;
INSERT INTO plain VALUES (3, 'z');
INSERT INTO gen(a, name) VALUES (1, 'one'), (2, 'two');
INSERT INTO docs VALUES ('hello', 'the quick brown fox'), ('bye', 'jumps over the lazy dog');
SQL
}

# make_rows_db FILE N: a database whose one table t holds N rows of about
# 60 bytes: enough work that a signal or a kill lands in the middle of it.
make_rows_db() {
	sqlite3 "$1" "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2)
	INSERT INTO t SELECT i, 'value ' || i || ' ' || hex(randomblob(20)) FROM n;"
}

# write_config FILE REPO [extra TOML...]: a config with the repository only;
# the extra arguments are appended as lines.
write_config() {
	local file=$1 repo=$2
	shift 2
	{
		printf '[repository]\npath = "%s"\nauthor = "dbgit test <dbgit@example.invalid>"\n\n' "$repo"
		local line
		for line in "$@"; do printf '%s\n' "$line"; done
	} >"$file"
}

# same_db A B: the two SQLite databases hold the same schema, rows and
# values, by the real sqldiff (--schema too) and the PRAGMAs dumps forget.
same_db() {
	local d
	d=$(sqldiff "$1" "$2") || return 1
	[ -z "$d" ] || { echo "sqldiff $1 $2:"; echo "$d" | head -20; return 1; } >&2
	d=$(sqldiff --schema "$1" "$2") || return 1
	[ -z "$d" ] || { echo "sqldiff --schema $1 $2:"; echo "$d" | head -20; return 1; } >&2
	local p
	for p in user_version application_id; do
		[ "$(sqlite3 "$1" "PRAGMA $p")" = "$(sqlite3 "$2" "PRAGMA $p")" ] ||
			{ echo "PRAGMA $p differs" >&2; return 1; }
	done
	[ "$(sqlite3 "$2" 'PRAGMA integrity_check')" = ok ] || { echo "integrity_check failed on $2" >&2; return 1; }
}
