#!/bin/bash
# t4021-nightly-pack-crash: the nightly pack (src/store/packw.c) killed
# with SIGKILL at any stage leaves a repository that git fsck --full
# accepts and that still restores every snapshot; the next night finishes
# the job.
#
# DBGIT_TEST_PAUSE_RECLAIM=<stage> makes the nightly pack announce
# "reclaim paused at <stage>" and sleep: after its new pack is written,
# synced and checked (merged), and after the packs it replaces are deleted
# but before the loose objects are (merge-deleting). A kill while the pack
# is being written leaves a tmp_dbgit_* file, swept by the next run. DBGIT_TEST_LOOSE_MIN=1 makes any loose
# object worth packing.
. "$TEST_SRCDIR/lib/test-lib.sh"

export TZ=UTC DBGIT_TEST_LOOSE_MIN=1
tmpl="$T/template.git"

# cfg NAME: a config for repository $T/NAME.git, nothing dropped.
cfg() {
	write_config "$T/$1.toml" "$T/$1.git" \
		'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"" \
		'[job.keep]' 'last = 100'
}
for i in $(seq 1 30); do
	echo "CREATE TABLE t$i(id INTEGER PRIMARY KEY, v TEXT);
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
	INSERT INTO t$i SELECT i, hex(randomblob(30)) FROM n;"
done | sqlite3 "$T/app.db"

packs() { ls "$1/objects/pack/" | grep '\.pack$' | sort; }
loose() { find "$1/objects" -path "*/objects/[0-9a-f][0-9a-f]/*" -type f | sort; }
# change N: the change of night N; night CONFIG N: change, back up.
change() { sqlite3 app.db "UPDATE t1 SET v = 'night $1' WHERE id = 1"; }
night() {
	change "$2"
	DBGIT_NOW="2024-03-$(printf %02d "$2")T03:00:00Z" "$DBGIT" --config "$1.toml" -v backup --no-push
}
# paused STAGE CONFIG N: night N in the background (its pid in $pid),
# until it says it paused at STAGE.
paused() {
	change "$3"
	DBGIT_NOW="2024-03-$(printf %02d "$3")T03:00:00Z" DBGIT_TEST_PAUSE_RECLAIM=$1 \
		"$DBGIT" --config "$2.toml" -v backup --no-push >"out-$2" 2>"err-$2" &
	pid=$!
	for _ in $(seq 1 300); do
		grep -q "reclaim paused at $1" "err-$2" && return 0
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
	done
	cat "err-$2" >&2
	return 1
}

test_case "three nights make a template: one pack" '
	cfg template
	"$DBGIT" --config template.toml init
	for n in 1 2 3; do
		night template $n 2>err-$n
	done
	grep -q "pack: 8 loose objects and 1 packs into one pack of" err-3
	[ "$(packs "$tmpl" | wc -l)" = 1 ]
	cp app.db night3.db
'

for stage in merged merge-deleting; do
	test_case "kill -9 while the nightly pack is at '$stage' leaves a repository git fsck accepts" '
		cfg $stage
		rm -rf $stage.git
		cp -a "$tmpl" $stage.git
		cp night3.db app.db
		packs $stage.git >packs-before-$stage
		paused $stage $stage 4
		kill -9 $pid
		wait $pid || true
		git --git-dir=$stage.git fsck --full --strict
		[ "$(git --git-dir=$stage.git rev-list --count backup/app)" = 4 ]
		rm -f r.db
		"$DBGIT" --config $stage.toml restore app --to r.db
		same_db app.db r.db
		rm -f r.db
		"$DBGIT" --config $stage.toml restore app HEAD~1 --to r.db
		same_db night3.db r.db
		loose $stage.git >loose-killed-$stage
	'
	test_case "after the kill at '$stage' the next night finishes the job" '
		night $stage 5 2>err5-$stage
		grep -q "pack: .* into one pack of 131 objects" err5-$stage
		git --git-dir=$stage.git fsck --full --strict
		[ -z "$(loose $stage.git)" ]
		[ "$(packs $stage.git | wc -l)" = 1 ]
		rm -f r.db
		"$DBGIT" --config $stage.toml restore app --to r.db
		same_db app.db r.db
		rm -f r.db
		"$DBGIT" --config $stage.toml restore app HEAD~2 --to r.db
		same_db night3.db r.db
	'
done

test_case "a nightly pack stopped by SIGTERM before it deletes deletes nothing and the next night packs" '
	cfg term
	rm -rf term.git
	cp -a "$tmpl" term.git
	cp night3.db app.db
	loose term.git >loose-before
	packs term.git >packs-before
	paused merged term 4
	kill -TERM $pid
	expect_exit 143 wait $pid
	git --git-dir=term.git fsck --full --strict
	# the old pack and the loose objects of night 4 are all still there
	packs term.git >packs-after
	comm -23 packs-before packs-after >gone
	[ ! -s gone ]
	[ -n "$(loose term.git)" ]
	night term 5 2>err5-term
	git --git-dir=term.git fsck --full --strict
	[ -z "$(loose term.git)" ]
'

test_done
