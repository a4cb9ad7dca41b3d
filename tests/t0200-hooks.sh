#!/bin/bash
# t0200: hooks, as an operator wires them to monitoring: pre-backup can
# skip a job, post-backup learns the new commit, on-failure gets the
# one-line reason (here: a verification failure) to post somewhere.
. "$TEST_SRCDIR/lib/test-lib.sh"

REPO=$T/backups.git
dg() { "$DBGIT" --config "$T/dbgit.toml" "$@"; }
tip() { git --git-dir="$REPO" rev-parse -q --verify "refs/heads/backup/$1" || echo none; }

make_demo_db "$T/app.db"
mkdir -p "$T/hooks"
write_config "$T/dbgit.toml" "$REPO" "[hooks]" "dir = \"$T/hooks\"" '' \
	'[[job]]' 'name = "app"' 'engine = "sqlite"' "path = \"$T/app.db\"" '' \
	'[[job]]' 'name = "other"' 'engine = "sqlite"' "path = \"$T/app.db\""
dg init >/dev/null

# Each hook appends what it was told to $T/calls.
for h in pre-backup post-backup on-failure; do
	cat >"$T/hooks/$h" <<EOT
#!/bin/sh
printf '%s job=%s status=%s commit=%s message=%s\n' $h "\$DBGIT_JOB" "\$DBGIT_STATUS" "\$DBGIT_COMMIT" "\$DBGIT_MESSAGE" >>"$T/calls"
[ ! -e "$T/fail-$h-\$DBGIT_JOB" ]
EOT
	chmod +x "$T/hooks/$h"
done

test_case "post-backup runs after the commit with its id; on-failure does not run" '
	rm -f calls
	dg backup app
	grep -q "^pre-backup job=app status=starting" calls
	grep -q "^post-backup job=app status=ok commit=$(tip app) " calls
	test_must_fail grep -q "^on-failure" calls
'

test_case "a failing pre-backup skips that job only: exit 1, on-failure told why" '
	rm -f calls
	before=$(tip app)
	touch fail-pre-backup-app
	expect_exit 1 dg backup
	rm -f fail-pre-backup-app
	stderr_has "job '\''app'\'': skipped: hook $T/hooks/pre-backup failed (exit 1)"
	[ "$(tip app)" = "$before" ]
	[ "$(tip other)" != none ]
	grep -q "^on-failure job=app status=failed commit= message=job '\''app'\'': skipped" calls
	grep -q "^post-backup job=other status=ok" calls
'

test_case "a verification failure reaches on-failure as one line naming the table" '
	rm -f calls
	before=$(tip app)
	DBGIT_TEST_CORRUPT=drop-line:1-table/orders/1-rows expect_exit 1 dg backup app
	[ "$(tip app)" = "$before" ]
	line=$(grep "^on-failure job=app" calls)
	case "$line" in
	*"verification failed, nothing committed: table orders: 4 rows in the source, 3 in the snapshot"*) ;;
	*) echo "on-failure got: $line"; exit 1 ;;
	esac
	[ "$(grep -c "^on-failure" calls)" = 1 ]
'

test_case "a failing post-backup is a warning; the snapshot stays committed" '
	rm -f calls
	touch fail-post-backup-other
	dg backup other 2>err
	rm -f fail-post-backup-other
	grep -q "warning: hook $T/hooks/post-backup failed" err
	grep -q "^post-backup job=other status=ok commit=$(tip other)" calls
'

test_case "a hook that is not executable is not run" '
	rm -f calls
	chmod -x hooks/pre-backup
	dg backup app
	chmod +x hooks/pre-backup
	test_must_fail grep -q "^pre-backup" calls
	grep -q "^post-backup" calls
'

test_done
