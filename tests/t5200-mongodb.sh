#!/bin/bash
# t5200: engine = "mongodb" against stand-ins of mongodump, mongorestore and
# mongosh (tests/lib/mongo-standin.py: Debian ships no MongoDB). What this
# shows is dbgit's side of the contract with the tools: the one-line error
# when they are missing, the arguments they get, the password never on a
# command line (every process's /proc/PID/cmdline is read while a tool
# runs) but in a 0600 --config file, BSON turned into canonical Extended
# JSON in _id order whatever order the tool wrote (so the same data gives
# the same files), the snapshot turned back into BSON for mongorestore and
# verified, the scratch database dropped, and a failing tool's first line
# with no commit. It does not show that a real server accepts any of it.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
export MONGO_FAKE=$T/fake
mkdir -p "$MONGO_FAKE/data/app" "$T/bin"
standin() { python3 "$TEST_SRCDIR/lib/mongo-standin.py" "$@"; }
for tool in mongodump mongorestore mongosh; do
	printf '#!/bin/sh\nexec python3 "%s" %s "$@"\n' "$TEST_SRCDIR/lib/mongo-standin.py" "$tool" >"$T/bin/$tool"
	chmod +x "$T/bin/$tool"
done
PATH_WITH=$T/bin:$PATH
PATH_WITHOUT=$PATH
dg() { PATH=$PATH_WITH "$DBGIT" --config "$T/dbgit.toml" "$@"; }

printf 'mongo-pw-%s-"q\\uote"-secret\n' "$$" >"$MONGO_FAKE/password"
install -m 0600 "$MONGO_FAKE/password" "$T/m.pass"
install -m 0644 "$MONGO_FAKE/password" "$T/open.pass"
job() {
	printf '%s\n' '[[job]]' "name = \"$1\"" 'engine = "mongodb"' 'host = "127.0.0.1"' 'port = 27999' \
		'user = "backup"' 'auth_database = "admin"' 'database = "app"' "password_file = \"$2\""
	shift 2
	printf '%s\n' "$@" ''
}
write_config "$T/dbgit.toml" "$REPO" "$(job m "$T/m.pass")" "$(job open "$T/open.pass")" \
	"$(job ex "$T/m.pass" 'exclude_collections = ["logs"]')"

# The fixture: documents written out of _id order, awkward values.
users() {
	standin bson "$MONGO_FAKE/data/app/users.bson" <<EOF
[{"_id": OID("65a000000000000000000003"), "name": "carol", "age": ${1:-41}},
 {"_id": OID("65a000000000000000000001"), "name": "alice\tline\nbreak \"q\" é", "age": Int64(2**62)},
 {"_id": OID("65a000000000000000000002"), "name": "bob", "age": None, "tags": ["x", {"y": True}]}]
EOF
}
users
standin bson "$MONGO_FAKE/data/app/odd name%2Fé.bson" <<'EOF'
[{"_id": 10, "f": -0.0}, {"_id": 9, "f": nan}, {"_id": Int64(-3), "f": inf},
 {"_id": 2.5, "f": 5e-324, "d": Dec128("0f000000000000000000000000003e30")},
 {"_id": "k", "b": Bin(bytes(range(256))), "t": Date(-1)}, {"_id": None}]
