#!/bin/bash
# The table of bad inputs: configuration, database, repository, revision,
# time, restore target and hostile snapshots (as a remote others can push to
# would hand them back). Every row: the documented exit status, exactly one
# line on stderr naming the culprit, no crash (no sanitizer report, no
# signal), and nothing lost - no branch moved, no target written, no
# scratch data left in $TMPDIR, no file written outside.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
export TMPDIR=$T/tmp
mkdir -p "$TMPDIR"
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
tip() { git --git-dir="$REPO" rev-parse -q --verify "refs/heads/backup/$1" || echo none; }
ROWS=$T/rows.txt
: >"$ROWS"

make_demo_db "$T/app.db"
write_config "$T/dbgit.toml" "$REPO" \
	'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"" \
	'[[job]]' 'name = "bin"' 'engine = "sqlite"' 'format = "binary"' "path = \"$T/app.db\"" \
	'[[job]]' 'name = "evil"' 'engine = "sqlite"' "path = \"$T/app.db\""
"$DBGIT" --config "$T/dbgit.toml" init >/dev/null
"$DBGIT" --config "$T/dbgit.toml" backup >/dev/null
sqlite3 "$T/app.db" "INSERT INTO plain VALUES (5, 'five')"
"$DBGIT" --config "$T/dbgit.toml" backup app >/dev/null
TIP_APP=$(tip app)
TIP_BIN=$(tip bin)
GOOD_EVIL=$(tip evil)

# The state every row must leave behind.
refs_before=$(git --git-dir="$REPO" for-each-ref)
untouched() {
	local now
	now=$(git --git-dir="$REPO" for-each-ref | grep -v refs/heads/backup/evil || true)
	[ "$now" = "$(echo "$refs_before" | grep -v refs/heads/backup/evil || true)" ] ||
		{ echo "a branch moved:"; echo "$now"; return 1; } >&2
	[ -z "$(ls -A "$TMPDIR")" ] || { echo "scratch left in TMPDIR:"; ls -la "$TMPDIR"; return 1; } >&2
	[ ! -e "$T/pwned" ] || { echo "a hostile snapshot wrote $T/pwned" >&2; return 1; }
	[ ! -e "$T/out.db" ] || { echo "a target was written" >&2; return 1; }
	if ls "$T"/.out.db.dbgit-restore-* "$T"/out.db.dbgit-restore-* >/dev/null 2>&1; then
		echo "a restore temp file was left" >&2
		return 1
	fi
}

# bad EXIT TEXT CMD...: one row of the table.
bad() {
	local want=$1 text=$2
	shift 2
	expect_exit "$want" "$@"
	if grep -Eq "AddressSanitizer|runtime error|LeakSanitizer" "$T/.stderr"; then
		echo "sanitizer report for: $*" >&2
		cat "$T/.stderr" >&2
		return 1
	fi
	# A usage error may add the command's usage line.
	if [ "$(grep -vc "^usage: dbgit" "$T/.stderr")" != 1 ]; then
		echo "stderr is not one line for: $*" >&2
		cat "$T/.stderr" >&2
		return 1
	fi
	grep -q "^dbgit" "$T/.stderr" || { echo "stderr does not start with dbgit:" >&2; cat "$T/.stderr" >&2; return 1; }
	stderr_has "$text"
	untouched
	printf '%s\t%s\t%s\n' "$want" "$*" "$(cat "$T/.stderr")" >>"$ROWS"
}

