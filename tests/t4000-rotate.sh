#!/bin/bash
# t4000-rotate: retention rewrites a job's branch so that only the retained
# snapshots remain, unchanged, and gives the space of the others back.
#
# History: job "app" backs up app.db nine nights (31 Dec 2023, then 1-8
# March 2024); job "app2" backs up the same database once, on 2 March, so
# it shares that night's chunks. app keeps `last = 3, yearly = 2`:
# 8, 7, 6 March (last) and 31 December (the newest of 2023) stay; 1-5
# March go.
. "$TEST_SRCDIR/lib/test-lib.sh"

export TZ=UTC
cfg="$T/dbgit.toml"
repo="$T/backups.git"
export DBGIT_CONFIG="$cfg"
write_config "$cfg" "$repo" \
	'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"" \
	'[job.keep]' 'last = 3' 'yearly = 2' '' \
	'[[job]]' 'name = "app2"' 'engine = "sqlite"' "path = \"$T/app.db\"" \
	'[job.keep]' 'last = 10'

dates="2023-12-31 2024-03-01 2024-03-02 2024-03-03 2024-03-04 2024-03-05 2024-03-06 2024-03-07 2024-03-08"
kept="2024-03-08 2024-03-07 2024-03-06 2023-12-31"
dropped="2024-03-05 2024-03-04 2024-03-03 2024-03-02 2024-03-01"
app=refs/heads/backup/app
app2=refs/heads/backup/app2

# The author date of each commit on a branch, as "date commit".
by_date() { git --git-dir="$repo" log --format='%ad %H' --date=format-local:%Y-%m-%d "$1"; }
commit_of() { awk -v d="$2" '$1 == d { print $2 }' "$1"; }
# Every blob reachable from the given revisions, sorted.
blobs_of() {
	git --git-dir="$repo" rev-list --objects "$@" | cut -d' ' -f1 |
		git --git-dir="$repo" cat-file --batch-check='%(objecttype) %(objectname)' |
		awk '$1 == "blob" { print $2 }' | sort -u
}

# One night's change: a log row and a large row of its own, so that
# dropping a night frees room.
night() {
	sqlite3 "$T/app.db" "INSERT INTO log(day) VALUES ('$1');
		DELETE FROM big; INSERT INTO big VALUES ('$1', randomblob(300000))"
}
# The chunk blobs of a commit's tree (not its manifest), sorted.
chunks_of() { git --git-dir="$repo" ls-tree -r "$1" | awk '$4 != "MANIFEST.json" { print $3 }' | sort -u; }

test_case "nine nightly backups of app and one of app2 make the history" '
	"$DBGIT" init
	sqlite3 app.db "CREATE TABLE log(id INTEGER PRIMARY KEY, day TEXT);
		CREATE TABLE big(day TEXT, payload BLOB)"
	for d in $dates; do
		night $d
		DBGIT_NOW="${d}T03:00:00Z" "$DBGIT" backup --no-push --no-rotate app
		cp app.db "db-$d.db"
		if [ "$d" = 2024-03-02 ]; then
			DBGIT_NOW="${d}T03:30:00Z" "$DBGIT" backup --no-push --no-rotate app2
		fi
	done
	[ "$(git --git-dir="$repo" rev-list --count $app)" = 9 ]
	[ "$(git --git-dir="$repo" rev-list --count $app2)" = 1 ]
	by_date $app >before.txt
	for c in $(cut -d" " -f2 before.txt); do
		git --git-dir="$repo" log -1 --format="%T%n%B%n%an <%ae> %ad%n%cn <%ce> %cd" --date=raw $c >"meta-$c"
	done
	chunks_of "$(commit_of before.txt 2024-03-02)" >chunks-app-0302
	git --git-dir="$repo" rev-parse $app >tip-before
	git --git-dir="$repo" rev-parse $app2 >app2-before
	blobs_of $app $app2 >blobs-before
	du -sk "$repo/objects" | cut -f1 >du-before
'

