#!/bin/bash
# t7230: the deltas of src/store/delta.c are git's own format, as real git
# reads them. test_delta (the unit test's tool mode) writes the delta of
# two files; a small python pack writer puts one whole blob and the deltas
# (REF_DELTA or OFS_DELTA entries, each against the object before it) into
# a pack; `git index-pack` and libgit2's indexer (what dbgit uses) must
# resolve them, git and libgit2 must give every target back byte for byte,
# `git verify-pack` must show them stored as deltas and `git fsck --full`
# must be clean. The other way round, the
# deltas git's pack-objects writes are applied by delta_apply. Cases: a
# dump of INSERT lines edited night after night, binary pieces, copies at
# the 0x10000 and 24-bit size limits and from past 16 MiB, empty files.
. "$TEST_SRCDIR/lib/test-lib.sh"

TOOL=$(dirname "$DBGIT")/test_delta
REPO=$T/repo.git
LG2=$T/libgit2.git
git_() { git -C "$REPO" "$@"; }

# mkpack.py OUT ref|ofs FILE0 [FILE1 ...]: a pack holding FILE0 as a whole
# blob and each next FILE as the delta FILE.delta against the one before.
cat >"$T/mkpack.py" <<'PY'
import hashlib, struct, sys, zlib

out, kind, files = sys.argv[1], sys.argv[2], sys.argv[3:]

def blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).digest()

def entry_header(type_, size):
    b = [(type_ << 4) | (size & 15)]
    size >>= 4
    while size:
        b[-1] |= 0x80
        b.append(size & 0x7F)
        size >>= 7
    return bytes(b)

def ofs_encoding(dist):
    b = [dist & 0x7F]
    dist >>= 7
    while dist:
        dist -= 1
        b.insert(0, 0x80 | (dist & 0x7F))
        dist >>= 7
    return bytes(b)

pack = bytearray(b"PACK" + struct.pack(">II", 2, len(files)))
prev_data = prev_at = None
for i, name in enumerate(files):
    data = open(name, "rb").read()
    at = len(pack)
    if i == 0:
        pack += entry_header(3, len(data)) + zlib.compress(data, 1)
    else:
        delta = open(name + ".delta", "rb").read()
        if kind == "ref":
            pack += entry_header(7, len(delta)) + blob_id(prev_data)
        else:
            pack += entry_header(6, len(delta)) + ofs_encoding(at - prev_at)
        pack += zlib.compress(delta, 1)
    prev_data, prev_at = data, at
pack += hashlib.sha1(pack).digest()
open(out, "wb").write(pack)
PY

# git_deltas.py PACK: for every delta entry of a pack git wrote (and
# index-pack indexed), writes entry-N.delta and prints "N OBJECT BASE".
cat >"$T/git_deltas.py" <<'PY'
import subprocess, sys, zlib

pack = sys.argv[1]
data = open(pack, "rb").read()
rows = subprocess.run(["git", "verify-pack", "-v", pack[:-5] + ".idx"], check=True,
                      capture_output=True, text=True).stdout.splitlines()
n = 0
for row in rows:
    f = row.split()
    if len(f) != 7 or f[1] != "blob":
        continue
    oid, at, base = f[0], int(f[4]), f[6]
    c = data[at]
    type_ = (c >> 4) & 7
    at += 1
    while c & 0x80:
        c = data[at]
        at += 1
    if type_ == 6:
        while data[at] & 0x80:
            at += 1
        at += 1
    elif type_ == 7:
        at += 20
    else:
        sys.exit("entry of %s is type %d, not a delta" % (oid, type_))
    open("entry-%d.delta" % n, "wb").write(zlib.decompressobj().decompress(data[at:]))
    print(n, oid, base)
    n += 1
PY

# deltas FILE0 FILE1 ...: FILEi.delta against FILE(i-1), each applied back.
deltas() {
	local prev=$1 f
	shift
	for f in "$@"; do
		"$TOOL" create "$prev" "$f" "$f.delta"
		"$TOOL" apply "$prev" "$f.delta" "$f.back"
		cmp "$f" "$f.back"
		prev=$f
	done
}

