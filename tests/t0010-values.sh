#!/bin/bash
# Values come back bit for bit: every REAL (random bit patterns, subnormals,
# +-0, +-inf, the ones SQLite 3.40's own parser reads back wrong), TEXT with
# NUL, CR, LF, quotes and invalid UTF-8, BLOBs, INTEGER extremes, rowids
# that are not INTEGER PRIMARY KEY, odd table and column names. Checked
# through `dbgit restore` and through the README's git-only restore, by a
# comparison that sees the bits (python3 reading both files), not only by
# sqldiff.
. "$TEST_SRCDIR/lib/test-lib.sh"


REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }

cat >"$T/gen.py" <<'EOF'
# Builds the database of awkward values, from a fixed seed.
import random, sqlite3, struct, sys
r = random.Random(20261121)
db = sqlite3.connect(sys.argv[1])
db.executescript('''
PRAGMA user_version = -7;
PRAGMA application_id = -2147483648;
CREATE TABLE reals(id INTEGER PRIMARY KEY, v REAL);
CREATE TABLE anyv(id INTEGER PRIMARY KEY, v);
CREATE TABLE texts(id INTEGER PRIMARY KEY, t TEXT, b BLOB);
CREATE TABLE ints(id INTEGER PRIMARY KEY, i INTEGER, n NUMERIC, r REAL, t TEXT, x);
CREATE TABLE desc_pk(id INTEGER PRIMARY KEY DESC, v);
CREATE TABLE int_pk(id INT PRIMARY KEY, v);
CREATE TABLE no_pk(v);
CREATE TABLE shadow(rowid TEXT, v);
CREATE TABLE "we""ird name/% ü"("col ""q""" TEXT, [br]acket, `tick` INTEGER);
CREATE TABLE wr(a TEXT, b REAL, c BLOB, PRIMARY KEY (b, a)) WITHOUT ROWID;
''')
# SQLite keeps a trailing comment in the stored text of a view or index.
db.executescript("CREATE VIEW v_reals AS SELECT * FROM reals -- a note\n;\n"
                 "CREATE INDEX texts_t ON texts(t) /* block */ -- and a line comment\n;\n"
                 "CREATE TRIGGER wr_ins AFTER INSERT ON wr BEGIN SELECT 1; END -- why\n;\n")
def d(bits): return struct.unpack('<d', struct.pack('<Q', bits))[0]
vals = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072009e-308, 2.2250738585072014e-308,
        1.7976931348623157e308, -1.7976931348623157e308, float('inf'), float('-inf'),
        0.1, 0.30000000000000004, 1/3, 2.0**53, 2.0**53 + 2, 2.0**63, -2.0**63, 2.0**64,
        1e22, 1e23, 8.98846567431158e307, 1.0000000000000002, 0.9999999999999999,
        123456789012345680.0, 1e-5, 5e-7, 4.1380681361132567e-308, 4.2305342476417197e-308]
for i in range(20000):
    k = r.randrange(4)
    if k == 0: bits = r.getrandbits(64)
    elif k == 1: bits = r.getrandbits(52) | (r.getrandbits(1) << 63)          # subnormal
    elif k == 2: bits = (r.randrange(0x3c0, 0x440) << 52) | r.getrandbits(52) | (r.getrandbits(1) << 63)
    else: bits = (r.choice([0x7fe, 0x7fd, 0x001, 0x002]) << 52) | r.getrandbits(52)
    v = d(bits)
    if v == v:  # NaN is stored as NULL by SQLite
        vals.append(v)
db.executemany("INSERT INTO reals(v) VALUES (?)", [(v,) for v in vals])
db.executemany("INSERT INTO anyv(v) VALUES (?)", [(v,) for v in vals[:3000]])
texts = ["", "plain", "it's", "''", '"', "a\nb", "\r\n", "\r", "tab\there", "nul\x00inside",
         "\x00", "trailing\n", "ünïcödé ✓ 𝄞", "back\\slash", "X'41'", "CAST(X'41' AS TEXT)",
         ");\nDROP TABLE texts;--", "-- comment", "/* c */", "line\u2028sep", " lead space"]