EOF
standin bson "$MONGO_FAKE/data/app/logs.bson" <<<'[{"_id": 1, "m": "noise"}]'
cat >"$MONGO_FAKE/data/app/users.metadata.json" <<'EOF'
{"indexes":[{"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},"name":"_id_"},{"v":2,"key":{"name":1},"name":"name_1","unique":true}],"uuid":"0123456789abcdef0123456789abcdef","collectionName":"users","type":"collection"}
EOF
cat >"$MONGO_FAKE/data/app/odd name%2Fé.metadata.json" <<'EOF'
{"options":{},"indexes":[{"v":2,"key":{"_id":1},"name":"_id_","ns":"app.odd name/é"}],"collectionName":"odd name/é","type":"collection"}
EOF
: >"$MONGO_FAKE/data/app/empty.bson"
echo '{"options":{},"indexes":[{"v":2,"key":{"_id":1},"name":"_id_"}],"collectionName":"empty","type":"collection"}' \
	>"$MONGO_FAKE/data/app/empty.metadata.json"
cat >"$MONGO_FAKE/data/app/recent.metadata.json" <<'EOF'
{"options":{"viewOn":"users","pipeline":[{"$match":{"age":{"$gt":40}}}]},"indexes":[],"collectionName":"recent","type":"view"}
EOF

dg init >/dev/null 2>"$T/init.err"
files() { git --git-dir="$REPO" ls-tree -r "$1" | grep -v 'MANIFEST.json$'; }
show() { git --git-dir="$REPO" show "$1"; }
scratch_dbs() { find "$MONGO_FAKE/data" -mindepth 1 -maxdepth 1 -name 'dbgit_*' | wc -l; }

test_case "without the tools on PATH: one line naming them, exit 1, nothing committed" '
	expect_exit 1 env PATH="$PATH_WITHOUT" "$DBGIT" --config "$T/dbgit.toml" backup --no-push m
	stderr_has "job '\''m'\'': mongodump not found on PATH: install MongoDB Database Tools"
	test_must_fail git --git-dir="$REPO" rev-parse -q --verify backup/m
	rm "$T/bin/mongosh"
	expect_exit 1 dg backup --no-push m
	stderr_has "mongosh not found on PATH: install the MongoDB Shell"
	test_must_fail git --git-dir="$REPO" rev-parse -q --verify backup/m
	printf "#!/bin/sh\nexec python3 \"%s\" mongosh \"\$@\"\n" "$TEST_SRCDIR/lib/mongo-standin.py" >"$T/bin/mongosh"
	chmod +x "$T/bin/mongosh"
'

test_case "a snapshot: one canonical document a line in _id order, verified in a scratch database then dropped" '
	dg backup --no-push m
	git --git-dir="$REPO" fsck --full
	dg show m --json >m.json
	python3 -c "
import json; m = json.load(open(\"m.json\"))
assert m[\"engine\"] == \"mongodb\", m
assert m[\"verification\"][\"result\"] == \"passed\", m
t = {x[\"name\"]: x[\"rows\"] for x in m[\"tables\"]}
assert t == {\"users\": 3, \"odd name/é\": 6, \"logs\": 1, \"empty\": 0}, t
s = sorted((x[\"type\"], x[\"name\"]) for x in m[\"schema\"])
assert (\"view\", \"recent\") in s and (\"index\", \"users.name_1\") in s and (\"table\", \"users\") in s, s
"
	git --git-dir="$REPO" ls-tree -r --name-only backup/m >names
	grep -qx "collections/users/documents-000000.json" names
	grep -qx "collections/users/metadata-000000.json" names
	grep -qx "collections/odd%20name%2F%C3%A9/documents-000000.json" names
	grep -qx "collections/recent/metadata-000000.json" names
	show backup/m:collections/users/documents-000000.json >users.json
	[ "$(wc -l <users.json)" = 3 ]
	cut -c1-50 users.json >ids
	cat >want <<-\EOF
	{ "_id" : { "$oid" : "65a000000000000000000001" },
	{ "_id" : { "$oid" : "65a000000000000000000002" },
	{ "_id" : { "$oid" : "65a000000000000000000003" },
	EOF
	diff want ids
	grep -qF "\"age\" : { \"\$numberLong\" : \"4611686018427387904\" }" users.json
	grep -qF "alice\\tline\\nbreak \\\"q\\\" é" users.json
	show "backup/m:collections/odd%20name%2F%C3%A9/documents-000000.json" | cut -d, -f1 >ids
	cat >want <<-\EOF
	{ "_id" : null }
	{ "_id" : { "$numberLong" : "-3" }
	{ "_id" : { "$numberDouble" : "2.5" }
	{ "_id" : { "$numberInt" : "9" }
	{ "_id" : { "$numberInt" : "10" }
	{ "_id" : "k"
	EOF
	diff want ids
	show "backup/m:collections/odd%20name%2F%C3%A9/documents-000000.json" >odd.json
	grep -qF "\"f\" : { \"\$numberDouble\" : \"-0.0\" }" odd.json
	grep -qF "\"f\" : { \"\$numberDouble\" : \"NaN\" }" odd.json
	grep -qF "\"d\" : { \"\$numberDecimal\" : \"1.5\" }" odd.json
	grep -qF "\"t\" : { \"\$date\" : { \"\$numberLong\" : \"-1\" } }" odd.json
	[ "$(scratch_dbs)" = 0 ]
	grep -q "\"op\": \"drop\", \"db\": \"dbgit_m_" "$MONGO_FAKE/log/mongosh-requests"
	grep -q "\"--nsInclude=dbgit_m_[0-9]*_" "$MONGO_FAKE/log/mongorestore"
'

test_case "the password is on no command line (every process read while each tool ran), nor in the repository" '
	[ "$(wc -l <"$MONGO_FAKE/log/cmdlines-checked")" -ge 4 ]
	pw=$(cat "$T/m.pass")
	test_must_fail grep -rqF "$pw" "$MONGO_FAKE/log"
	git --git-dir="$REPO" cat-file --batch-all-objects --batch >objects
	test_must_fail grep -qF "$pw" objects
	grep -q "\"--config=.*/pass\", \"--host=127.0.0.1\", \"--port=27999\", \"--username=backup\", \"--authenticationDatabase=admin\", \"--db=app\"" "$MONGO_FAKE/log/mongodump"
'

test_case "the same data written by the tool in another order gives the same files" '
	touch "$MONGO_FAKE/reverse"
	dg backup --no-push m
	rm "$MONGO_FAKE/reverse"
	files backup/m~1 >one
	files backup/m >two
	cmp one two
	[ "$(git --git-dir="$REPO" diff --name-only backup/m~1 backup/m)" = MANIFEST.json ]
'

test_case "one changed document is one changed line in dbgit diff" '
	users 42
	dg backup --no-push m
	dg diff m >d
	[ "$(grep -c "^-{" d)" = 1 ]
	[ "$(grep -c "^+{" d)" = 1 ]
	grep -q "^+{ \"_id\" : { \"\$oid\" : \"65a000000000000000000003\" }, \"name\" : \"carol\", \"age\" : { \"\$numberInt\" : \"42\" } }" d
'

test_case "restore --to a new database gives back the same documents; a database with collections needs --force" '
	dg restore m --to copy1
	standin docs "$MONGO_FAKE/data/app/users.bson" >a
	standin docs "$MONGO_FAKE/data/copy1/users.bson" >b
	cmp a b
	standin docs "$MONGO_FAKE/data/app/odd name%2Fé.bson" >a
	standin docs "$MONGO_FAKE/data/copy1/odd%20name%2F%C3%A9.bson" >b
	cmp a b
	[ "$(wc -l <b)" = 6 ]
	python3 -c "import json; json.load(open(\"$MONGO_FAKE/data/copy1/recent.metadata.json\"))"
	[ "$(scratch_dbs)" = 0 ]
	expect_exit 2 dg restore m --to copy1
	stderr_has "database copy1 already holds 5 collections"
	dg restore m --to copy1 --force
	expect_exit 2 dg restore m --to "a.b"
	stderr_has "is not a MongoDB database name"
'

test_case "a failing tool fails the job with its first error line and commits nothing" '
	before=$(git --git-dir="$REPO" rev-parse backup/m)
	echo "2026-01-01T00:00:00.000+0000	Failed: error connecting to db server: no reachable servers" >"$MONGO_FAKE/fail-mongodump"
	expect_exit 1 dg backup --no-push m
	stderr_has "mongodump: 2026-01-01T00:00:00.000+0000	Failed: error connecting to db server: no reachable servers"
	rm "$MONGO_FAKE/fail-mongodump"
	echo "Failed: app.users: error restoring: (Unauthorized) not authorized" >"$MONGO_FAKE/fail-mongorestore"
	expect_exit 1 dg backup --no-push m
	stderr_has "mongorestore: Failed: app.users: error restoring: (Unauthorized) not authorized"
	rm "$MONGO_FAKE/fail-mongorestore"
	[ "$(git --git-dir="$REPO" rev-parse backup/m)" = "$before" ]
	[ "$(scratch_dbs)" = 0 ]
'

test_case "a restore that lost a document fails verification naming the collection" '
	before=$(git --git-dir="$REPO" rev-parse backup/m)
	touch "$MONGO_FAKE/lose-doc"
	expect_exit 1 dg backup --no-push m
	rm "$MONGO_FAKE/lose-doc"
	stderr_has "verification failed, nothing committed: table logs: 1 rows in the source, 0 in the snapshot"
	[ "$(git --git-dir="$REPO" rev-parse backup/m)" = "$before" ]
	[ "$(scratch_dbs)" = 0 ]
'

test_case "a scratch database left by a dbgit killed with -9 is dropped by the next run" '
	before=$(git --git-dir="$REPO" rev-parse backup/m)
	touch "$MONGO_FAKE/hang-mongorestore"
	PATH=$PATH_WITH "$DBGIT" --config "$T/dbgit.toml" backup --no-push m 2>err &
	bg=$!
	for i in $(seq 1 600); do [ ! -s "$MONGO_FAKE/restoring" ] || break; sleep 0.05; done
	[ -s "$MONGO_FAKE/restoring" ]
	kill -KILL $bg
	rc=0
	wait $bg || rc=$?
	[ "$rc" = 137 ]
	kill "$(cat "$MONGO_FAKE/restoring")"
	rm "$MONGO_FAKE/hang-mongorestore" "$MONGO_FAKE/restoring"
	[ "$(git --git-dir="$REPO" rev-parse backup/m)" = "$before" ]
	left=$(ls "$MONGO_FAKE/data" | grep "^dbgit_m_${bg}_")
	[ -n "$left" ]
	# one of a run still alive (this shell stands in for it), and one of
	# job "m_7" (its pid part is not that of a run of job "m"), stay
	mkdir "$MONGO_FAKE/data/dbgit_m_$$_target" "$MONGO_FAKE/data/dbgit_m_7_$$_0"
	dg -v backup --no-push m 2>err
	grep -q "dropped scratch database $left" err
	[ "$(ls "$MONGO_FAKE/data" | grep -c ^dbgit_)" = 2 ]
	[ -d "$MONGO_FAKE/data/dbgit_m_$$_target" ]
	[ -d "$MONGO_FAKE/data/dbgit_m_7_$$_0" ]
	rmdir "$MONGO_FAKE/data/dbgit_m_$$_target" "$MONGO_FAKE/data/dbgit_m_7_$$_0"
'

test_case "exclude_collections leaves a collection out" '
	dg backup --no-push ex
	git --git-dir="$REPO" ls-tree -r --name-only backup/ex >names
	test_must_fail grep -q "^collections/logs/" names
	grep -q "\"--excludeCollection=logs\"" "$MONGO_FAKE/log/mongodump"
'

test_case "a password_file others can read, or a password in the uri, is refused" '
	expect_exit 1 dg backup --no-push open
	stderr_has "is readable by group or others"
	test_must_fail git --git-dir="$REPO" rev-parse -q --verify backup/open
	write_config "$T/bad.toml" "$REPO" "$(job m "$T/m.pass")" "uri = \"mongodb://backup:hunter2@db.example:27017/\""
	sed -i "/^host =/d; /^port =/d" "$T/bad.toml"
	expect_exit 2 "$DBGIT" --config "$T/bad.toml" backup m
	stderr_has "uri holds a password: put it in password_file"
'

test_case "documents out of _id order are sorted in bounded memory: 10 times the documents, about the same peak" '
	[ -x /usr/bin/time ] || { echo "/usr/bin/time is missing (apt-get install time)"; false; }
	for n in 20000 200000; do
		mkdir -p "$MONGO_FAKE/data/mem$n"
		# newest first: the reverse of _id order, about 300 bytes a document
		python3 -c "
import sys; n = $n
print(\"[\" + \",\".join(\"{\\\"_id\\\": %d, \\\"s\\\": \\\"%s\\\"}\" % (n - i, (\"%08d\" % i) * 30) for i in range(n)) + \"]\")
" | standin bson "$MONGO_FAKE/data/mem$n/c.bson"
		printf "%s\n" "[[job]]" "name = \"mem$n\"" "engine = \"mongodb\"" "database = \"mem$n\"" "verify = \"none\"" >>"$T/dbgit.toml"
	done
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
	for n in 20000 200000; do
		PATH=$PATH_WITH /usr/bin/time -f "%M" -o "peak$n" "$DBGIT" --config "$T/dbgit.toml" backup --no-push "mem$n" >/dev/null
	done
	small=$(tail -1 peak20000)
	big=$(tail -1 peak200000)
	echo "peak KiB: $small for 20000 documents, $big for 200000"
	[ "$big" -lt $((small * 3 / 2 + 40000)) ]
	for f in $(git --git-dir="$REPO" ls-tree -r --name-only backup/mem200000 | grep documents); do
		git --git-dir="$REPO" show "backup/mem200000:$f"
	done | sed "s/^{ \"_id\" : { \"\$numberInt\" : \"\([0-9]*\)\" }.*/\1/" >ids
	[ "$(wc -l <ids)" = 200000 ]
	sort -n -c ids
	[ "$(head -1 ids)" = 1 ]
'

test_case "check passes with the tools and a server, and names what fails" '
	dg check m
	echo "MongoNetworkError: connect ECONNREFUSED 127.0.0.1:27999" >"$MONGO_FAKE/fail-mongosh"
	expect_exit 1 dg check m
	rm "$MONGO_FAKE/fail-mongosh"
	stderr_has "ECONNREFUSED"
	expect_exit 1 env PATH="$PATH_WITHOUT" "$DBGIT" --config "$T/dbgit.toml" check m
	stderr_has "mongodump not found on PATH"
'

test_done