# git_reads KIND FILE0 FILE1 ...: the pack of FILE0 and the deltas, as git
# and libgit2 (which dbgit reads with) read it: indexed by git in $REPO and
# by libgit2's indexer in $LG2, every file given back by git and by
# libgit2 from either, each stored as a delta, fsck clean (in $REPO the
# blobs in a tree of a commit, so that nothing dangles).
git_reads() {
	local kind=$1 f id i=0 tree_in=
	shift
	rm -rf "$REPO" "$LG2"
	git init -q --bare "$REPO"
	git init -q --bare "$LG2"
	python3 "$T/mkpack.py" "$T/test.pack" "$kind" "$@"
	git_ index-pack --stdin <"$T/test.pack" >"$T/index-pack.out"
	"$TOOL" git-index "$LG2" "$T/test.pack" >"$T/lg2-index.out"
	grep -q "^$# objects, $(($# - 1)) deltas resolved$" "$T/lg2-index.out" ||
		{ cat "$T/lg2-index.out" >&2; return 1; }
	for f in "$@"; do
		id=$(git hash-object "$f")
		git_ cat-file blob "$id" >"$T/got"
		cmp "$f" "$T/got"
		git -C "$LG2" cat-file blob "$id" >"$T/got"
		cmp "$f" "$T/got"
		"$TOOL" git-read "$REPO" "$id" "$T/got"
		cmp "$f" "$T/got"
		"$TOOL" git-read "$LG2" "$id" "$T/got"
		cmp "$f" "$T/got"
		if [ "$i" -gt 0 ]; then
			git_ verify-pack -v "$REPO"/objects/pack/pack-*.idx >"$T/verify.out"
			grep -q "^$id blob .* [1-9][0-9]* [0-9a-f]\{40\}$" "$T/verify.out" ||
				{ echo "$f is not stored as a delta:" >&2; cat "$T/verify.out" >&2; return 1; }
		fi
		tree_in="$tree_in$(printf '100644 blob %s\tf%d' "$id" "$i")
"
		i=$((i + 1))
	done
	tree=$(printf '%s' "$tree_in" | git_ mktree)
	commit=$(git_ commit-tree -m deltas "$tree")
	git_ update-ref refs/heads/main "$commit"
	git_ fsck --full --strict --no-dangling
	git -C "$LG2" fsck --full --strict --no-dangling
}

# Four nights of a dump of 5,000 INSERT lines sorted by id: lines changed,
# inserted and deleted anywhere, rows appended at the end.
python3 - "$T" <<'PY'
import random, sys
t = sys.argv[1]
rnd = random.Random(7)
def line(i):
    name = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(rnd.randrange(10, 80)))
    return 'INSERT INTO "events" VALUES(%d,\'%s\',%d.5,X\'%08X\');\n' % (i, name, rnd.randrange(100000), rnd.getrandbits(32))
rows = {i: line(i) for i in range(1, 5001)}
for night in range(4):
    open("%s/night%d.sql" % (t, night), "w").write("".join(rows[k] for k in sorted(rows)))
    for _ in range(10):
        rows[rnd.choice(sorted(rows))] = line(0)
    for _ in range(3):
        del rows[rnd.choice(sorted(rows))]
    for _ in range(3):
        k = rnd.randrange(1, 5000) + 0.5
        rows[k] = line(int(k))
    for k in range(5001 + night * 20, 5021 + night * 20):
        rows[k] = line(k)
PY

test_case "git and libgit2 index a pack of a dump and three nights of REF_DELTA, and give each night back" '
	[ -x "$TOOL" ]
	deltas night0.sql night1.sql night2.sql night3.sql
	for n in 1 2 3; do
		size=$(stat -c %s night$n.sql.delta)
		whole=$(stat -c %s night$n.sql)
		echo "# night $n: delta $size bytes of $whole" >>"$T/stats"
		[ $((size * 20)) -lt "$whole" ]
	done
	git_reads ref night0.sql night1.sql night2.sql night3.sql
