#!/bin/bash
# t0801: no test check that cannot fail. Under set -e, bash ignores a failing
# command in an && / || list but the last, and any `! cmd`, so such a
# check passes whatever dbgit does. tests/lib/lint-tests.py finds them; this
# test runs it on every test script, and first shows on a sample that it
# flags exactly the bad forms and none of the legitimate ones.
. "$TEST_SRCDIR/lib/test-lib.sh"

LINT=$TEST_SRCDIR/lib/lint-tests.py

# The sample (tests/lib/lint-sample.txt, not a .sh so that it is no test):
# line numbers matter, the case below expects exactly lines 2-6 and 8.
cp "$TEST_SRCDIR/lib/lint-sample.txt" "$T/sample.sh"

test_case "the lint flags && lists, bare !, and || true; not the legitimate forms" '
	expect_exit 1 python3 "$LINT" sample.sh
	cut -d: -f2,3 .stdout >flagged
	printf "%s\n" "2: and" "3: not" "4: true" "5: and" "6: and" "8: not" >want
	diff want flagged
'

test_case "the lint finds the pattern in a broken copy of a real test" '
	sed "s/^\t\[ \"\$minus\" -eq 8 \]$/\t[ \"\$minus\" -eq 8 ] \&\& true/" "$TEST_SRCDIR/t1100-diff.sh" >t1100-copy.sh
	test_must_fail cmp -s "$TEST_SRCDIR/t1100-diff.sh" t1100-copy.sh
	expect_exit 1 python3 "$LINT" t1100-copy.sh
	grep -q "t1100-copy.sh:[0-9]*: and: \[ \"\$minus\" -eq 8 \] .. true" .stdout
'

test_case "no test script holds a check that cannot fail" '
	files=()
	for f in "$TEST_SRCDIR"/t[0-9][0-9][0-9][0-9]-*.sh "$TEST_SRCDIR"/lib/*.sh; do
		files+=("$f")
	done
	[ "${#files[@]}" -gt 15 ]
	expect_exit 0 python3 "$LINT" "${files[@]}"
'

test_done
