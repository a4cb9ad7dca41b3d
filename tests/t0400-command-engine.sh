#!/bin/bash
# t0400: engine = "command" - any tool that writes a dump to its standard
# output. dbgit keeps the stream, verifies it bit for bit from the
# repository, diffs it, restores it to a file, and refuses a dump whose
# command failed.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
make_demo_db "$T/app.db"
write_config "$T/dbgit.toml" "$REPO" \
	'[[job]]' 'name = "tool"' 'engine = "command"' "command = \"sqlite3 '$T/app.db' .dump\"" '' \
	'[[job]]' 'name = "broken"' 'engine = "command"' "command = \"echo partial; exit 3\"" '' \
	'[[job]]' 'name = "bytes"' 'engine = "command"' "command = \"head -c 3000000 /dev/urandom | tee '$T/bytes.bin'\""
dg init >/dev/null

test_case "a command's output is stored, verified and listed" '
	dg backup tool bytes
	dg list tool | grep -q "stream"
	dg show tool --json >m.json
	python3 -c "
import json; m = json.load(open(\"m.json\"))
assert m[\"engine\"] == \"command\" and m[\"formats\"] == [\"stream\"], m
assert m[\"verification\"][\"result\"] == \"passed\", m
assert m[\"tables\"][0][\"name\"] == \"dump.out\" and m[\"tables\"][0][\"rows\"] > 10, m
"
	dg verify tool --all
'

test_case "restore writes the stream back byte for byte, text or binary" '
	dg restore tool --to out.sql
	sqlite3 "$T/app.db" .dump | cmp - out.sql
	dg restore bytes --to out.bin
	cmp bytes.bin out.bin
	[ "$(git --git-dir="$REPO" ls-tree -r --name-only backup/bytes | grep -c "^dump-")" -ge 3 ]
'

test_case "diff shows what changed between two outputs" '
	sqlite3 app.db "INSERT INTO plain VALUES (42, '\''the answer'\'')"
	dg backup tool
	dg diff tool --no-color >d.txt
	grep -q "^+INSERT INTO plain VALUES(42,'\''the answer'\'');" d.txt
	expect_exit 2 dg diff tool --stat
	stderr_has "not available for engine \"command\""
'

test_case "a command that fails commits nothing and says how it failed" '
	expect_exit 1 dg backup broken
	stderr_has "job '\''broken'\'': dump failed: job '\''broken'\'': its command exited with status 3; the dump is not kept"
	test_must_fail git --git-dir="$REPO" rev-parse -q --verify refs/heads/backup/broken
'

test_case "a stream changed in the repository fails verification" '
	id=$(git --git-dir="$REPO" rev-parse "backup/tool:dump-000000.out")
	f="$REPO/objects/${id:0:2}/${id:2}"
	python3 - "$f" <<PY
import sys, zlib
p = sys.argv[1]; raw = bytearray(zlib.decompress(open(p, "rb").read()))
i = raw.index(b"INSERT"); raw[i] = ord("X")
open(p, "wb").write(zlib.compress(bytes(raw)))
PY
	expect_exit 1 dg verify tool
	stderr_has "dump-000000.out"
'

test_case "a command job without a command is a configuration error" '
	write_config bad.toml "$REPO" "[[job]]" "name = \"x\"" "engine = \"command\""
	expect_exit 2 "$DBGIT" --config bad.toml list
	stderr_has "missing required key '\''command'\''"
'

test_case "a command that prints nothing commits nothing, unless allow_empty says so" '
	write_config empty.toml "$REPO" "[[job]]" "name = \"empty\"" "engine = \"command\"" "command = \"true\""
	expect_exit 1 "$DBGIT" --config empty.toml backup
	stderr_has "job '\''empty'\'': its command wrote nothing; an empty dump is not kept"
	[ "$(wc -l <.stderr)" = 1 ]
	test_must_fail git --git-dir="$REPO" rev-parse -q --verify refs/heads/backup/empty
	printf "allow_empty = true\n" >>empty.toml
	"$DBGIT" --config empty.toml backup
	git --git-dir="$REPO" rev-parse -q --verify refs/heads/backup/empty
'

test_case "the manifest names the command, less its password, and no object holds the password" '
	write_config pw.toml "$REPO" "[[job]]" "name = \"pw\"" "engine = \"command\"" \
		"command = \"PGPASSWORD=hunter2 sqlite3 '\''$T/app.db'\'' .dump; : --password=hunter2 -phunter2\""
	"$DBGIT" --config pw.toml backup
	"$DBGIT" --config pw.toml show pw --json >pw.json
	python3 -c "
import json; m = json.load(open(\"pw.json\"))
assert m[\"source\"].startswith(\"PGPASSWORD=*** sqlite3 \"), m[\"source\"]
assert \"--password=***\" in m[\"source\"] and \"-p***\" in m[\"source\"], m[\"source\"]
"
	git --git-dir="$REPO" cat-file --batch-all-objects --batch >objects.txt
	test_must_fail grep -q hunter2 objects.txt
'

test_case "without dbgit: git archive and cat give the dump back, as README shows" '
	rm -rf snap
	mkdir snap
	git --git-dir="$REPO" archive backup/pw | tar -x -C snap
	(cd snap && find . -type f -name "dump-*.out" -print0 | LC_ALL=C sort -z | xargs -0 cat) >plain.sql
	"$DBGIT" --config pw.toml restore pw --to via-dbgit.sql
	cmp plain.sql via-dbgit.sql
	sqlite3 "$T/app.db" .dump | cmp - plain.sql
'

test_done
