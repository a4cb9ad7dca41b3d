#!/usr/bin/env bash
# bench.sh: dbgit side by side with its peers on the same data, as ratios.
#
# A SQLite database of ROWS rows is backed up NIGHTS times; between nights
# CHANGE rows are updated and as many inserted (a small app's day). Each
# tool backs up the same database state each night:
#   manual  sqlite3 .dump > dump.sql; git add; git commit  (the usual script)
#   dbgit   dbgit backup (dump, chunk, verify, commit; verify = "full")
#   restic  restic backup of a .backup copy (if installed: apt-get install restic)
#   borg    borg create of a .backup copy (if installed: apt-get install borgbackup)
# It prints total seconds and the repository size after the last night, and
# each as a ratio to dbgit's. Not a test: numbers depend on the machine.
#   ROWS=200000 NIGHTS=5 CHANGE=500 bash bench/bench.sh [path/to/dbgit]
set -euo pipefail
ROWS=${ROWS:-200000}
NIGHTS=${NIGHTS:-5}
CHANGE=${CHANGE:-500}
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dbgit=${1:-}
if [ -z "$dbgit" ]; then
	SANITIZE=OFF BUILD_DIR="$top/build-release" bash "$top/scripts/setup.sh"
	dbgit="$top/build-release/dbgit"
fi
w=$(mktemp -d /tmp/dbgit-bench.XXXXXX)
trap 'rm -rf "$w"' EXIT
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid

python3 - "$w/app.db" "$ROWS" <<'PY'
import random, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT, email TEXT UNIQUE, balance REAL, created TEXT)")
db.execute("CREATE TABLE events(id INTEGER PRIMARY KEY, user_id INTEGER, kind TEXT, payload BLOB, at REAL)")
random.seed(7)
n = int(sys.argv[2])
db.executemany("INSERT INTO users VALUES(?,?,?,?,?)",
    ((i, "user %d" % i, "u%d@example.org" % i, round(random.random() * 1e4, 2), "2026-01-01") for i in range(n // 4)))
db.executemany("INSERT INTO events VALUES(?,?,?,?,?)",
    ((i, random.randrange(n // 4), random.choice(["login", "order", "refund"]), random.randbytes(24), random.random() * 1e9) for i in range(n)))
db.commit()
PY

mutate() {
	python3 - "$w/app.db" "$CHANGE" "$1" <<'PY'
import random, sqlite3, sys
db = sqlite3.connect(sys.argv[1]); k = int(sys.argv[2]); random.seed(int(sys.argv[3]))
top = db.execute("SELECT max(id) FROM events").fetchone()[0]
for _ in range(k):
    db.execute("UPDATE events SET kind = 'changed', at = ? WHERE id = ?", (random.random(), random.randrange(top)))
db.executemany("INSERT INTO events(user_id, kind, payload, at) VALUES(?,?,?,?)",
    ((random.randrange(1000), "new", random.randbytes(24), random.random()) for _ in range(k)))
db.commit()
PY
}

cat >"$w/dbgit.toml" <<EOT
[repository]
path = "$w/dbgit.git"
[[job]]
name = "app"
engine = "sqlite"
path = "$w/app.db"
EOT
"$dbgit" --config "$w/dbgit.toml" init >/dev/null
git init -q "$w/manual"
have_restic=0 have_borg=0
if command -v restic >/dev/null; then
	have_restic=1
	export RESTIC_PASSWORD=bench
	restic init -q -r "$w/restic" >/dev/null
fi
if command -v borg >/dev/null; then
	have_borg=1
	export BORG_PASSPHRASE=bench BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
	borg init -e none "$w/borg"
fi

declare -A secs=([manual]=0 [dbgit]=0 [restic]=0 [borg]=0)
timed() { # timed NAME CMD...
	local name=$1 t0 t1
	shift
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>&1
	t1=$(date +%s.%N)
	secs[$name]=$(echo "${secs[$name]} + $t1 - $t0" | bc -l)
}
manual() {
	sqlite3 "$w/app.db" .dump >"$w/manual/dump.sql"
	git -C "$w/manual" add dump.sql
	git -C "$w/manual" commit -qm "night $1"
}
for night in $(seq 1 "$NIGHTS"); do
	[ "$night" -gt 1 ] && mutate "$night"
	timed manual manual "$night"
	timed dbgit "$dbgit" --config "$w/dbgit.toml" backup --no-push --no-rotate
	if [ $((have_restic + have_borg)) -gt 0 ]; then
		rm -f "$w/copy.db"
		sqlite3 "$w/app.db" ".backup '$w/copy.db'"
		[ $have_restic = 1 ] && timed restic restic backup -q -r "$w/restic" "$w/copy.db"
		[ $have_borg = 1 ] && timed borg borg create "$w/borg::n$night" "$w/copy.db"
	fi
done
git -C "$w/manual" gc -q --aggressive
size() { du -sk "$1" | cut -f1; }
printf 'rows=%s nights=%s change=%s db=%s KiB\n' "$ROWS" "$NIGHTS" "$CHANGE" "$(size "$w/app.db")"
printf '%-8s %10s %10s %12s %10s\n' tool seconds "x dbgit" "repo KiB" "x dbgit"
d_s=${secs[dbgit]} d_k=$(size "$w/dbgit.git")
row() {
	printf '%-8s %10.2f %10.2f %12d %10.2f\n' "$1" "$2" "$(echo "$2 / $d_s" | bc -l)" "$3" "$(echo "$3 / $d_k" | bc -l)"
}
row dbgit "$d_s" "$d_k"
row manual "${secs[manual]}" "$(size "$w/manual/.git")"
[ $have_restic = 1 ] && row restic "${secs[restic]}" "$(size "$w/restic")"
[ $have_borg = 1 ] && row borg "${secs[borg]}" "$(size "$w/borg")"
echo "(manual's repository after 'git gc --aggressive'; dbgit's as it stands, loose objects and all)"