for t in texts:
    db.execute("INSERT INTO texts(t, b) VALUES (?, ?)", (t, t.encode()))
bad_utf8 = [b"\xff\xfe", b"\xc3(", b"a\x80b", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"ok\xc0\xaf\n\x00"]
for raw in bad_utf8:
    db.execute("INSERT INTO texts(t, b) VALUES (CAST(? AS TEXT), ?)", (raw, raw))
for i in range(500):
    n = r.randrange(0, 300)
    db.execute("INSERT INTO texts(t, b) VALUES (CAST(? AS TEXT), ?)",
               (bytes(r.getrandbits(8) for _ in range(n)), bytes(r.getrandbits(8) for _ in range(n))))
db.execute("INSERT INTO texts(t, b) VALUES (NULL, zeroblob(0))")
db.execute("INSERT INTO texts(t, b) VALUES (NULL, randomblob(200000))")
ints = [0, 1, -1, 2**31 - 1, -2**31, 2**53 + 1, 2**63 - 1, -2**63, -2**63 + 1]
for v in ints:
    db.execute("INSERT INTO ints(i, n, r, t, x) VALUES (?, ?, ?, ?, ?)", (v, v, v, v, v))
# Affinity at work: what the application stored is what must come back.
for v in ["12", " 12", "12 ", "1e3", "0x10", "1.0", "-0", "9223372036854775808", "abc", "3.0e0"]:
    db.execute("INSERT INTO ints(i, n, r, t, x) VALUES (?, ?, ?, ?, ?)", (v, v, v, v, v))
db.executemany("INSERT INTO ints(i, n, r, t, x) VALUES (?, ?, ?, ?, ?)",
               [(1.5, 2.0, 3, 4.25, b"\x00\x01"), (1e300, -0.0, -0.0, -0.0, -0.0)])
# Rowids the application may rely on, in tables where they are not a column.
db.executemany("INSERT INTO desc_pk(rowid, id, v) VALUES (?, ?, ?)", [(10, 5, "a"), (3, 7, "b"), (7, 1, "c")])
db.executemany("INSERT INTO int_pk(rowid, id, v) VALUES (?, ?, ?)", [(100, 1, "a"), (50, 2, "b")])
db.executemany("INSERT INTO no_pk(rowid, v) VALUES (?, ?)", [(-5, "neg"), (2**63 - 1, "max"), (42, None)])
db.executemany("INSERT INTO shadow(_rowid_, rowid, v) VALUES (?, ?, ?)", [(9, "r9", 1), (4, "r4", 2)])
db.execute('INSERT INTO "we""ird name/% ü" VALUES (?, ?, ?)', ("q", b"\x00", 1))
db.executemany("INSERT INTO wr VALUES (?, ?, ?)", [("a", 0.1, b"x"), ("b", -0.0, None), ("a", 5e-324, b"")])
db.commit()
EOF

cat >"$T/cmp.py" <<'EOF'
# Compares two databases value by value, bit for bit: every table, every
# row with its rowid, each value's type and exact bytes.
import sqlite3, struct, sys
def rows(path):
    db = sqlite3.connect(path)
    db.text_factory = bytes
    out = {}
    for name, wr in db.execute("SELECT name, wr FROM pragma_table_list WHERE schema = 'main' "
                               "AND type = 'table' AND name NOT LIKE 'sqlite_schema'"):
        name = name.decode()
        q = '"' + name.replace('"', '""') + '"'
        sel = "SELECT * FROM %s ORDER BY 1, 2" % q if wr else "SELECT _rowid_, * FROM %s ORDER BY _rowid_" % q
        if name == "shadow":
            sel = "SELECT oid, * FROM shadow ORDER BY oid"
        out[name] = [tuple((type(x).__name__, struct.pack('<d', x) if isinstance(x, float) else x)
                           for x in row) for row in db.execute(sel)]
    for p in ("user_version", "application_id", "page_size", "encoding"):
        out["PRAGMA " + p] = list(db.execute("PRAGMA " + p))
    return out