# cfg NAME LINES...: a config file beside the good one.
cfg() {
	local name=$1
	shift
	write_config "$T/$name" "$REPO" "$@"
}
JOB=('[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"")

test_case "configuration: each mistake is exit 2 naming the file and the key or line" '
	cfg c1.toml "${JOB[@]}" "pth = \"x\""
	bad 2 "c1.toml:9:" "$DBGIT" --config c1.toml backup
	printf "[repository\npath = 1\n" >c2.toml
	bad 2 "line 1" "$DBGIT" --config c2.toml backup
	bad 2 "nowhere.toml" "$DBGIT" --config nowhere.toml backup
	mkdir -p adir.toml
	bad 2 "adir.toml" "$DBGIT" --config adir.toml backup
	cfg c3.toml "[[job]]" "name = \"app\"" "engine = \"oracle\"" "path = \"$T/app.db\""
	bad 2 "oracle" "$DBGIT" --config c3.toml backup
	cfg c4.toml "${JOB[@]}" "${JOB[@]}"
	bad 2 "app" "$DBGIT" --config c4.toml backup
	cfg c5.toml "${JOB[@]}" "format = \"xml\""
	bad 2 "xml" "$DBGIT" --config c5.toml backup
	cfg c6.toml "${JOB[@]}" "busy_timeout = \"soon\""
	bad 2 "busy_timeout" "$DBGIT" --config c6.toml backup
	cfg c7.toml "[keep]" "within = \"forever\"" "${JOB[@]}"
	bad 2 "within" "$DBGIT" --config c7.toml backup
	cfg c8.toml "${JOB[@]}" "branch = \"bad..name\""
	bad 2 "bad..name" "$DBGIT" --config c8.toml backup
	cfg c9.toml "${JOB[@]}" "format = \"binary\"" "exclude_tables = [\"plain\"]"
	bad 2 "exclude_tables" "$DBGIT" --config c9.toml backup
	cfg c10.toml "[[job]]" "engine = \"sqlite\"" "path = \"$T/app.db\""
	bad 2 "name" "$DBGIT" --config c10.toml backup
	cfg c11.toml "[keep]" "${JOB[@]}"
	bad 2 "keep" "$DBGIT" --config c11.toml backup
	cfg c12.toml "${JOB[@]}" "[[remote]]" "name = \"r\""
	bad 2 "url" "$DBGIT" --config c12.toml backup
'

test_case "databases: missing, empty, not SQLite, a directory - exit 1 naming the file" '
	cfg d1.toml "[[job]]" "name = \"app\"" "engine = \"sqlite\"" "path = \"$T/missing.db\""
	bad 1 "$T/missing.db" "$DBGIT" --config d1.toml backup app
	: >empty.db
	cfg d2.toml "[[job]]" "name = \"app\"" "engine = \"sqlite\"" "path = \"$T/empty.db\""
	bad 1 "$T/empty.db" "$DBGIT" --config d2.toml backup app
	printf "id,name\n1,ada\n%.0s" $(seq 400) >text.db
	cfg d3.toml "[[job]]" "name = \"app\"" "engine = \"sqlite\"" "path = \"$T/text.db\""
	bad 1 "$T/text.db" "$DBGIT" --config d3.toml backup app
	mkdir -p dir.db
	cfg d4.toml "[[job]]" "name = \"app\"" "engine = \"sqlite\"" "path = \"$T/dir.db\""
	bad 1 "$T/dir.db" "$DBGIT" --config d4.toml backup app
'

test_case "repositories and commands: exit 2 naming what is wrong" '
	mkdir -p notrepo
	cfg r1.toml "${JOB[@]}"
	sed -i "s#$REPO#$T/notrepo#" r1.toml
	bad 2 "$T/notrepo" "$DBGIT" --config r1.toml list
	: >afile.git
	sed "s#$T/notrepo#$T/afile.git#" r1.toml >r2.toml
	bad 2 "$T/afile.git" "$DBGIT" --config r2.toml list
	bad 2 "nope" dg backup nope
	bad 2 "frobnicate" dg frobnicate
	bad 2 "--sideways" dg list --sideways
'

test_case "revisions and times: exit 2 naming the revision or time" '
	bad 2 "no-such-rev" dg show app no-such-rev
	bad 2 "HEAD~99" dg verify app HEAD~99
	bad 2 "deadbeefdeadbeef" dg restore app deadbeefdeadbeef --to out.db
	bad 2 "not a snapshot on branch" dg restore app "$TIP_BIN" --to out.db
	bad 2 "../../etc/passwd" dg show app ../../etc/passwd
	bad 2 "tomorrow-ish" dg restore app --at tomorrow-ish --to out.db
	bad 2 "2026-13-45" dg restore app --at 2026-13-45 --to out.db
	bad 2 "1970-01-02" dg restore app --at 1970-01-02 --to out.db
'

test_case "restore targets: an existing file, a directory, a symlink, a device - refused" '
	echo keep >existing.db
	bad 2 "existing.db" dg restore app --to existing.db
	[ "$(cat existing.db)" = keep ]
	mkdir -p adir
	bad 2 "adir" dg restore app --to adir --force
	ln -s "$T/nowhere.db" dangling.db
	bad 2 "dangling.db" dg restore app --to dangling.db
	[ -L dangling.db ]
	[ ! -e nowhere.db ]
	ln -s "$T/existing.db" link.db
	bad 2 "link.db" dg restore app --to link.db --force
	[ "$(cat existing.db)" = keep ]
	mkfifo fifo.db
	bad 2 "fifo.db" dg restore app --to fifo.db --force
	[ -p fifo.db ]
	mknod chardev.db c 1 3
	bad 2 "chardev.db" dg restore app --to chardev.db --force
	[ -c chardev.db ]
	bad 2 "folder no-such-dir does not exist" dg restore app --to no-such-dir/out.db
'

# A hostile snapshot on branch backup/evil: the tree of the good one with
# one file added or replaced (PATH BLOB-CONTENT), or the manifest replaced.
craft() {
	local path=$1 content=$2 mode=${3:-100644}
	local base blob tree commit
	base=$(git --git-dir="$REPO" rev-parse "$GOOD_EVIL^{tree}")
	blob=$(printf "%s" "$content" | git --git-dir="$REPO" hash-object -w --stdin)
	tree=$( { git --git-dir="$REPO" ls-tree "$base" | grep -v "	$path\$" || true; \
		printf "%s blob %s\t%s\n" "$mode" "$blob" "$path"; } | git --git-dir="$REPO" mktree --missing)
	commit=$(git --git-dir="$REPO" commit-tree "$tree" -p "$GOOD_EVIL" -m "evil")
	git --git-dir="$REPO" update-ref refs/heads/backup/evil "$commit"
}
evil_rows() {
	# Both restore and verify refuse, each with one line.
	bad "$1" "$2" dg restore evil --to out.db
	bad 1 "$2" dg verify evil
	git --git-dir="$REPO" update-ref refs/heads/backup/evil "$GOOD_EVIL"
}

test_case "hostile snapshot SQL: ATTACH, VACUUM INTO, PRAGMAs, extensions, dot-commands" '
	craft "2-zz-evil.sql" "ATTACH DATABASE '\''$T/pwned'\'' AS p;
CREATE TABLE p.t(x);
"
	evil_rows 1 "ATTACH"
	craft "2-zz-evil.sql" "VACUUM INTO '\''$T/pwned'\'';
"
	evil_rows 1 "VACUUM"
	craft "2-zz-evil.sql" "PRAGMA writable_schema = 1;
"
	evil_rows 1 "writable_schema"
	craft "2-zz-evil.sql" "SELECT load_extension('\''$T/pwned.so'\'');
"
	evil_rows 1 "2-zz-evil.sql line 1"
	craft "2-zz-evil.sql" ".shell touch $T/pwned
"
	evil_rows 1 "2-zz-evil.sql"
	craft "2-zz-evil.sql" "SELECT writefile('\''$T/pwned'\'', '\''x'\'');
"
	evil_rows 1 "2-zz-evil.sql line 1"
'

test_case "hostile trees: a path outside, a symlink, a lost index or trigger" '
	craft "2-zz-link.sql" "/etc/passwd" 120000
	evil_rows 1 "2-zz-link.sql"
	craft ".." "x"
	evil_rows 1 ".."
	idx=$(git --git-dir="$REPO" ls-tree "$GOOD_EVIL" | grep "3-schema" | awk "{print \$4}")
	schema=$(git --git-dir="$REPO" show "$GOOD_EVIL:$idx" | grep -v "CREATE INDEX")
	craft "$idx" "$schema
"
	evil_rows 1 "orders_customer"
	schema=$(git --git-dir="$REPO" show "$GOOD_EVIL:$idx" | grep -v "CREATE TRIGGER")
	craft "$idx" "$schema
"
	evil_rows 1 "customers_email"
'

test_case "hostile manifests: not JSON, type-confused, huge, deeply nested" '
	craft MANIFEST.json "{ not json"
	evil_rows 1 "MANIFEST.json"
	craft MANIFEST.json "[1, 2, 3]"
	evil_rows 1 "MANIFEST.json"
	m=$(git --git-dir="$REPO" show "$GOOD_EVIL:MANIFEST.json")
	craft MANIFEST.json "$(echo "$m" | python3 -c "import json,sys; m=json.load(sys.stdin); m[\"tables\"][0][\"rows\"]=\"many\"; print(json.dumps(m))")"
	evil_rows 1 "rows"
	craft MANIFEST.json "$(echo "$m" | python3 -c "import json,sys; m=json.load(sys.stdin); m[\"tables\"]={\"a\":1}; print(json.dumps(m))")"
	evil_rows 1 "tables"
	craft MANIFEST.json "$(echo "$m" | python3 -c "import json,sys; m=json.load(sys.stdin); m[\"formats\"]=[\"../../x\"]; print(json.dumps(m))")"
	evil_rows 1 "formats"
	craft MANIFEST.json "$(python3 -c "print(\"[\" * 100000 + \"]\" * 100000)")"
	evil_rows 1 "MANIFEST.json"
	craft MANIFEST.json "$(echo "$m" | python3 -c "import json,sys; m=json.load(sys.stdin); m[\"tables\"][0][\"rows\"]=-5; print(json.dumps(m))")"
	evil_rows 1 "rows"
	craft MANIFEST.json "$(echo "$m" | python3 -c "import json,sys; m=json.load(sys.stdin); m[\"engine\"]=\"oracle\"; print(json.dumps(m))")"
	evil_rows 1 "oracle"
	python3 -c "print(\"{\\\"pad\\\": \\\"\" + \"x\" * (40 << 20) + \"\\\"}\")" >huge.json
	blob=$(git --git-dir="$REPO" hash-object -w huge.json)
	rm huge.json
	base=$(git --git-dir="$REPO" rev-parse "$GOOD_EVIL^{tree}")
	tree=$( { git --git-dir="$REPO" ls-tree "$base" | grep -v "	MANIFEST.json\$"; printf "100644 blob %s\tMANIFEST.json\n" "$blob"; } | git --git-dir="$REPO" mktree)
	git --git-dir="$REPO" update-ref refs/heads/backup/evil "$(git --git-dir="$REPO" commit-tree "$tree" -p "$GOOD_EVIL" -m evil)"
	evil_rows 1 "MANIFEST.json"
'

test_case "the table has at least 40 rows, and dbgit still works afterwards" '
	n=$(wc -l <"$ROWS")
	echo "$n bad inputs checked"
	[ "$n" -ge 40 ]
	dg verify app
	dg restore app --to good.db
	git --git-dir="$REPO" fsck --full
'

[ -z "${TEST_TABLE_OUT:-}" ] || cp "$ROWS" "$TEST_TABLE_OUT"
test_done
