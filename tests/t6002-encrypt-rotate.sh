#!/bin/bash
# t6002-encrypt-rotate: retention and space reclaim on an encrypted branch
# (with a plain snapshot from before the key still at its start). The kept
# snapshots keep their trees, git fsck stays clean, every kept snapshot
# still restores identically, and the space of the dropped ones comes back.
. "$TEST_SRCDIR/lib/test-lib.sh"

export TZ=UTC
REPO=$T/backups.git
G() { git --git-dir="$REPO" "$@"; }
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
config() {
	write_config "$T/dbgit.toml" "$REPO" "$@" \
		'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"" \
		'[job.keep]' 'last = 3' 'yearly = 2'
}
night() {
	sqlite3 "$T/app.db" "INSERT INTO log(day) VALUES ('$1');
		DELETE FROM big; INSERT INTO big VALUES ('$1', randomblob(200000))"
}

sqlite3 "$T/app.db" "CREATE TABLE log(id INTEGER PRIMARY KEY, day TEXT); CREATE TABLE big(day TEXT, payload BLOB)"
"$DBGIT" keygen "$T/k.key" 2>/dev/null

test_case "a plain night, then seven encrypted ones" '
	config
	dg init >/dev/null
	night 2023-12-31
	DBGIT_NOW=2023-12-31T03:00:00Z expect_exit 0 dg backup --no-rotate
	cp "$T/app.db" db-2023-12-31.db
	config "key_file = \"$T/k.key\""
	for d in 2024-03-01 2024-03-02 2024-03-03 2024-03-04 2024-03-05 2024-03-06 2024-03-07; do
		night $d
		DBGIT_NOW="${d}T03:00:00Z" expect_exit 0 dg backup --no-rotate
		cp "$T/app.db" "db-$d.db"
	done
	[ "$(G rev-list --count backup/app)" = 8 ]
	G log --format="%ad %T" --date=format-local:%Y-%m-%d backup/app >trees-before
	du -sk "$REPO/objects" | cut -f1 >du-before
'

test_case "rotate keeps the last three and the yearly plain one, trees unchanged, and gives space back" '
	expect_exit 0 dg rotate app
	G log --format="%ad %T" --date=format-local:%Y-%m-%d backup/app >trees-after
	cat trees-after
	[ "$(wc -l <trees-after)" = 4 ]
	for d in 2024-03-07 2024-03-06 2024-03-05 2023-12-31; do
		grep "^$d " trees-before >want
		grep "^$d " trees-after >got
		cmp want got
	done
	G fsck --full --strict
	after=$(du -sk "$REPO/objects" | cut -f1)
	echo "objects: $(cat du-before) KiB -> $after KiB"
	[ "$after" -lt "$(cat du-before)" ]
'

test_case "every kept snapshot restores identically and verifies" '
	expect_exit 0 dg verify app --all
	i=0
	for d in 2024-03-07 2024-03-06 2024-03-05 2023-12-31; do
		expect_exit 0 dg restore app "HEAD~$i" --to "r-$d.db"
		same_db "db-$d.db" "r-$d.db"
		i=$((i + 1))
	done
'

test_case "the next night after rotation is encrypted and dedups against the kept chunks" '
	night 2024-03-08
	DBGIT_NOW=2024-03-08T03:00:00Z expect_exit 0 dg backup
	G cat-file -e backup/app:dbgit-encrypted
	G fsck --full
	expect_exit 0 dg restore app --to r-last.db
	same_db "$T/app.db" r-last.db
'

test_done