a, b = rows(sys.argv[1]), rows(sys.argv[2])
bad = 0
for t in sorted(set(a) | set(b)):
    ra, rb = a.get(t), b.get(t)
    if ra is None or rb is None:
        print("table", t, "in only one of the databases"); bad += 1; continue
    if len(ra) != len(rb):
        print("table", t, len(ra), "rows vs", len(rb)); bad += 1; continue
    for x, y in zip(ra, rb):
        if x != y:
            bad += 1
            if bad <= 5: print("table", t, "differs:", x, "vs", y)
print("compared", sum(len(v) for v in a.values()), "rows;", bad, "differences")
sys.exit(1 if bad else 0)
EOF

python3 "$T/gen.py" "$T/values.db"
write_config "$T/dbgit.toml" "$REPO" \
	'[[job]]' 'name = "values"' 'engine = "sqlite"' "path = \"$T/values.db\"" 'format = "both"'

test_case "the comparison sees the REALs that sqlite3 .dump loses" '
	sqlite3 values.db .dump | sqlite3 dotdump.db
	test_must_fail python3 cmp.py values.db dotdump.db
'

test_case "a backup of awkward values verifies" '
	expect_exit 0 dg init
	expect_exit 0 dg backup
	expect_exit 0 dg show values --json
	python3 -c "import json,sys; j=json.load(sys.stdin); assert j[\"verification\"][\"result\"] == \"passed\"; assert len(j[\"tables\"]) == 10, [t[\"name\"] for t in j[\"tables\"]]" <.stdout
'

test_case "dbgit restore from SQL gives every value back bit for bit" '
	expect_exit 0 dg restore values --format sql --to r-sql.db
	python3 cmp.py values.db r-sql.db
	same_db values.db r-sql.db
'

test_case "dbgit restore from the binary copy gives every value back bit for bit" '
	expect_exit 0 dg restore values --format binary --to r-bin.db
	python3 cmp.py values.db r-bin.db
	same_db values.db r-bin.db
'

test_case "the README restore (git archive, cat, sqlite3) gives every value back bit for bit" '
	rm -rf ex
	mkdir ex
	git --git-dir="$REPO" archive backup/values | tar -x -C ex
	(cd ex && find . -name "*.sql" | LC_ALL=C sort | xargs cat) | sqlite3 plain.db
	python3 cmp.py values.db plain.db
	same_db values.db plain.db
'

test_case "views, indexes and triggers with trailing comments are restored" '
	[ "$(sqlite3 r-sql.db "SELECT count(*) FROM v_reals")" = "$(sqlite3 values.db "SELECT count(*) FROM reals")" ]
	[ "$(sqlite3 plain.db "SELECT group_concat(name) FROM (SELECT name FROM sqlite_schema WHERE type IN (\"view\", \"index\", \"trigger\") AND sql IS NOT NULL ORDER BY name)")" = "texts_t,v_reals,wr_ins" ]
'

test_case "every line of the SQL dump is one row or statement" '
	# A row per line is what makes diffs and chunking work: TEXT with
	# newlines must not spill over lines.
	rows=$(cat ex/1-table/texts/1-rows-*.sql | wc -l)
	[ "$rows" = "$(sqlite3 values.db "SELECT count(*) FROM texts")" ]
	[ "$(cat ex/1-table/reals/1-rows-*.sql | wc -l)" = "$(sqlite3 values.db "SELECT count(*) FROM reals")" ]
'

test_case "one ulp of change in one REAL is a different snapshot" '
	python3 -c "
import sqlite3, struct, sys
db = sqlite3.connect(\"values.db\")
(v,) = db.execute(\"SELECT v FROM reals WHERE id = 5000\").fetchone()
u = struct.unpack(\"<q\", struct.pack(\"<d\", v))[0] + 1
db.execute(\"UPDATE reals SET v = ? WHERE id = 5000\", (struct.unpack(\"<d\", struct.pack(\"<q\", u))[0],))
db.commit()"
	expect_exit 0 dg backup
	git --git-dir="$REPO" diff --stat backup/values~1 backup/values -- "1-table/reals" >d.txt
	grep -q "1 file changed, 1 insertion(+), 1 deletion(-)" d.txt
	expect_exit 0 dg restore values --format sql --to r-ulp.db
	python3 cmp.py values.db r-ulp.db
	test_must_fail python3 cmp.py r-sql.db r-ulp.db
'

test_done