'

test_case "the same nights as OFS_DELTA entries" '
	git_reads ofs night0.sql night1.sql night2.sql night3.sql
'

test_case "binary pieces and a file of 300 bytes, chained deltas" '
	head -c 200000 /dev/urandom >a.bin
	{ head -c 5000 /dev/urandom; tail -c 70000 a.bin; head -c 300 /dev/urandom; head -c 100000 a.bin; } >b.bin
	head -c 300 /dev/urandom >small
	: >empty
	deltas empty small a.bin b.bin
	git_reads ref small a.bin b.bin
	git_reads ofs small a.bin b.bin
'

# Why delta_create stores an empty target whole: index-pack resolves a
# delta to the empty blob, but git cannot read that object afterwards.
test_case "an empty target is stored whole: git cannot read an empty blob stored as a delta" '
	expect_exit 3 "$TOOL" create b.bin empty empty.delta
	expect_exit 3 "$TOOL" create small empty empty.delta
	python3 -c "import sys; sys.stdout.buffer.write(bytes([0xc4, 0xd9, 0x0a, 0]))" >empty.delta
	[ "$(stat -c %s b.bin)" -eq 175300 ]
	rm -rf "$REPO"
	git init -q --bare "$REPO"
	python3 "$T/mkpack.py" "$T/test.pack" ref b.bin empty
	git_ index-pack --stdin <"$T/test.pack"
	test_must_fail git_ cat-file -s e69de29bb2d1d6434b8b29ae775ad8c2e48c5391
	expect_exit 1 "$TOOL" apply b.bin empty.delta out
	stderr_has "empty target"
'

test_case "copies at the size limits (0x10000, 24 bits) and from past 16 MiB" '
	head -c $(((17 << 20) + 3)) /dev/urandom >big
	{ head -c 65536 big; tail -c 16777216 big; tail -c +16777300 big | head -c 65537; } >limits
	"$TOOL" create big limits limits.delta
	[ "$(stat -c %s limits.delta)" -lt 64 ]
	git_reads ref big limits
	git_reads ofs big limits
'

test_case "delta_create gives up past the limit the caller sets" '
	head -c 100000 /dev/urandom >r1
	head -c 100000 /dev/urandom >r2
	expect_exit 3 "$TOOL" create r1 r2 r.delta 50000
	expect_exit 0 "$TOOL" create r1 r2 r.delta 200000
'

test_case "delta_apply applies the deltas git pack-objects writes" '
	rm -rf "$REPO"
	git init -q --bare "$REPO"
	for f in night0.sql night1.sql night2.sql night3.sql b.bin a.bin; do
		git_ hash-object -w "$T/$f" >>ids
	done
	git_ pack-objects --window=10 --depth=3 -q "$T/gitpack" <ids >packname
	pack=$T/gitpack-$(cat packname).pack
	python3 "$T/git_deltas.py" "$pack" >entries
	cat entries
	[ "$(wc -l <entries)" -ge 3 ]
	while read -r n oid base; do
		git_ cat-file blob "$base" >base
		git_ cat-file blob "$oid" >want
		"$TOOL" apply base "entry-$n.delta" got
		cmp want got
	done <entries
'

test_case "a corrupt delta is refused with one line, never a crash" '
	printf "\\x05\\x02\\x00\\x00" >bad.delta
	expect_exit 1 "$TOOL" apply small bad.delta out
	stderr_has "delta: made for a source of 5 bytes"
	head -c 300 night1.sql.delta >cut.delta
	expect_exit 1 "$TOOL" apply night0.sql cut.delta out
	stderr_has "delta: "
	[ "$(wc -l <.stderr)" -eq 1 ]
'

if [ -f "$T/stats" ]; then
	cat "$T/stats"
fi
test_done