test_case "rotate --dry-run shows what stays, why, and what goes, and changes nothing" '
	"$DBGIT" rotate --dry-run app >out
	cat out
	[ "$(grep -c "^ *keep " out)" = 4 ]
	[ "$(grep -c "^ *drop " out)" = 5 ]
	grep -q "keep .*2024-03-08.*last, yearly" out
	grep -q "keep .*2023-12-31.*yearly" out
	[ "$(git --git-dir="$repo" rev-parse $app)" = "$(cat tip-before)" ]
	[ "$(du -sk "$repo/objects" | cut -f1)" = "$(cat du-before)" ]
'

test_case "rotate keeps exactly the policy snapshots, newest first" '
	"$DBGIT" rotate app >out
	cat out
	grep -q "app: kept 4 of 9 snapshots" out
	by_date $app >after.txt
	[ "$(cut -d" " -f1 after.txt | tr "\n" " ")" = "$kept " ]
'

test_case "kept snapshots keep their tree, message, author, committer and dates" '
	for d in $kept; do
		new=$(commit_of after.txt $d) old=$(commit_of before.txt $d)
		git --git-dir="$repo" log -1 --format="%T%n%B%n%an <%ae> %ad%n%cn <%ce> %cd" --date=raw $new >now
		diff "meta-$old" now
	done
'

test_case "the snapshot older than the first dropped one keeps its commit id" '
	[ "$(commit_of after.txt 2023-12-31)" = "$(commit_of before.txt 2023-12-31)" ]
	[ "$(commit_of after.txt 2024-03-06)" != "$(commit_of before.txt 2024-03-06)" ]
'

test_case "git fsck --full accepts the repository after rotation" '
	git --git-dir="$repo" fsck --full --strict
'

test_case "blobs only dropped snapshots used are gone; everything reachable stays" '
	blobs_of $app $app2 >blobs-after
	comm -23 blobs-before blobs-after >gone
	[ -s gone ]
	while read b; do
		test_must_fail git --git-dir="$repo" cat-file -e $b 2>/dev/null
	done <gone
	while read b; do git --git-dir="$repo" cat-file -e $b; done <blobs-after
'

test_case "the other job shares a dropped night and keeps it, untouched" '
	[ "$(git --git-dir="$repo" rev-parse $app2)" = "$(cat app2-before)" ]
	# app2 shares chunks with the dropped 2 March snapshot of app that
	# no kept snapshot of app holds: only app2 keeps them alive.
	chunks_of $app2 >app2-chunks
	blobs_of $app >app-now
	comm -12 chunks-app-0302 app2-chunks | comm -23 - app-now >only-app2
	[ -s only-app2 ]
	while read b; do git --git-dir="$repo" cat-file -e $b; done <only-app2
	"$DBGIT" restore app2 latest --to app2.db
	same_db db-2024-03-02.db app2.db
'

test_case "the repository is smaller on disk" '
	after=$(du -sk "$repo/objects" | cut -f1)
	echo "objects: $(cat du-before) KiB -> $after KiB"
	[ "$after" -lt "$(cat du-before)" ]
	[ "$(ls "$repo/objects/pack/"*.pack | wc -l)" = 1 ]
	[ -z "$(find "$repo/objects" -path "*/objects/[0-9a-f][0-9a-f]/*" -type f)" ]
'

test_case "every kept snapshot still restores to the database it was taken from" '
	for d in $kept; do
		c=$(commit_of after.txt $d)
		rm -f "r-$d.db"
		"$DBGIT" restore app $c --to "r-$d.db"
		same_db "db-$d.db" "r-$d.db"
	done
'

test_case "rotating again drops nothing and leaves the same history" '
	"$DBGIT" rotate app >out
	grep -q "nothing to drop (4 snapshots)" out
	by_date $app >again.txt
	diff after.txt again.txt
	git --git-dir="$repo" fsck --full --strict
'

test_case "rotate with no job rotates every job with a policy" '
	"$DBGIT" rotate >out
	grep -q "^app: nothing to drop" out
	grep -q "^app2: nothing to drop (1 snapshot)" out
'

test_case "rotate of an unknown job is a usage error" '
	expect_exit 2 "$DBGIT" rotate nosuchjob
	stderr_has "nosuchjob"
	expect_exit 2 "$DBGIT" rotate --bogus
'

test_case "rotate waits for nobody: a held repository lock is exit 4" '
	flock "$repo/dbgit.lock" sleep 5 &
	sleep 0.5
	expect_exit 4 "$DBGIT" rotate app
	wait
'

test_done
