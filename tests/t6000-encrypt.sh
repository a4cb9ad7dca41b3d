#!/bin/bash
# t6000-encrypt: encryption at rest. With [repository] key_file set, no table
# name or value of the database is in any object of the repository or of a
# remote it pushed to; an unchanged database adds only a commit and a few
# small objects; everything a user does (list, show, diff, verify, restore,
# export) works with the key; without it or with another key each says so in
# one line; plain snapshots taken before the key stay readable.
. "$TEST_SRCDIR/lib/test-lib.sh"
# For its LeakSanitizer suppressions of libgit2's own leaks; no server here.
. "$TEST_SRCDIR/lib/sshd.sh"

REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
# Values that must never be seen in the clear: table names, column names,
# row values (see the database below). Each at least 8 bytes: ciphertext and
# the base64 of sealed names hold any 3-letter word now and then by chance
# ("fox" was found so in about 1 run in 10).
secrets="patients_register diagnosis_code Jane-Q-Public-1947 jane.public@example.org
	hypertension-stage-two ward_notes_archive customers ada@example.org big_orders customers_email"
for s in $secrets; do
	if [ ${#s} -lt 8 ]; then
		echo "t6000: secret '$s' too short to be found only when it leaks" >&2
		exit 1
	fi
done
# no_secret_in GITDIR: every object, whatever its type, scanned whole.
no_secret_in() {
	git --git-dir="$1" cat-file --batch-all-objects --batch >"$T/objects.txt"
	[ -s "$T/objects.txt" ]
	local s
	for s in $secrets; do
		if grep -a -q -F -- "$s" "$T/objects.txt"; then
			echo "'$s' found in the objects of $1" >&2
			return 1
		fi
	done
}
# Objects NEW has that OLD has not (what a push of NEW would send).
new_objects() { git --git-dir="$REPO" rev-list --objects "$2" --not "$1" | wc -l; }

make_demo_db "$T/app.db"
sqlite3 "$T/app.db" "CREATE TABLE patients_register(id INTEGER PRIMARY KEY, name TEXT, email TEXT, diagnosis_code TEXT);
INSERT INTO patients_register VALUES (1, 'Jane-Q-Public-1947', 'jane.public@example.org', 'hypertension-stage-two');
CREATE TABLE ward_notes_archive(id INTEGER PRIMARY KEY, note TEXT);
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 3000)
INSERT INTO ward_notes_archive SELECT i, 'note ' || i || ' ' || hex(randomblob(40)) FROM s;
CREATE TABLE t(x TEXT); INSERT INTO t VALUES ('one-letter-table');
CREATE TABLE $(printf 'long_%.0s' $(seq 30))name(x); INSERT INTO $(printf 'long_%.0s' $(seq 30))name VALUES (1);"

test_case "keygen writes a 0600 key file with a version line and refuses an existing file" '
	umask 022
	expect_exit 0 "$DBGIT" keygen "$T/backup.key"
	stderr_has "Keep a copy"
	[ "$(stat -c %a "$T/backup.key")" = 600 ]
	[ "$(head -1 "$T/backup.key")" = "dbgit-key 1" ]
	[ "$(sed -n 2p "$T/backup.key" | tr -d "0-9a-f" | wc -c)" = 1 ]
	cp "$T/backup.key" before.key
	expect_exit 2 "$DBGIT" keygen "$T/backup.key"
	stderr_has "exists; a key file is never overwritten"
	cmp before.key "$T/backup.key"
	expect_exit 0 "$DBGIT" keygen "$T/other.key"
	test_must_fail cmp "$T/backup.key" "$T/other.key"
'

test_case "a plain snapshot taken before the key stays as it was" '
	write_config "$T/dbgit.toml" "$REPO" "[[job]]" "name = \"app\"" "engine = \"sqlite\"" "path = \"$T/app.db\""
	dg init >/dev/null
	expect_exit 0 dg backup
	git --git-dir="$REPO" rev-parse backup/app >"$T/plain-commit"
	git --git-dir="$REPO" cat-file -p backup/app:MANIFEST.json | grep -q patients_register
'

test_case "a key file others can read is refused, naming it" '
	cp "$T/backup.key" "$T/loose.key"
	chmod 644 "$T/loose.key"
	write_config "$T/loose.toml" "$REPO" "key_file = \"$T/loose.key\"" \
		"[[job]]" "name = \"app\"" "engine = \"sqlite\"" "path = \"$T/app.db\""
	expect_exit 2 "$DBGIT" --config "$T/loose.toml" list
	stderr_has "key file $T/loose.key is accessible by group or others"
	[ "$(wc -l <.stderr)" = 1 ]
	expect_exit 2 "$DBGIT" --config "$T/loose.toml" check
	stderr_has "key file $T/loose.key is accessible by group or others"
	expect_exit 0 "$DBGIT" --config "$T/loose.toml" init
	stderr_has "warning: key file $T/loose.key is accessible by group or others"
'

test_case "with key_file every new snapshot is encrypted: no table name or value in any object" '
	write_config "$T/dbgit.toml" "$REPO" "key_file = \"$T/backup.key\"" \
		"[[job]]" "name = \"app\"" "engine = \"sqlite\"" "path = \"$T/app.db\"" "format = \"both\""
	# A fresh repository, only encrypted snapshots in it.
	mv "$REPO" "$T/plain.git"
	dg init >/dev/null
	expect_exit 0 dg backup
	no_secret_in "$REPO"
	git --git-dir="$REPO" ls-tree --name-only backup/app >names
	grep -qx MANIFEST.enc names
	grep -qx dbgit-encrypted names
	test_must_fail grep -q "MANIFEST.json" names
	git --git-dir="$REPO" ls-tree -r --name-only backup/app >all
	test_must_fail grep -q "\.sql" all
	# The commit says the job and the time, nothing of tables or rows.
	git --git-dir="$REPO" log -1 --format=%B backup/app >msg
	cat msg
	[ "$(grep -cv "^$" msg)" = 1 ]
	grep -q "^app 20" msg
	git --git-dir="$REPO" fsck --full
'

test_case "restore with the key gives an identical database, from the SQL and the binary copy" '
	expect_exit 0 dg restore app --to r-bin.db
	same_db "$T/app.db" r-bin.db
	expect_exit 0 dg restore app --format sql --to r-sql.db
	same_db "$T/app.db" r-sql.db
	expect_exit 0 dg restore app --table patients_register --to r-one.db
	[ "$(sqlite3 r-one.db "SELECT name FROM patients_register")" = Jane-Q-Public-1947 ]
	expect_exit 0 dg verify app
	[ "$(sqlite3 r-sql.db "SELECT x FROM t")" = one-letter-table ]
'

test_case "list and show read the encrypted manifest" '
	expect_exit 0 dg list app
	grep -q passed .stdout
	expect_exit 0 dg show app
	grep -q patients_register .stdout
	expect_exit 0 dg show app --json
	grep -q "\"patients_register\"" .stdout
'

test_case "an unchanged database adds only a commit and a few small objects" '
	git --git-dir="$REPO" rev-parse backup/app >old
	expect_exit 0 dg backup
	n=$(new_objects "$(cat old)" backup/app)
	echo "$n new objects"
	# commit, root tree, MANIFEST.enc (its times changed)
	[ "$n" -le 3 ]
	git --git-dir="$REPO" rev-list --objects backup/app --not "$(cat old)" | awk "{print \$1}" |
		git --git-dir="$REPO" cat-file --batch-check="%(objectsize)" >sizes
	[ "$(sort -n sizes | tail -1)" -lt 8192 ]
'

test_case "a dry run of an encrypted backup leaves no object behind" '
	sqlite3 "$T/app.db" "INSERT INTO ward_notes_archive(note) VALUES (\"dry-run-row\")"
	find "$REPO/objects" -type f | sort >before
	expect_exit 0 dg backup --dry-run
	find "$REPO/objects" -type f | sort >after
	cmp before after
	sqlite3 "$T/app.db" "DELETE FROM ward_notes_archive WHERE note = \"dry-run-row\""
'

test_case "a changed row changes a few chunks; diff and diff --stat show it in clear text" '
	git --git-dir="$REPO" rev-parse backup/app >old
	sqlite3 "$T/app.db" "UPDATE ward_notes_archive SET note = \"edited-note\" WHERE id = 1500"
	expect_exit 0 dg backup
	n=$(new_objects "$(cat old)" backup/app)
	echo "$n new objects"
	[ "$n" -le 12 ]
	expect_exit 0 dg diff app
	grep -q "^+.*edited-note" .stdout
	grep -q "^-.*note 1500 " .stdout
	expect_exit 0 dg diff app --stat
	grep -q "ward_notes_archive" .stdout
	no_secret_in "$REPO"
'

test_case "restore --at, verify --all and verify --sample work on encrypted history" '
	expect_exit 0 dg verify app --all
	expect_exit 0 dg verify app --sample 2
	expect_exit 0 dg restore app HEAD~2 --to r-first.db
	[ "$(sqlite3 r-first.db "SELECT note FROM ward_notes_archive WHERE id = 1500")" != edited-note ]
	expect_exit 0 dg restore app --at "2999-01-01" --to r-at.db
	same_db "$T/app.db" r-at.db
'

test_case "export writes plain files that the README recipe turns back into the database" '
	expect_exit 0 dg export app --to exp
	[ -f exp/MANIFEST.json ]
	grep -q patients_register exp/MANIFEST.json
	(cd exp && find . -type f -name "*.sql" -print0 | LC_ALL=C sort -z | xargs -0 cat) | sqlite3 -safe -bail from-sql.db
	same_db "$T/app.db" from-sql.db
	(cd exp && find binary -type f -print0 | LC_ALL=C sort -z | xargs -0 cat) >from-bin.db
	same_db "$T/app.db" from-bin.db
	[ "$(stat -c %a exp/MANIFEST.json)" = 600 ]
'

test_case "export refuses a non-empty directory without --force and replaces it with --force" '
	mkdir -p full
	echo keep >full/other
	expect_exit 2 dg export app --to full
	stderr_has "full is not empty"
	[ "$(cat full/other)" = keep ]
	expect_exit 0 dg export app HEAD~1 --to full --force
	[ ! -e full/other ]
	[ -f full/MANIFEST.json ]
	mkdir empty
	expect_exit 0 dg export app --to empty
	[ -f empty/MANIFEST.json ]
	[ -z "$(ls -a | grep dbgit-export)" ]
'

test_case "without the key an encrypted snapshot is refused in one line naming the key" '
	write_config nokey.toml "$REPO" "[[job]]" "name = \"app\"" "engine = \"sqlite\"" "path = \"$T/app.db\""
	id=$(git --git-dir="$REPO" cat-file -p backup/app:dbgit-encrypted | sed -n "s/^key //p")
	expect_exit 1 "$DBGIT" --config nokey.toml restore app --to r-nokey.db
	stderr_has "is encrypted (key $id); set [repository] key_file"
	[ "$(wc -l <.stderr)" = 1 ]
	[ ! -e r-nokey.db ]
	expect_exit 1 "$DBGIT" --config nokey.toml export app --to nokey-exp
	[ ! -e nokey-exp ]
	# A backup without the key would add a plain snapshot after encrypted ones.
	expect_exit 1 "$DBGIT" --config nokey.toml backup
	stderr_has "holds snapshots encrypted with key $id"
'

test_case "a wrong key fails verify and restore with one line and no target" '
	id=$(git --git-dir="$REPO" cat-file -p backup/app:dbgit-encrypted | sed -n "s/^key //p")
	write_config wrong.toml "$REPO" "key_file = \"$T/other.key\"" \
		"[[job]]" "name = \"app\"" "engine = \"sqlite\"" "path = \"$T/app.db\""
	expect_exit 1 "$DBGIT" --config wrong.toml verify app
	stderr_has "is encrypted with key $id, not with the key in $T/other.key"
	[ "$(wc -l <.stderr)" = 1 ]
	expect_exit 1 "$DBGIT" --config wrong.toml restore app --to r-wrong.db
	stderr_has "not with the key in"
	[ "$(wc -l <.stderr)" = 1 ]
	[ ! -e r-wrong.db ]
	n=$(git --git-dir="$REPO" rev-list --count backup/app)
	expect_exit 1 "$DBGIT" --config wrong.toml backup
	stderr_has "a repository never mixes keys"
	[ "$(git --git-dir="$REPO" rev-list --count backup/app)" = "$n" ]
'

test_case "turning key_file on keeps the older plain snapshots readable" '
	mv "$REPO" "$T/enc.git"
	mv "$T/plain.git" "$REPO"
	sqlite3 "$T/app.db" "INSERT INTO ward_notes_archive(note) VALUES (\"after-the-key\")"
	expect_exit 0 dg backup
	expect_exit 0 dg list app
	[ "$(grep -c passed .stdout)" = 2 ]
	expect_exit 0 dg restore app "$(cat "$T/plain-commit")" --to r-plain.db
	[ "$(sqlite3 r-plain.db "SELECT count(*) FROM ward_notes_archive WHERE note = \"after-the-key\"")" = 0 ]
	expect_exit 0 dg restore app --to r-enc.db
	same_db "$T/app.db" r-enc.db
	expect_exit 0 dg diff app
	grep -q "^+.*after-the-key" .stdout
	expect_exit 0 dg verify app --all
	expect_exit 0 dg export app HEAD~1 --to plain-exp
	[ -f plain-exp/MANIFEST.json ]
	git --git-dir="$REPO" fsck --full
'

test_case "a push sends only sealed objects: nothing readable on the remote" '
	mv "$REPO" "$T/mixed.git"
	mv "$T/enc.git" "$REPO"
	git init -q --bare "$T/remote.git"
	write_config "$T/dbgit.toml" "$REPO" "key_file = \"$T/backup.key\"" \
		"[[job]]" "name = \"app\"" "engine = \"sqlite\"" "path = \"$T/app.db\"" "format = \"both\"" "" \
		"[[remote]]" "name = \"nas\"" "url = \"$T/remote.git\""
	expect_exit 0 dg push
	[ "$(git --git-dir="$T/remote.git" rev-parse backup/app)" = "$(git --git-dir="$REPO" rev-parse backup/app)" ]
	no_secret_in "$T/remote.git"
	git --git-dir="$T/remote.git" fsck --full
	expect_exit 0 dg status
'

test_done
