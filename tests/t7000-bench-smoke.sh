#!/bin/bash
# t7000: bench/bench.sh (issue 10) runs end to end at a tiny size: the app
# database, nights of churn, dbgit beside the hand-made script (and restic
# and borg where installed), the table of targets and its JSON twin. No
# timing is checked: the figures depend on the machine; the run must
# complete, name every figure, and leave nothing behind.
. "$TEST_SRCDIR/lib/test-lib.sh"

# The run pushes: libgit2 1.5.1's leak on every push is suppressed in
# tests/lsan.supp, and the slow unwinder lets the stacks reach the
# suppressed frames (as lib/sshd.sh does).
export ASAN_OPTIONS="fast_unwind_on_malloc=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
BENCH=$(cd "$TEST_SRCDIR/.." && pwd)/bench/bench.sh
mkdir -p "$T/tmp"
# bench [ARGS...]: a tiny run with the test's dbgit, never installing.
bench() { TMPDIR="$T/tmp" bash "$BENCH" --rows 3000 --nights 3 --no-install "$@" "$DBGIT"; }

test_case "the app database has its tables, foreign keys and indexes, and churn keeps it consistent" '
	python3 "$TEST_SRCDIR/../bench/appdb.py" create app.db 5000
	[ "$(python3 "$TEST_SRCDIR/../bench/appdb.py" rows app.db)" -ge 4900 ]
	[ "$(sqlite3 app.db "SELECT count(*) FROM sqlite_schema WHERE type = '"'"'table'"'"'")" = 5 ]
	[ "$(sqlite3 app.db "SELECT count(*) FROM sqlite_schema WHERE type = '"'"'index'"'"' AND sql IS NOT NULL")" = 4 ]
	[ "$(sqlite3 app.db "SELECT count(*) FROM pragma_foreign_key_list('"'"'order_items'"'"')")" = 2 ]
	[ "$(sqlite3 app.db "SELECT count(*) FROM users WHERE avatar IS NOT NULL")" -gt 0 ]
	[ "$(sqlite3 app.db "SELECT count(*) FROM orders WHERE json_valid(meta)")" = "$(sqlite3 app.db "SELECT count(*) FROM orders")" ]
	cp app.db before.db
	python3 "$TEST_SRCDIR/../bench/appdb.py" churn app.db 2 skewed 2
	[ "$(sqlite3 app.db "PRAGMA foreign_key_check")" = "" ]
	[ "$(sqlite3 app.db "PRAGMA integrity_check")" = ok ]
	sqldiff before.db app.db >changes.sql
	[ "$(grep -c . changes.sql)" -gt 50 ]
	# The same night twice gives the same database: nights are reproducible.
	cp before.db again.db
	python3 "$TEST_SRCDIR/../bench/appdb.py" churn again.db 2 skewed 2
	same_db app.db again.db
'

test_case "a tiny run prints the table of tools and every target, and leaves nothing behind" '
	args=()
	if [ "$(id -u)" = 0 ] && [ -x /usr/sbin/sshd ]; then
		args=(--ssh)
	fi
	expect_exit 0 bench --churn skewed "${args[@]}"
	cp "$T/.stdout" out.md
	stderr_has "night 3 of 3"
	grep -q "^| dbgit | [0-9.]* s | [0-9.]* s | [0-9]* MiB |" out.md
	grep -q "^| script: .* | [0-9.]* s ([0-9.]*) | [0-9.]* s ([0-9.]*) |" out.md
	for fig in "first snapshot" "nightly snapshot (median)" "nightly / first" \
		"repository after 3 nights, vs git after" "restore latest" "peak RSS of \`backup\`" \
		"peak RSS, one 32 MiB BLOB" "a night that rotates" "nightly push" \
		"\`dbgit diff\` of the two last nights" "\`dbgit diff --stat\`"; do
		grep -qF "| $fig" out.md || { echo "no row: $fig"; exit 1; }
	done
	grep -q "3 nights of 1% skewed churn" out.md
	# The encrypted column comes with `dbgit keygen` (encryption at rest).
	if "$DBGIT" help keygen >/dev/null 2>&1; then
		grep -q "^| dbgit, encrypted | [0-9.]* s (" out.md
	else
		stderr_has "dbgit-encrypted skipped"
	fi
	if [ ${#args[@]} -gt 0 ]; then
		grep -q "^| end to end over SSH" out.md
	fi
	[ -z "$(ls "$T/tmp")" ]
'

test_case "--json gives the same figures as one JSON document" '
	expect_exit 0 bench --no-peers --save raw.txt --json
	python3 - "$T/.stdout" <<-"PY"
	import json, sys
	doc = json.load(open(sys.argv[1]))
	tools = {t["tool"]: t for t in doc["tools"]}
	assert set(tools) >= {"dbgit", "script"}, tools
	assert "restic" not in tools and "borg" not in tools
	for t in tools.values():
	    for k in ("first_s", "nightly_median_s", "peak_rss_kib", "repository_bytes", "restore_s"):
	        assert t[k] > 0, (t["tool"], k)
	figs = [t["figure"] for t in doc["targets"]]
	assert "first snapshot" in figs and "restore latest" in figs, figs
	for t in doc["targets"]:
	    assert t["ratio"] is None or t["ratio"] > 0, t
	    assert t["met"] in (True, False, None), t
	assert int(doc["raw"]["rows"]) > 2900
	PY
	grep -q "^dbgit.n3.s [0-9.]*$" raw.txt
	python3 "$TEST_SRCDIR/../bench/report.py" raw.txt 0 >again.md
	grep -q "^| first snapshot |" again.md
	[ -z "$(ls "$T/tmp")" ]
'

test_case "a peer that is missing and may not be installed is skipped with a line saying so" '
	# dpkg says restic is not installed; --no-install forbids apt-get.
	mkdir bin
	cat >bin/dpkg-query <<-EOF
	#!/bin/sh
	for a; do [ "\$a" = restic ] && exit 1; done
	exec /usr/bin/dpkg-query "\$@"
	EOF
	chmod +x bin/dpkg-query
	PATH="$T/bin:$PATH" expect_exit 0 bench --nights 2
	stderr_has "restic skipped"
	test_must_fail grep -q "^| restic" "$T/.stdout"
	grep -q "^| dbgit |" "$T/.stdout"
'

test_case "bad options are refused with exit 2 and one line" '
	expect_exit 2 bench --churn zigzag
	stderr_has "--churn is uniform or skewed"
	expect_exit 2 bench --nights 1
	stderr_has "--nights needs a number >= 2"
	expect_exit 2 bench --size huge
	stderr_has "--size takes"
	[ -z "$(ls "$T/tmp")" ]
'

test_done
