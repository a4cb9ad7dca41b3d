#!/bin/bash
# verify --sample N (issue 11): N random snapshots older than the newest are
# restore-tested, so bit rot in a blob that only an old snapshot holds is
# found while good copies still exist; `verify` without a job verifies every
# job; [verify] sample = N does it after every backup.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
G() { git --git-dir="$REPO" "$@"; }

# rot ID: one byte of the loose object ID's content changes (the file is
# still valid zlib: the damage a disk does, not a truncated write).
rot() {
	python3 - "$REPO/objects/${1:0:2}/${1:2}" <<'EOF2'
import sys, zlib, os
p = sys.argv[1]
raw = bytearray(zlib.decompress(open(p, "rb").read()))
raw[-3] ^= 0x01
os.chmod(p, 0o644)
open(p, "wb").write(zlib.compress(bytes(raw)))
EOF2
}

make_demo_db "$T/app.db"
make_demo_db "$T/other.db"
write_config "$T/dbgit.toml" "$REPO" \
	'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"" \
	'[[job]]' 'name = "other"' 'engine = "sqlite"' "path = \"$T/other.db\""
dg init >/dev/null

test_case "four snapshots; every one passes verify --sample, and verify with no job covers every job" '
	for i in 1 2 3 4; do
		sqlite3 app.db "UPDATE plain SET b = \"night $i\""
		DBGIT_NOW=2026-03-0${i}T03:00:00Z expect_exit 0 dg backup app
	done
	expect_exit 0 dg backup other
	expect_exit 0 dg verify app --sample 2
	[ "$(grep -c "^app .* passed" .stdout)" = 2 ]
	# The newest is never among the sampled: each backup tested it.
	test_must_fail grep -q "$(G rev-parse backup/app | cut -c1-12)" .stdout
	expect_exit 0 dg verify app --sample 10
	[ "$(grep -c passed .stdout)" = 3 ]
	expect_exit 0 dg verify
	grep -q "^app " .stdout
	grep -q "^other " .stdout
	expect_exit 0 dg verify --all --json
	python3 -c "import json; j=json.load(open(\".stdout\")); assert sorted(set(o[\"job\"] for o in j)) == [\"app\", \"other\"] and len(j) == 5, j"
'

test_case "a blob only the oldest snapshot holds rots: verify --sample finds it, exit 1, snapshot named" '
	old=$(G rev-parse backup/app~3)
	blob=$(G rev-parse "backup/app~3:1-table/plain/1-rows-000000.sql")
	for r in backup/app backup/app~1 backup/app~2; do
		G ls-tree -r "$r" >tree.txt
		test_must_fail grep -q "$blob" tree.txt
		[ "$(G rev-parse "$r:1-table/plain/1-rows-000000.sql")" != "$blob" ]
	done
	[ -f "$REPO/objects/${blob:0:2}/${blob:2}" ]
	rot "$blob"
	# The newest snapshot is fine: a plain verify does not see it.
	expect_exit 0 dg verify app
	expect_exit 1 dg verify app --sample 3
	stderr_has "snapshot ${old:0:12} of '"'"'app'"'"' failed verification"
	[ "$(grep -c passed .stdout)" = 2 ]
	expect_exit 0 dg backup other
	expect_exit 1 dg verify --sample 3
	stderr_has "${old:0:12}"
	grep -q "^other " .stdout
'

# sample = 4: the new backup makes four older snapshots, so all are tested
# (3 of 4 would miss the rotten one a time in four).
test_case "[verify] sample = 4: the next backup commits, then finds the rot: exit 1, on-failure runs" '
	mkdir -p hooks
	printf "#!/bin/sh\necho \"\$DBGIT_JOB \$DBGIT_MESSAGE\" > %s/failure.txt\n" "$T" > hooks/on-failure
	chmod +x hooks/on-failure
	cp dbgit.toml dbgit.toml.orig
	printf "[verify]\nsample = 4\n[hooks]\ndir = \"%s/hooks\"\n" "$T" >> dbgit.toml
	before=$(G rev-parse backup/app)
	sqlite3 app.db "UPDATE plain SET b = \"night 5\""
	DBGIT_NOW=2026-03-05T03:00:00Z expect_exit 1 dg backup app --no-rotate
	stderr_has "committed, but older snapshot"
	# The new snapshot is committed all the same.
	[ "$(G rev-parse backup/app~1)" = "$before" ]
	grep -q "^app .*failed its restore-test" failure.txt
	cp dbgit.toml.orig dbgit.toml
'

test_case "[verify] sample = 2 on a healthy job passes; a bad value is a config error naming the key" '
	cp dbgit.toml.orig dbgit.toml
	printf "[verify]\nsample = 2\n" >> dbgit.toml
	expect_exit 0 dg -v backup other
	grep -q "older snapshot" .stderr
	expect_exit 0 dg backup other
	expect_exit 0 dg verify other --sample 1
	printf "[verify]\nsample = -1\n" > bad.toml
	cat dbgit.toml.orig >> bad.toml
	expect_exit 2 "$DBGIT" --config bad.toml list
	stderr_has "sample"
	expect_exit 2 dg verify app --sample x
	expect_exit 2 dg verify app HEAD --sample 1
'

test_done
