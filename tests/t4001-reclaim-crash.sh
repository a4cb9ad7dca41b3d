#!/bin/bash
# t4001-reclaim-crash: a rotate killed with SIGKILL at any stage of giving
# space back leaves a repository that git fsck --full accepts and that still
# restores; the next run finishes the job.
#
# The test hook DBGIT_TEST_PAUSE_RECLAIM=<stage> makes reclaim announce
# "reclaim paused at <stage>" and sleep there: after expiring reflogs
# (reflog), after the new pack is written and synced (packed), and after the
# old packs are deleted but before the loose objects are (deleting).
. "$TEST_SRCDIR/lib/test-lib.sh"

export TZ=UTC
tmpl="$T/template.git"

# cfg NAME: a config for repository $T/NAME.git keeping the last 2.
cfg() {
	write_config "$T/$1.toml" "$T/$1.git" \
		'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"" \
		'[job.keep]' 'last = 2'
}
blobs_of() {
	git --git-dir="$1" rev-list --objects --all | cut -d' ' -f1 |
		git --git-dir="$1" cat-file --batch-check='%(objecttype) %(objectname)' |
		awk '$1 == "blob" { print $2 }' | sort -u
}
# one_pack REPO: everything in one pack, no loose objects.
one_pack() {
	[ "$(ls "$1/objects/pack/"*.pack | wc -l)" = 1 ] || { echo "not one pack in $1" >&2; return 1; }
	[ -z "$(find "$1/objects" -path "*/objects/[0-9a-f][0-9a-f]/*" -type f)" ] ||
		{ echo "loose objects in $1" >&2; return 1; }
}

test_case "five nightly backups with last = 2 make a template history" '
	cfg template
	"$DBGIT" --config template.toml init
	sqlite3 app.db "CREATE TABLE big(n INTEGER, payload BLOB)"
	for n in 1 2 3 4 5; do
		sqlite3 app.db "DELETE FROM big; INSERT INTO big VALUES ($n, randomblob(200000))"
		DBGIT_NOW="2024-03-0${n}T03:00:00Z" "$DBGIT" --config template.toml backup --no-push --no-rotate
	done
	cp app.db latest.db
	[ "$(git --git-dir="$tmpl" rev-list --count backup/app)" = 5 ]
	blobs_of "$tmpl" >blobs-template
'

for stage in reflog packed deleting; do
	test_case "kill -9 while reclaim is at '$stage' leaves a repository git fsck accepts" '
		cfg $stage
		rm -rf $stage.git
		cp -a "$tmpl" $stage.git
		DBGIT_TEST_PAUSE_RECLAIM=$stage "$DBGIT" --config $stage.toml rotate app >out-$stage 2>err-$stage &
		pid=$!
		for _ in $(seq 1 300); do
			grep -q "reclaim paused at $stage" err-$stage && break
			kill -0 $pid 2>/dev/null || break
			sleep 0.1
		done
		grep -q "reclaim paused at $stage" err-$stage
		kill -9 $pid
		wait $pid || true
		git --git-dir=$stage.git fsck --full --strict
		[ "$(git --git-dir=$stage.git rev-list --count backup/app)" = 2 ]
		rm -f r.db
		"$DBGIT" --config $stage.toml restore app latest --to r.db
		same_db latest.db r.db
	'
	test_case "after the kill at '$stage' the next rotate completes the reclaim" '
		"$DBGIT" --config $stage.toml rotate app
		git --git-dir=$stage.git fsck --full --strict
		one_pack $stage.git
		blobs_of $stage.git >blobs-now
		comm -23 blobs-template blobs-now >gone
		[ -s gone ]
		while read b; do
			test_must_fail git --git-dir=$stage.git cat-file -e $b 2>/dev/null
		done <gone
		rm -f r.db
		"$DBGIT" --config $stage.toml restore app HEAD~1 --to r.db
		[ "$(sqlite3 r.db "SELECT n FROM big")" = 4 ]
	'
done

test_done
