#!/bin/bash
# t5100: engine = "mysql" against a real MariaDB (own datadir, socket and
# port). A snapshot is stable (OPTIMIZE TABLE and UPDATE t SET c = c change
# no file but MANIFEST.json; the AUTO_INCREMENT counter lives in a file of
# its own), exact (FLOAT, DOUBLE, DECIMAL(65,30), every byte of a BLOB),
# verified in a scratch database that is dropped afterwards, restored --to a
# database equal to the source, and the password never shows on a command
# line. A failing tool fails the job with its own first line and commits
# nothing.
. "$TEST_SRCDIR/lib/test-lib.sh"
. "$TEST_SRCDIR/lib/mariadb.sh"

my_start
REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
job() {
	printf '%s\n' '[[job]]' "name = \"$1\"" 'engine = "mysql"' "socket = \"$MY_SOCK\"" \
		'user = "dbgit"' "database = \"$2\"" "password_file = \"${3:-$MY_PASS}\""
	shift 3
	printf '%s\n' "$@" ''
}
ODD='`odd ``name "x" y`'
all_bytes=$(python3 -c 'print(bytes(range(256)).hex())')
myq mysql -e "CREATE DATABASE app CHARACTER SET latin1 COLLATE latin1_german1_ci"
myq app <<SQL
CREATE TABLE $ODD (id INT AUTO_INCREMENT PRIMARY KEY, \`my col\` TEXT, b BLOB, d DECIMAL(65,30), f FLOAT,
	g DOUBLE, dt DATETIME(6), ts TIMESTAMP(6) NULL, j JSON, e ENUM('sad', 'ok', 'b c'), s SET('x', 'y', 'z'),
	bits BIT(5), l1 VARCHAR(20) CHARACTER SET latin1, twice INT AS (id * 2) VIRTUAL, eb VARBINARY(4));
INSERT INTO $ODD (\`my col\`) VALUES (NULL);
SET time_zone = '+05:30';
INSERT INTO $ODD (\`my col\`, b, d, f, g, dt, ts, j, e, s, bits, l1, eb) VALUES
 ('tab\there\nnew line \\\\ back ''q'' \r cr \0 nul', UNHEX('$all_bytes'),
  '-12345678901234567890123456789012345.123456789012345678901234567891', 123456.789, 0.1,
  '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.123456', '{"a": [1, 2.50, null], "k": "\\u00e9 é"}',
  'b c', 'x,z', b'10101', 'caf\xe9', ''),
 ('x', X'00', 0.000000000000000000000000000001, 1.17549435e-38, 4.9e-324, '1000-01-01 00:00:00',
  '1970-01-01 05:30:01', '[]', 'sad', '', b'0', 'x', X'FF'),
 ('y', X'FF', 1e34, -0e0, -0e0, '9999-12-31 23:59:59.999999', '2038-01-19 08:44:07', 'null', 'ok', 'y', b'11111',
  'y', NULL),
 ('z', '', 0, 1.4e-45, 2.2250738585072014e-308, NULL, NULL, '"s"', NULL, NULL, NULL, NULL, X'00FF'),
 ('w', NULL, 0.1, 3.4028234e38, 1.7976931348623157e308, '2000-02-29 12:00:00', NULL, '1', 'ok', 'x,y,z',
  b'1', NULL, NULL);
SET time_zone = SYSTEM;
SET SESSION max_recursive_iterations = 1000000;
INSERT INTO $ODD (\`my col\`) VALUES ('gone');
DELETE FROM $ODD WHERE \`my col\` = 'gone';
CREATE TABLE Tcase (id INT PRIMARY KEY, v INT);
CREATE TABLE tcase (v INT, k CHAR(2), w INT, PRIMARY KEY (k, v));
INSERT INTO Tcase VALUES (2, 1), (1, 2);
INSERT INTO tcase VALUES (2, "b", 1), (1, "b", 2), (3, "a", 3);
CREATE TABLE nopk (a TEXT, b INT);
INSERT INTO nopk VALUES ('b', 2), ('a', 1), ('a', 1), ('A', 1);
CREATE TABLE items (k VARCHAR(20) PRIMARY KEY, v INT NOT NULL DEFAULT 3, note TEXT, KEY by_note (note(5)));
INSERT INTO items WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 5000)
	SELECT CONCAT('k', n), n, REPEAT('n', n % 50) FROM g;
CREATE TABLE child (id INT PRIMARY KEY, item VARCHAR(20), FOREIGN KEY (item) REFERENCES items (k));
INSERT INTO child VALUES (1, 'k1'), (2, 'k2');
CREATE FUNCTION dbl(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;
CREATE PROCEDURE \`p 1\`() SELECT COUNT(*) FROM items;
CREATE VIEW big AS SELECT k FROM items WHERE v > 10;
CREATE VIEW \`with fn\` AS SELECT k, dbl(v) AS d FROM items;
CREATE TRIGGER stamp BEFORE INSERT ON items FOR EACH ROW SET NEW.note = 'trig';
CREATE EVENT ev ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE DO DELETE FROM nopk;
SQL

write_config "$T/dbgit.toml" "$REPO" "$(job my app "$MY_PASS")" "$(job nover app "$MY_PASS" 'verify = "none"')" \
	"$(job badpw app "$T/wrong.pass")" "$(job open app "$T/open.pass")" \
	"$(job ex app "$MY_PASS" 'exclude_tables = ["nopk"]' 'exclude_table_data = ["items"]')"
printf 'not-the-password\n' >"$T/wrong.pass"
chmod 600 "$T/wrong.pass"
install -m 0644 "$MY_PASS" "$T/open.pass"
dg init >/dev/null
# one tree's files but MANIFEST.json, path and blob
files() { git --git-dir="$REPO" ls-tree -r "$1" | grep -v 'MANIFEST.json$'; }
scratch_dbs() { myq mysql -e "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'dbgit%'"; }
ODD_DIR='1-table/odd%20%60name%20%22x%22%20y'

test_case "a snapshot is taken, verified in a scratch database, and that database dropped" '
	dg backup my
	dg show my --json >m.json
	python3 -c "
import json; m = json.load(open(\"m.json\"))
assert m[\"engine\"] == \"mysql\" and m[\"formats\"] == [\"sql\"], m
assert m[\"verification\"][\"result\"] == \"passed\", m
t = {x[\"name\"]: x[\"rows\"] for x in m[\"tables\"]}
assert t[\"items\"] == 5000 and t[\"odd \`name \\\"x\\\" y\"] == 6 and t[\"nopk\"] == 4 and t[\"child\"] == 2, t
assert t[\"(auto_increment)\"] == 1, t
kinds = {(s[\"type\"], s[\"name\"]) for s in m[\"schema\"]}
assert (\"view\", \"with fn\") in kinds and (\"trigger\", \"items\") in kinds, kinds
assert (\"function\", \"(routines and events)\") in kinds and (\"table\", \"child\") in kinds, kinds
"
	[ "$(scratch_dbs)" = 0 ]
	git --git-dir="$REPO" fsck --full
	git --git-dir="$REPO" ls-tree -r --name-only backup/my >names
	grep -qx "$ODD_DIR/1-rows-000000.sql" names
	grep -qx "1-table/items/2-end-000000.sql" names
	grep -qx "3-routines-000000.sql" names
	grep -qx "4-views-000000.sql" names
	# one row a line, in key order; values exact
	git --git-dir="$REPO" show "backup/my:$ODD_DIR/1-rows-000000.sql" >odd.sql
	[ "$(wc -l <odd.sql)" = 6 ]
	grep -qF "123456.7890625" odd.sql
	grep -qF "1.1754943508222875e-38" odd.sql
	grep -qF "0x${all_bytes^^}" odd.sql
	grep -qF -- "-12345678901234567890123456789012345.123456789012345678901234567891" odd.sql
	# tables whose names differ in case only, each with its own key
	git --git-dir="$REPO" show backup/my:1-table/Tcase/1-rows-000000.sql >T
	printf "%s\n" "INSERT INTO \`Tcase\` VALUES (1,2);" "INSERT INTO \`Tcase\` VALUES (2,1);" | cmp - T
	git --git-dir="$REPO" show backup/my:1-table/tcase/1-rows-000000.sql >t
	printf "%s\n" "INSERT INTO \`tcase\` VALUES (3,'\''a'\'',3);" "INSERT INTO \`tcase\` VALUES (1,'\''b'\'',2);" \
		"INSERT INTO \`tcase\` VALUES (2,'\''b'\'',1);" | cmp - t
	git --git-dir="$REPO" show backup/my:1-table/items/1-rows-000000.sql | head -n 2 >first
	grep -q "^INSERT INTO \`items\` VALUES (.k1.,1," first
	# the counter in its own small file, in no table definition
	git --git-dir="$REPO" show backup/my:2-auto-increment-000000.sql >ai
	grep -qxF "ALTER TABLE \`odd \`\`name \"x\" y\` AUTO_INCREMENT=8;" ai
	git --git-dir="$REPO" show "backup/my:$ODD_DIR/0-create-000000.sql" >create
	test_must_fail grep -q "AUTO_INCREMENT=" create
	# the trigger comes after the rows (it must not fire on them)
	git --git-dir="$REPO" show backup/my:1-table/items/2-end-000000.sql | grep -q "TRIGGER"
'

test_case "OPTIMIZE TABLE and UPDATE t SET c = c change no file but MANIFEST.json" '
	myq app -e "OPTIMIZE TABLE items, nopk, child" >/dev/null
	myq app -e "UPDATE items SET v = v WHERE v % 3 = 0; UPDATE nopk SET a = a; UPDATE $ODD SET d = d"
	myq app -e "ALTER TABLE nopk ENGINE = InnoDB"
	dg backup my
	files backup/my~1 >one
	files backup/my >two
	cmp one two
	[ "$(git --git-dir="$REPO" diff --name-only backup/my~1 backup/my)" = MANIFEST.json ]
'

test_case "a new row changes the rows and the counter file, not the table definition" '
	myq app -e "INSERT INTO $ODD (\`my col\`) VALUES (\"new\")"
	dg backup my
	git --git-dir="$REPO" diff --name-only backup/my~1 backup/my >changed
	cat changed
	[ "$(grep -c . changed)" = 3 ]
	grep -qx "2-auto-increment-000000.sql" changed
	grep -qx "$ODD_DIR/1-rows-000000.sql" changed
	myq app -e "DELETE FROM $ODD WHERE \`my col\` = \"new\""
	dg backup my
'

test_case "restore --to a new database gives back every table, value and object" '
	dg restore my --to copy1
	my_same_db app copy1
	[ "$(myq copy1 -e "SELECT HEX(b) FROM $ODD WHERE id = 2")" = "${all_bytes^^}" ]
	[ "$(myq copy1 -e "SELECT CAST(CAST(f AS DOUBLE) AS CHAR) FROM $ODD WHERE id = 2")" = 123456.7890625 ]
	[ "$(myq copy1 -e "SELECT d FROM $ODD WHERE id = 2")" = -12345678901234567890123456789012345.123456789012345678901234567891 ]
	[ "$(myq copy1 -e "SELECT COUNT(*) FROM big")" = 4990 ]
	[ "$(myq copy1 -e "SELECT d FROM \`with fn\` WHERE k = \"k7\"")" = 14 ]
	[ "$(myq copy1 -e "CALL \`p 1\`()")" = 5000 ]
	myq copy1 -e "INSERT INTO items (k, v) VALUES (\"new\", 1)"
	[ "$(myq copy1 -e "SELECT note FROM items WHERE k = \"new\"")" = trig ]
	[ "$(myq copy1 -e "SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = \"copy1\"")" = 1 ]
	myq copy1 -e "INSERT INTO $ODD (\`my col\`) VALUES (\"next\")"
	[ "$(myq copy1 -e "SELECT id FROM $ODD WHERE \`my col\` = \"next\"")" = 9 ]
	test_must_fail myq copy1 -e "INSERT INTO child VALUES (3, \"nope\")"
	[ "$(scratch_dbs)" = 0 ]
	# the database default, for tables created there later
	[ "$(myq mysql -e "SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = \"copy1\"")" = latin1_german1_ci ]
'

test_case "the snapshot is one script that mariadb runs by hand" '
	git --git-dir="$REPO" archive backup/my | tar -x -C "$(mkdir -p by-hand && echo by-hand)"
	myq mysql -e "CREATE DATABASE byhand"
	(cd by-hand && find . -name "*.sql" | LC_ALL=C sort | xargs cat) | myq byhand
	my_same_db app byhand
'

test_case "restore --to a database that holds tables needs --force" '
	expect_exit 2 dg restore my --to copy1
	stderr_has "database copy1 already holds"
	myq copy1 -e "CREATE TABLE extra (x INT)"
	dg restore my --to copy1 --force
	my_same_db app copy1
	expect_exit 2 dg restore my --to "no/slash"
	expect_exit 2 dg restore my --to "a.b"
	stderr_has "is not a MySQL database name"
	[ "$(scratch_dbs)" = 0 ]
'

test_case "the password is on no command line while the dump runs, nor in the repository" '
	myq app -e "CREATE TABLE bulk (id INT PRIMARY KEY, h CHAR(32)); SET max_recursive_iterations = 1000000;
		INSERT INTO bulk WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 200000)
		SELECT n, MD5(n) FROM g"
	pw=$(cat "$MY_PASS")
	dg backup my &
	bg=$!
	: >seen
	while kill -0 $bg 2>/dev/null; do
		# a process may end between the glob and the read: its line is empty
		for f in /proc/[0-9]*/cmdline; do cat "$f" 2>/dev/null | tr "\0" " " >>seen; echo >>seen; done
	done
	wait $bg
	# the tools ran while we looked, and were given an option file
	grep -q "mariadb --defaults-extra-file=" seen
	test_must_fail grep -qF "$pw" seen
	git --git-dir="$REPO" log -p --all >log.txt
	test_must_fail grep -qF "$pw" log.txt
	myq app -e "DROP TABLE bulk"
'

test_case "diff --stat counts exactly the rows changed, added and removed" '
	dg backup my --allow-shrink
	myq app -e "UPDATE items SET v = v + 1000 WHERE k IN (\"k1\", \"k2000\", \"k4999\");
		DELETE FROM items WHERE k IN (\"k77\", \"k78\"); INSERT INTO items (k, v) VALUES (\"a\", 1);
		UPDATE $ODD SET g = 2.5 WHERE id = 2; INSERT INTO nopk VALUES (\"c\", 3);
		CREATE INDEX by_v ON items (v)"
	dg backup my
	dg diff my --stat >stat
	cat stat
	grep -Eq "^ +items +\+1 -2 ~3$" stat
	grep -Eq "^ +odd \`name \"x\" y +\+0 -0 ~1$" stat
	grep -Eq "^ +nopk +\+1 -0 ~0$" stat
	grep -q "schema: ~ table items" stat
	[ "$(grep -Ec " \+[0-9]+ -[0-9]+ ~[0-9]+$" stat)" = 3 ]
	[ "$(scratch_dbs)" = 0 ]
'

test_case "a snapshot that restores to other content is not committed; its scratch database is dropped" '
	before=$(git --git-dir="$REPO" rev-parse backup/my)
	DBGIT_TEST_CORRUPT=alter:2-auto-increment expect_exit 1 dg backup my
	stderr_has "verification failed, nothing committed"
	stderr_has "(auto_increment)"
	[ "$(git --git-dir="$REPO" rev-parse backup/my)" = "$before" ]
	[ "$(scratch_dbs)" = 0 ]
	DBGIT_TEST_CORRUPT=drop-line:1-table/nopk/1-rows expect_exit 1 dg backup my
	stderr_has "table nopk"
	[ "$(scratch_dbs)" = 0 ]
	[ "$(git --git-dir="$REPO" rev-parse backup/my)" = "$before" ]
'

test_case "a stop signal during verification drops the scratch database and commits nothing" '
	myq app -e "CREATE TABLE bulk (id INT PRIMARY KEY, h CHAR(32)); SET max_recursive_iterations = 1000000;
		INSERT INTO bulk WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 300000)
		SELECT n, MD5(n) FROM g"
	before=$(git --git-dir="$REPO" rev-parse backup/my)
	"$DBGIT" --config "$T/dbgit.toml" backup my 2>err &
	bg=$!
	for i in $(seq 1 600); do [ "$(scratch_dbs)" = 0 ] || break; sleep 0.05; done
	[ "$(scratch_dbs)" = 1 ]
	kill -TERM $bg
	rc=0
	wait $bg || rc=$?
	[ "$rc" -ne 0 ]
	[ "$(scratch_dbs)" = 0 ]
	[ "$(git --git-dir="$REPO" rev-parse backup/my)" = "$before" ]
	myq app -e "DROP TABLE bulk"
'

test_case "exclude_tables leaves a table out, exclude_table_data its rows; verification passes" '
	dg backup ex
	dg show ex --json >m.json
	python3 -c "
import json; m = json.load(open(\"m.json\"))
t = {x[\"name\"]: x[\"rows\"] for x in m[\"tables\"]}
assert \"nopk\" not in t and t[\"items\"] == 0 and t[\"child\"] == 2, t
assert not [s for s in m[\"schema\"] if s.get(\"tbl_name\") == \"nopk\"], m[\"schema\"]
assert m[\"verification\"][\"result\"] == \"passed\"
"
	git --git-dir="$REPO" ls-tree -r --name-only backup/ex >names
	test_must_fail grep -q nopk names
	grep -qx "1-table/items/0-create-000000.sql" names
	test_must_fail grep -q "items/1-rows" names
'

test_case "verify = \"none\" takes a snapshot without a scratch database" '
	dg backup nover
	dg show nover --json | grep -q "\"skipped\""
	dg list nover | grep -q skipped
'

test_case "check reaches the source and the repository, writes nothing, and names what is broken" '
	git --git-dir="$REPO" for-each-ref >refs.before
	dg check my >out
	grep -qx "my: source ok" out
	expect_exit 1 dg check badpw
	stderr_has "job '\''badpw'\'': mariadb: ERROR 1045"
	expect_exit 1 dg check
	stderr_has "job '\''open'\'': password_file"
	git --git-dir="$REPO" for-each-ref >refs.after
	cmp refs.before refs.after
	[ "$(scratch_dbs)" = 0 ]
'

test_case "a row too large for the server to write out fails the job; no row is lost silently" '
	myq app -e "CREATE TABLE huge (id INT PRIMARY KEY, b LONGBLOB); INSERT INTO huge VALUES (1, REPEAT(\"x\", 9000000))"
	before=$(git --git-dir="$REPO" rev-parse backup/my)
	expect_exit 1 dg backup my
	stderr_has "table huge: a row the server would not write out"
	[ "$(wc -l <.stderr)" = 1 ]
	[ "$(git --git-dir="$REPO" rev-parse backup/my)" = "$before" ]
	myq app -e "DROP TABLE huge"
'

test_case "a client command in a tampered snapshot is not obeyed by verify or restore" '
	G() { git --git-dir="$REPO" "$@"; }
	good=$(G rev-parse backup/my)
	blob=$(printf "%s\n" "SELECT 1;" "\\! touch $T/pwned" "SELECT 2;" | G hash-object -w --stdin)
	G read-tree --index-output="$T/plant.idx" "$good"
	GIT_INDEX_FILE="$T/plant.idx" G update-index --add --cacheinfo "100644,$blob,3-routines-000000.sql"
	tree=$(GIT_INDEX_FILE="$T/plant.idx" G write-tree)
	rm -f "$T/plant.idx"
	G update-ref refs/heads/backup/my "$(G log -1 --format=%B "$good" | G commit-tree "$tree" -p "$good")"
	expect_exit 1 dg verify my
	grep -qF "Unknown command" .stdout .stderr
	test_must_fail test -e "$T/pwned"
	expect_exit 1 dg restore my --to planted
	stderr_has "Unknown command"
	test_must_fail test -e "$T/pwned"
	[ "$(myq mysql -e "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = \"planted\"")" = 0 ]
	[ "$(scratch_dbs)" = 0 ]
	G update-ref refs/heads/backup/my "$good"
'

test_case "a wrong password, an open password file, a stopped server, a missing client: one line, no commit" '
	expect_exit 1 dg backup badpw
	stderr_has "Access denied for user"
	[ "$(wc -l <.stderr)" = 1 ]
	test_must_fail git --git-dir="$REPO" rev-parse -q --verify backup/badpw
	expect_exit 1 dg backup open
	stderr_has "readable by group or others"
	test_must_fail git --git-dir="$REPO" rev-parse -q --verify backup/open
	before=$(git --git-dir="$REPO" rev-parse backup/my)
	mkdir bin
	ln -s "$(command -v git)" bin/git
	expect_exit 1 env PATH="$T/bin" "$DBGIT" --config "$T/dbgit.toml" backup my
	stderr_has "mariadb: not found in PATH"
	# the client without its dump tool
	ln -s "$(command -v mariadb)" bin/mariadb
	expect_exit 1 env PATH="$T/bin" "$DBGIT" --config "$T/dbgit.toml" backup my
	stderr_has "mariadb-dump: not found in PATH"
	[ "$(wc -l <.stderr)" = 1 ]
	my_stop
	expect_exit 1 dg backup my
	stderr_has "job '\''my'\'': mariadb: ERROR 2002"
	[ "$(wc -l <.stderr)" = 1 ]
	expect_exit 1 dg check my
	stderr_has "Can'\''t connect to local server through socket"
	[ "$(git --git-dir="$REPO" rev-parse backup/my)" = "$before" ]
'

test_done
