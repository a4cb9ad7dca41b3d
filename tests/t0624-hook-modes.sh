#!/bin/bash
# dbgit backup often runs as root from cron: a hook another user can
# rewrite is their code running as root. A hook writable by group or
# others, owned by another user, or in a folder others may write to (not
# sticky) is refused with one line and counts as failed: a pre-backup hook
# skips the job (exit 1), nothing committed.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
tip() { git --git-dir="$REPO" rev-parse -q --verify "refs/heads/backup/$1" || echo none; }

make_demo_db "$T/app.db"
mkdir -p "$T/hooks"
chmod 755 "$T/hooks"
write_config "$T/dbgit.toml" "$REPO" "[hooks]" "dir = \"$T/hooks\"" '' \
	'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\""
dg init >/dev/null
printf '#!/bin/sh\necho ran >>"%s/ran"\n' "$T" >"$T/hooks/pre-backup"
chmod 755 "$T/hooks/pre-backup"

test_case "a hook writable by others is refused, not run; the job is skipped" '
	chmod 777 hooks/pre-backup
	expect_exit 1 dg backup
	stderr_has "hook $T/hooks/pre-backup is writable by group or others: not run"
	test_must_fail test -e ran
	[ "$(tip app)" = none ]
'

test_case "a group-writable hook is refused the same way" '
	chmod 775 hooks/pre-backup
	expect_exit 1 dg backup
	stderr_has "hook $T/hooks/pre-backup is writable by group or others: not run"
	test_must_fail test -e ran
'

test_case "a hook in a folder others may write to is refused" '
	chmod 755 hooks/pre-backup
	chmod 777 hooks
	expect_exit 1 dg backup
	stderr_has "hook $T/hooks/pre-backup is in a folder writable by group or others: not run"
	test_must_fail test -e ran
	chmod 755 hooks
'

test_case "a hook owned by another user is refused" '
	chown nobody hooks/pre-backup
	expect_exit 1 dg backup
	stderr_has "hook $T/hooks/pre-backup is owned by another user: not run"
	test_must_fail test -e ran
	chown "$(id -u)" hooks/pre-backup
'

test_case "mode 0755, owned by the user running dbgit: it runs" '
	expect_exit 0 dg backup
	test -e ran
	[ "$(tip app)" != none ]
'

test_done
