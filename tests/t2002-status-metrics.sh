#!/bin/bash
# t2002: `dbgit status --prometheus` and [metrics] textfile: node_exporter
# textfile metrics per job, checked against the repository's real values
# (git, the newest MANIFEST.json, the size of objects/) and parsed as the
# Prometheus text format. The last attempt, its result and duration survive
# between runs (dbgit-state.json in the repository).
. "$TEST_SRCDIR/lib/test-lib.sh"
# Pushing: see tests/lsan.supp.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0

REPO=$T/backups.git
G() { git --git-dir="$REPO" "$@"; }
mkdir -p "$T/textfile"
write_config "$T/dbgit.toml" "$REPO" '[metrics]' "textfile = \"$T/textfile/dbgit.prom\"" '' \
	'[[remote]]' 'name = "nas"' "url = \"$T/nas.git\"" '' \
	'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"" '' \
	'[[job]]' 'name = "gone"' 'engine = "sqlite"' "path = \"$T/missing.db\"" '' \
	'[[job]]' 'name = "later"' 'engine = "sqlite"' "path = \"$T/app.db\""
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
make_demo_db "$T/app.db"
git init -q --bare "$T/nas.git"

# check_prom FILE: parses FILE as Prometheus text exposition format (every
# sample's metric has HELP and TYPE before it, names and labels well
# formed, values numbers) and prints "name{labels} value" lines, sorted.
check_prom() {
	python3 - "$1" <<'PY'
import re, sys
name_re = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*$')
sample_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')
helps, types, out, seen = {}, {}, [], set()
text = open(sys.argv[1]).read()
assert text.endswith("\n"), "no final newline"
for line in text.splitlines():
    if line.startswith("# HELP "):
        n, h = line[7:].split(" ", 1)
        assert name_re.match(n) and h and n not in helps, line
        helps[n] = h
    elif line.startswith("# TYPE "):
        n, t = line[7:].split(" ")
        assert n in helps and n not in types and t in ("gauge", "counter"), line
        types[n] = t
    else:
        m = sample_re.match(line)
        assert m, "not a sample: %r" % line
        n, labels, v = m.group(1), m.group(3) or "", m.group(4)
        assert n in types, "sample before its TYPE: %r" % line
        pairs = label_re.findall(labels)
        assert ",".join('%s="%s"' % p for p in pairs) == labels, "bad labels: %r" % line
        float(v)
        key = (n, labels)
        assert key not in seen, "duplicate sample %r" % line
        seen.add(key)
        out.append("%s{%s} %s" % (n, labels, v))
for n in helps:
    assert n in types, "HELP without TYPE: " + n
print("\n".join(sorted(out)))
PY
}
# py EXPR: EXPR on the manifest m (m.json).
py() { python3 -c "import json; m = json.load(open(\"m.json\")); print($1)"; }
# val FILE METRIC LABELS: the value of one sample.
val() { awk -v k="$2{$3}" '$1 == k { print $2 }' "$1"; }

test_case "two backups of app, one failing job, one never run" '
	expect_exit 0 dg init
	expect_exit 0 dg backup app
	sqlite3 app.db "INSERT INTO plain VALUES (9, 9)"
	expect_exit 1 dg backup app gone
	test -f textfile/dbgit.prom
'

test_case "the textfile parses as Prometheus text format and equals status --prometheus" '
	check_prom textfile/dbgit.prom >file.txt
	expect_exit 0 dg status --prometheus
	check_prom .stdout >status.txt
	diff file.txt status.txt
	test ! -e textfile/dbgit.prom.tmp-*
	[ "$(stat -c %a textfile/dbgit.prom)" = 644 ]
'

test_case "per-job values are those of the repository" '
	f=status.txt
	[ "$(val $f dbgit_snapshots job=\"app\")" = "$(G rev-list --count backup/app)" ]
	[ "$(val $f dbgit_last_success_timestamp_seconds job=\"app\")" = "$(G log -1 --format=%at backup/app)" ]
	G show backup/app:MANIFEST.json >m.json
	[ "$(val $f dbgit_snapshot_rows job=\"app\")" = "$(py "sum(t[\"rows\"] for t in m[\"tables\"])")" ]
	[ "$(val $f dbgit_snapshot_tables job=\"app\")" = "$(py "len(m[\"tables\"])")" ]
	[ "$(val $f dbgit_snapshot_bytes job=\"app\")" = "$(py "sum(x[\"size\"] for x in m[\"files\"])")" ]
	[ "$(val $f dbgit_snapshot_verified job=\"app\")" = 1 ]
	[ "$(val $f dbgit_last_attempt_success job=\"app\")" = 1 ]
	[ "$(val $f dbgit_repository_bytes "")" = "$(find "$REPO/objects" -type f -printf "%s\n" | awk "{s += \$1} END {print s}")" ]
'

test_case "the failing job: attempt recorded, result 0, no snapshot" '
	f=status.txt
	[ "$(val $f dbgit_last_attempt_success job=\"gone\")" = 0 ]
	[ "$(val $f dbgit_snapshots job=\"gone\")" = 0 ]
	[ "$(val $f dbgit_last_success_timestamp_seconds job=\"gone\")" = 0 ]
	t=$(val $f dbgit_last_attempt_timestamp_seconds job=\"gone\")
	now=$(date +%s)
	[ "$t" -gt $((now - 600)) ]
	[ "$t" -le "$now" ]
	[ "$(val $f dbgit_last_attempt_timestamp_seconds job=\"later\")" = 0 ]
	[ "$(val $f dbgit_snapshots job=\"later\")" = 0 ]
'

test_case "push state per remote: app in sync after its push, never-run job not" '
	f=status.txt
	[ "$(git --git-dir=nas.git rev-parse backup/app)" = "$(G rev-parse backup/app)" ]
	[ "$(val $f dbgit_remote_in_sync "job=\"app\",remote=\"nas\"")" = 1 ]
	[ "$(val $f dbgit_remote_in_sync "job=\"later\",remote=\"nas\"")" = 0 ]
	[ "$(val $f dbgit_push_last_success "")" = 1 ]
'

test_case "a commit not yet pushed shows as out of sync" '
	sqlite3 app.db "INSERT INTO plain VALUES (10, 10)"
	expect_exit 0 dg backup app --no-push
	expect_exit 0 dg status --prometheus
	check_prom .stdout >s2.txt
	[ "$(val s2.txt dbgit_remote_in_sync "job=\"app\",remote=\"nas\"")" = 0 ]
	[ "$(val s2.txt dbgit_snapshots job=\"app\")" = 3 ]
'

test_case "the last attempt survives between runs (state file in the repository, private)" '
	test -f "$REPO/dbgit-state.json"
	[ "$(stat -c %a "$REPO/dbgit-state.json")" = 600 ]
	python3 -c "
import json
s = json.load(open(\"$REPO/dbgit-state.json\"))
assert s[\"jobs\"][\"gone\"][\"last_result\"] == \"failed\", s
assert \"missing.db\" in s[\"jobs\"][\"gone\"][\"last_error\"], s
assert s[\"jobs\"][\"app\"][\"last_result\"] == \"ok\", s
"
	G fsck --full
'

test_case "--prometheus with --json is a usage error" '
	expect_exit 2 dg status --prometheus --json
'

test_done
