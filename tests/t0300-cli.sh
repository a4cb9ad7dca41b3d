#!/bin/bash
# t0300: the command line as scripts meet it: every command has help, bad
# usage exits 2 with one line and the usage, and --json output parses.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
make_demo_db "$T/app.db"
write_config "$T/dbgit.toml" "$REPO" '[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\""

test_case "dbgit help lists every command, and each has its own help" '
	"$DBGIT" help >help.txt
	for c in init backup list show diff restore verify rotate push status; do
		grep -q "^  $c " help.txt
		"$DBGIT" help $c >one.txt
		grep -q "^usage: dbgit $c" one.txt
		"$DBGIT" $c --help | grep -q "^usage: dbgit $c"
	done
	"$DBGIT" --version | grep -q "^dbgit [0-9]"
'

test_case "an unknown command or option exits 2 with one line" '
	expect_exit 2 "$DBGIT" frobnicate
	stderr_has "no command '\''frobnicate'\''"
	[ "$(wc -l <.stderr)" = 1 ]
	expect_exit 2 "$DBGIT" --frob list
	expect_exit 2 dg list --frob
	stderr_has "unknown option '\''--frob'\''"
	expect_exit 2 dg restore app
	stderr_has "--to TARGET is required"
	expect_exit 2 dg show
	expect_exit 2 "$DBGIT" help frobnicate
	expect_exit 2 "$DBGIT"
'

test_case "a missing configuration exits 2 and says where it looked" '
	cd "$T"
	mkdir -p empty
	cd empty
	expect_exit 2 env -u DBGIT_CONFIG "$DBGIT" list
	stderr_has "no configuration"
	DBGIT_CONFIG="$T/dbgit.toml" "$DBGIT" init >/dev/null
'

test_case "backup, list, show, status, verify and diff --stat speak JSON" '
	dg backup --json >b.json
	sqlite3 app.db "INSERT INTO plain VALUES (9, 9)"
	dg backup --json >b2.json
	dg list --json >l.json
	dg show app --json >s.json
	dg status --json >st.json
	dg verify app --all --json >v.json
	dg diff app --stat --json >d.json
	python3 - <<PY
import json
b = json.load(open("b.json")); assert b[0]["job"] == "app" and b[0]["status"] == "committed" and len(b[0]["commit"]) == 40, b
l = json.load(open("l.json")); assert len(l) == 2 and l[0]["id"] == json.load(open("b2.json"))[0]["commit"], l
s = json.load(open("s.json")); assert s["format_version"] == 1 and s["job"] == "app", s
st = json.load(open("st.json")); assert st[0]["snapshots"] == 2, st
v = json.load(open("v.json")); assert [x["result"] for x in v] == ["passed", "passed"], v
d = json.load(open("d.json")); assert d["tables"] == [{"name": "plain", "added": 1, "removed": 0, "changed": 0}], d
PY
'

test_case "quiet under cron: a successful backup prints nothing" '
	sqlite3 app.db "INSERT INTO plain VALUES (10, 10)"
	dg backup >out.txt 2>err.txt </dev/null
	[ ! -s out.txt ]
	[ ! -s err.txt ]
'

test_done
