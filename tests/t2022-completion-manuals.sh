#!/bin/bash
# Completion and manuals (issue 11): the bash completion completes commands,
# options, job names from the config and revisions; `man -l` renders
# dbgit(1) and dbgit.toml(5) without a warning; `cmake --install` installs
# the binary, the manuals, the completion and the documented examples;
# `--version` is in `--help` and `dbgit help help` works.
. "$TEST_SRCDIR/lib/test-lib.sh"

SRC=$(cd "$TEST_SRCDIR/.." && pwd)
BUILD=$(cd "$(dirname "$DBGIT")" && pwd)
REPO=$T/backups.git
COMPLETION=$SRC/contrib/dbgit.bash-completion

# complete LINE: what the completion offers for LINE (the cursor at its
# end; a trailing space starts a new word), one per line, sorted, in
# complete.txt. Runs in a clean bash with only the script loaded.
complete_line() {
	bash --norc --noprofile -c '
		. "$1"
		read -r -a COMP_WORDS <<<"$2"
		case $2 in *" ") COMP_WORDS+=("") ;; esac
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE=$2
		COMP_POINT=${#2}
		_dbgit dbgit "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		if ((${#COMPREPLY[@]})); then printf "%s\n" "${COMPREPLY[@]}"; fi
	' complete "$COMPLETION" "$1" | sort >complete.txt
}

make_demo_db "$T/app.db"
make_demo_db "$T/shop.db"
write_config "$T/dbgit.toml" "$REPO" \
	'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"" \
	'[[job]]  # the shop' 'branch = "nightly/shop"' 'name = "shop"' 'engine = "sqlite"' "path = \"$T/shop.db\"" \
	'[[remote]]' 'name = "not-a-job"' "url = \"$T/nas.git\""
git init -q --bare "$T/nas.git"
"$DBGIT" --config "$T/dbgit.toml" init >/dev/null
"$DBGIT" --config "$T/dbgit.toml" backup --no-push app shop >/dev/null

test_case "the completion offers the commands, and the options of a command" '
	complete_line "dbgit "
	for c in init backup list show diff restore verify rotate push status help; do grep -qx "$c" complete.txt; done
	complete_line "dbgit re"
	printf "restore\n" >want.txt
	diff want.txt complete.txt
	complete_line "dbgit --ver"
	printf "%s\n" --verbose --version >want.txt
	diff want.txt complete.txt
	complete_line "dbgit --config dbgit.toml restore app --t"
	printf "%s\n" --table --to >want.txt
	diff want.txt complete.txt
	complete_line "dbgit verify --sa"
	printf "%s\n" --sample >want.txt
	diff want.txt complete.txt
	complete_line "dbgit help ver"
	printf "%s\n" verify >want.txt
	diff want.txt complete.txt
'

test_case "job names come from the config (--config, \$DBGIT_CONFIG or ./dbgit.toml)" '
	complete_line "dbgit --config $T/dbgit.toml backup "
	printf "%s\n" app shop >want.txt
	diff want.txt complete.txt
	complete_line "dbgit -c dbgit.toml restore s"
	printf "%s\n" shop >want.txt
	diff want.txt complete.txt
	DBGIT_CONFIG=$T/dbgit.toml complete_line "dbgit show "
	printf "%s\n" app shop >want.txt
	diff want.txt complete.txt
	mkdir -p elsewhere
	cd elsewhere
	DBGIT_CONFIG=$T/none.toml complete_line "dbgit show "
	[ ! -s complete.txt ]
	cd ..
	complete_line "dbgit list "
	printf "%s\n" app shop >want.txt
	diff want.txt complete.txt
'

test_case "revisions: the short ids of the job's snapshots, latest and HEAD~N" '
	id=$(git --git-dir="$REPO" rev-parse --short backup/app)
	complete_line "dbgit restore app "
	grep -qx "$id" complete.txt
	grep -qx latest complete.txt
	grep -qx "HEAD~1" complete.txt
	complete_line "dbgit show app ${id:0:3}"
	grep -qx "$id" complete.txt
	# A job with its own branch = "...": the revisions of that branch.
	shop=$(git --git-dir="$REPO" rev-parse --short nightly/shop)
	complete_line "dbgit verify shop "
	grep -qx "$shop" complete.txt
	test_must_fail grep -qx "$id" complete.txt
	# After --to comes a file, not a job.
	touch target-file.db
	complete_line "dbgit restore app --to target-f"
	printf "%s\n" target-file.db >want.txt
	diff want.txt complete.txt
'

test_case "man -l renders dbgit(1) and dbgit.toml(5) without a warning" '
	for page in dbgit.1 dbgit.toml.5; do
		MANWIDTH=80 man --warnings -l "$BUILD/man/$page" >"$page.txt" 2>"$page.err"
		[ ! -s "$page.err" ]
		grep -q "dbgit" "$page.txt"
		groff -ww -z -man "$BUILD/man/$page" 2>"$page.groff"
		[ ! -s "$page.groff" ]
		test_must_fail grep -q "@PROJECT_VERSION@" "$BUILD/man/$page"
	done
	grep -Eq "restore +JOB +\[REV\] +--to +TARGET" dbgit.1.txt
	grep -Eq -- "--sample +N" dbgit.1.txt
	grep -q "EXIT STATUS" dbgit.1.txt
	grep -q "\[verify\]" dbgit.toml.5.txt
	grep -q "exclude_tables" dbgit.toml.5.txt
'

test_case "every command of dbgit help has a section in dbgit(1)" '
	expect_exit 0 "$DBGIT" --help
	awk "/^Commands:/ {on = 1; next} on && /^  [a-z]/ {print \$1}" .stdout >commands.txt
	[ "$(wc -l <commands.txt)" -ge 11 ]
	while read -r c; do
		grep -q "^       $c" dbgit.1.txt
	done <commands.txt
'

test_case "--help lists --version; dbgit help help works; help of an unknown command is exit 2" '
	expect_exit 0 "$DBGIT" --help
	grep -q -- "--version" .stdout
	expect_exit 0 "$DBGIT" help help
	grep -q "usage: dbgit help" .stdout
	expect_exit 0 "$DBGIT" help restore
	grep -q -- "--table" .stdout
	expect_exit 2 "$DBGIT" help nothing
	stderr_has "no command '"'"'nothing'"'"'"
'

test_case "cmake --install puts binary, manuals, completion, examples, hooks and units in place" '
	cmake --install "$BUILD" --prefix "$T/inst" >install.log
	[ -x inst/bin/dbgit ]
	[ -s inst/share/man/man1/dbgit.1 ]
	[ -s inst/share/man/man5/dbgit.toml.5 ]
	cmp inst/share/bash-completion/completions/dbgit "$COMPLETION"
	for f in dbgit.toml.example dbgit-backup.service dbgit-backup.timer dbgit.cron dbgit-cronjob.yaml; do
		[ -s "inst/share/doc/dbgit/$f" ]
	done
	for h in pre-backup post-backup on-failure; do
		[ -x "inst/share/doc/dbgit/hooks/$h.sample" ]
	done
	MANPATH=$T/inst/share/man MANWIDTH=80 man dbgit.toml >page.txt 2>page.err
	grep -q "sample" page.txt
	expect_exit 0 inst/bin/dbgit --version
	grep -q "^dbgit " .stdout
'

test_done
