#!/bin/bash
# A short fuzz run in CI: builds every libFuzzer target tests/fuzz/fuzz_*.c
# with clang (DBGIT_FUZZ=ON, ASan+UBSan, into fuzz-build/ beside the binary
# under test, so a rerun only rebuilds what changed) and runs each for
# FUZZ_TIME seconds (default 20) on a copy of its seed corpus
# tests/fuzz/corpus/<name>/. Any crash, sanitizer report, leak, timeout or
# broken promise fails the case, which prints the input (base64) and keeps
# it in fuzz-build/artifacts/. Without clang and libFuzzer (packages clang
# and libclang-rt-14-dev, installed by scripts/setup.sh) the test fails: it
# does not skip.
. "$TEST_SRCDIR/lib/test-lib.sh"

FUZZ_TIME=${FUZZ_TIME:-20}
TOP=$(cd "$TEST_SRCDIR/.." && pwd)
FB=$(cd "$(dirname "$DBGIT")" && pwd)/fuzz-build
ARTIFACTS=$FB/artifacts
export LSAN_OPTIONS="suppressions=$TEST_SRCDIR/fuzz/lsan.supp:print_suppressions=0"

# What the fuzzers found, through the real binary.
REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
# A lone high surrogate before "B", U+FFFF, a lone surrogate at the end, a
# pair: SQLite's UTF-16 -> UTF-8 -> UTF-16 changes all but the pair.
make_u16_db() {
	sqlite3 "$1" <<'SQL'
PRAGMA encoding = 'UTF-16le';
CREATE TABLE t(id INTEGER PRIMARY KEY, x);
INSERT INTO t(x) VALUES (CAST(X'410000D84200' AS TEXT)), (CAST(X'FFFF' AS TEXT)),
	(CAST(X'3DD8' AS TEXT)), (CAST(X'3DD83DDE' AS TEXT)), ('plain');
SQL
}

test_case "a UTF-16 database with text UTF-8 cannot carry (lone surrogates, U+FFFF) comes back bit for bit" '
	make_u16_db u16.db
	write_config "$T/dbgit.toml" "$REPO" "[[job]]" "name = \"u16\"" "engine = \"sqlite\"" "path = \"$T/u16.db\""
	expect_exit 0 dg init
	expect_exit 0 dg backup --no-push
	expect_exit 0 dg restore u16 --to "$T/back.db"
	sqlite3 u16.db "SELECT id, typeof(x), hex(x) FROM t" >want
	sqlite3 back.db "SELECT id, typeof(x), hex(x) FROM t" >got
	cmp want got
	test "$(sqlite3 back.db "PRAGMA encoding")" = UTF-16le
	git --git-dir="$REPO" fsck --full
'

test_case "restore --at with a time out of range or a day that does not exist exits 2 naming it" '
	expect_exit 2 dg restore u16 --at 99999999999999999999 --to "$T/x.db"
	stderr_has "99999999999999999999"
	expect_exit 2 dg restore u16 --at 55555555555555555 --to "$T/x.db"
	stderr_has "out of range"
	expect_exit 2 dg restore u16 --at 2026-02-31 --to "$T/x.db"
	stderr_has "2026-02-31"
	test ! -e "$T/x.db"
'

test_case "a config number too big for its key exits 2 naming the file and the key" '
	write_config "$T/big.toml" "$REPO" "[keep]" "last = 700000000000000000"
	expect_exit 2 "$DBGIT" --config "$T/big.toml" list
	stderr_has "big.toml"
	stderr_has "last"
	write_config "$T/nan.toml" "$REPO" "[keep]" "daily = nan"
	expect_exit 2 "$DBGIT" --config "$T/nan.toml" list
	stderr_has "daily"
	write_config "$T/size.toml" "$REPO" "max_blob_size = 1e300"
	expect_exit 2 "$DBGIT" --config "$T/size.toml" list
	stderr_has "max_blob_size"
'

targets=()
for src in "$TEST_SRCDIR"/fuzz/fuzz_*.c; do
	[ -e "$src" ] || continue
	name=$(basename "$src" .c)
	targets+=("${name#fuzz_}")
done

test_case "there are fuzz targets, each with a seed corpus" '
	[ ${#targets[@]} -ge 4 ]
	for t in "${targets[@]}"; do
		ls "$TEST_SRCDIR/fuzz/corpus/$t" | grep -q .
	done
'

test_case "clang and libFuzzer are installed (scripts/setup.sh)" '
	printf "#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n" >probe.c
	clang -fsanitize=fuzzer,address,undefined probe.c -o probe ||
		{ echo "no libFuzzer: apt-get install clang libclang-rt-14-dev (scripts/setup.sh)" >&2; exit 1; }
	./probe -runs=1
	command -v clang++
'

test_case "the fuzz targets build with clang" '
	cmake -S "$TOP" -B "$FB" -DDBGIT_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo >cmake.log 2>&1 || { cat cmake.log; exit 1; }
	cmake --build "$FB" --target fuzz -j2 >build.log 2>&1 || { tail -50 build.log; exit 1; }
	for t in "${targets[@]}"; do
		test -x "$FB/fuzz_$t"
	done
'

# run_fuzz NAME: FUZZ_TIME seconds on a copy of the corpus (the run adds
# what it finds there, not to the checkout).
run_fuzz() {
	local t=$1 dict=() rc=0
	mkdir -p "corpus/$t" "$ARTIFACTS"
	# Every target has a seed corpus: a missing one is a mistake.
	cp "$TEST_SRCDIR/fuzz/corpus/$t"/* "corpus/$t/"
	if [ -f "$TEST_SRCDIR/fuzz/fuzz_$t.dict" ]; then
		dict=("-dict=$TEST_SRCDIR/fuzz/fuzz_$t.dict")
	fi
	# TMPDIR: a target that dies leaves its scratch files in $T, not /tmp.
	TMPDIR="$T" "$FB/fuzz_$t" -max_total_time="$FUZZ_TIME" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$ARTIFACTS/$t-" "${dict[@]}" "corpus/$t" >"fuzz-$t.log" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ] || ! grep -q "^Done [0-9]* runs" "fuzz-$t.log"; then
		echo "fuzz_$t failed (exit $rc):" >&2
		grep -v "^#[0-9]*	\(NEW\|REDUCE\|pulse\)" "fuzz-$t.log" | tail -60 >&2
		echo "inputs kept in $ARTIFACTS; rerun one with $FB/fuzz_$t FILE" >&2
		return 1
	fi
	echo "fuzz_$t: $(sed -n "s/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 runs in \2 s/p" "fuzz-$t.log")," \
		"corpus $(ls "$TEST_SRCDIR/fuzz/corpus/$t" | wc -l) -> $(ls "corpus/$t" | wc -l) inputs" >>"$T/stats"
}

for t in "${targets[@]}"; do
	test_case "fuzz_$t runs ${FUZZ_TIME}s on its corpus without a crash" "run_fuzz $t"
done

if [ -f "$T/stats" ]; then
	sed 's/^/# /' "$T/stats"
fi
test_done
