#!/usr/bin/env bash
# bench.sh: dbgit side by side with the tools people use instead, on the same
# database states, in one run, as ratios to dbgit (issue 10).
#
#   bash bench/bench.sh [options] [path/to/dbgit]
#     --rows N          rows in the app database (default 1000000)
#     --size 1G         a database of about this size instead (K, M, G); 1G
#                       also runs the end-to-end push and restore over SSH
#     --nights N        nightly states (default 10)
#     --churn MODE      uniform (default): changes anywhere; skewed: 90% of
#                       them among the newest 5% of rows, as real apps do
#     --pct P           percent of rows changed a night (default 1)
#     --json            print the figures as JSON instead of markdown
#     --no-peers        dbgit alone (no restic, no borg)
#     --no-encrypted    no encrypted dbgit run (it roughly doubles the time
#                       of a run; at 1 GB it works since commit 0ad62c9)
#     --no-install      never run apt-get: what is missing is skipped
#     --ssh / --no-ssh  the push to a loopback sshd and the restore from a
#                       clone of it (default: on with --size, off otherwise)
#     --keep            keep the work directory (printed at the end)
#     --save FILE       also save the raw figures there ("key value" lines;
#                       python3 bench/report.py FILE 0 prints the table again)
#
# The database (bench/appdb.py): users, products, orders, order_items,
# events; JSON payloads, small BLOBs, foreign keys, UNIQUE and secondary
# indexes. Each night a churn of P% of the rows (a third updated, a third
# inserted, a third deleted) is applied, then every tool backs up that same
# state, one after the other:
#   dbgit   dbgit backup --no-push --no-rotate (release build; verify = "full")
#   dbgit-encrypted  the same with [repository] key_file (when the binary has
#           `dbgit keygen`)
#   script  the hand-made script: sqlite3 .dump > dump.sql; restore-test
#           (sqlite3 test.db < dump.sql; PRAGMA integrity_check and
#           foreign_key_check); git add; git commit. `git gc --aggressive`
#           once at the end, its time reported on its own line
#   restic  sqlite3 .backup copy; restic backup of the copy
#   borg    sqlite3 .backup copy; borg create of the copy (lz4, unencrypted)
# Per tool: first and median nightly time, peak RSS (/usr/bin/time %M),
# repository size, restore time. Then dbgit diff / diff --stat against
# sqldiff of the same two nights, a night that rotates (keep last 7), the
# push of the last night to a local bare remote, the peak RSS of a backup of
# one 32 MiB BLOB, and the issue's targets as ratios.
#
# Stands alone on Debian 12 as root: installs what is missing with apt-get
# (a peer that cannot be installed is skipped with a line saying so) and
# builds dbgit (release) in build-release/ unless a binary is given.
# Not a test: the numbers depend on the machine; compare ratios.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROWS=1000000 SIZE="" NIGHTS=10 CHURN=uniform PCT=1 JSON=0 PEERS=1 ENC=1 SSH="" KEEP=0 SAVE="" INSTALL=1 dbgit=""
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--rows) ROWS=$2; shift 2 ;;
	--size) SIZE=$2; shift 2 ;;
	--nights) NIGHTS=$2; shift 2 ;;
	--churn) CHURN=$2; shift 2 ;;
	--pct) PCT=$2; shift 2 ;;
	--json) JSON=1; shift ;;
	--no-peers) PEERS=0; shift ;;
	--no-encrypted) ENC=0; shift ;;
	--no-install) INSTALL=0; shift ;;
	--ssh) SSH=1; shift ;;
	--no-ssh) SSH=0; shift ;;
	--keep) KEEP=1; shift ;;
	--save) SAVE=$2; shift 2 ;;
	-h | --help) usage ;;
	-*) echo "bench: unknown option $1" >&2; usage ;;
	*) dbgit=$1; shift ;;
	esac
done
case $CHURN in uniform | skewed) ;; *) echo "bench: --churn is uniform or skewed, not '$CHURN'" >&2; exit 2 ;; esac
case $NIGHTS in '' | *[!0-9]* | 0 | 1) echo "bench: --nights needs a number >= 2" >&2; exit 2 ;; esac
if [ -n "$SIZE" ]; then
	# 96 bytes of database file a row (measured on appdb.py at 1,000,000 rows)
	bytes=$(numfmt --from=iec "${SIZE^^}" 2>/dev/null) || { echo "bench: --size takes 100M, 1G, ..., not '$SIZE'" >&2; exit 2; }
	ROWS=$((bytes / 96))
	[ -n "$SSH" ] || SSH=1
fi
[ -n "$SSH" ] || SSH=0
case $ROWS in '' | *[!0-9]*) echo "bench: --rows needs a number" >&2; exit 2 ;; esac

say() { echo "bench: $*" >&2; }

# --- what the run needs -------------------------------------------------
# pkg_ok PACKAGE...: installed, or installed now with apt-get (as root).
pkg_ok() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ $INSTALL = 0 ] || [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
		say "missing ${missing[*]} (--no-install, not root, or no apt-get: not installed)"
		return 1
	fi
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null 2>&1 || true
	apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
		say "apt-get install ${missing[*]} failed"
		return 1
	}
}
pkg_ok sqlite3 sqlite3-tools git time python3 coreutils || { say "cannot run without sqlite3, sqldiff, git, time, python3"; exit 1; }
if [ -z "$dbgit" ]; then
	pkg_ok build-essential cmake pkg-config libgit2-dev libssh2-1-dev libsqlite3-dev zlib1g-dev libdeflate-dev \
		libcjson-dev libtomlplusplus-dev libssl-dev libbson-dev || { say "cannot build dbgit"; exit 1; }
	say "building dbgit (release) in $top/build-release"
	cmake -S "$top" -B "$top/build-release" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DDBGIT_SANITIZE=OFF -DDBGIT_TEST_HOOKS=OFF >/dev/null
	cmake --build "$top/build-release" -j"$(nproc)" --target dbgit >/dev/null
	dbgit=$top/build-release/dbgit
fi
dbgit=$(cd "$(dirname "$dbgit")" && pwd)/$(basename "$dbgit")
[ -x "$dbgit" ] || { say "no dbgit binary at $dbgit"; exit 1; }
have_restic=0 have_borg=0 have_enc=0
if [ $PEERS = 1 ]; then
	if pkg_ok restic; then have_restic=1; else say "restic skipped: the package 'restic' is not installed and could not be"; fi
	if pkg_ok borgbackup; then have_borg=1; else say "borg skipped: the package 'borgbackup' is not installed and could not be"; fi
fi
if [ $ENC = 0 ]; then
	say "dbgit-encrypted skipped (--no-encrypted)"
elif "$dbgit" help keygen >/dev/null 2>&1; then
	have_enc=1
else
	say "dbgit-encrypted skipped: this dbgit has no 'keygen' (no encryption at rest)"
fi
if [ $SSH = 1 ]; then
	if [ "$(id -u)" != 0 ] || ! pkg_ok openssh-server openssh-client; then
		say "push over SSH skipped: needs root and openssh-server"
		SSH=0
	fi
fi

w=$(mktemp -d "${TMPDIR:-/tmp}/dbgit-bench.XXXXXX")
SSHD_PID=""
cleanup() {
	[ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null
	if [ $KEEP = 1 ]; then say "work directory kept: $w"; else rm -rf "$w"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid
export GIT_CONFIG_NOSYSTEM=1 HOME=$w/home
mkdir -p "$HOME"
R=$w/results # "key value" lines, turned into the table at the end
: >"$R"
put() { echo "$1 $2" >>"$R"; }

# measure KEY CMD...: runs CMD, records KEY.s (wall seconds) and KEY.rss
# (peak RSS in KiB of the largest process it ran); a failure ends the run.
measure() {
	local key=$1 s m
	shift
	if ! /usr/bin/time -f '%e %M' -o "$w/time.out" "$@" >"$w/cmd.out" 2>"$w/cmd.err"; then
		say "$key failed: $*"
		tail -5 "$w/cmd.err" >&2
		exit 1
	fi
	read -r s m <"$w/time.out"
	put "$key.s" "$s"
	put "$key.rss" "$m"
}
size_of() { du -sb "$1" | cut -f1; }

# --- the database -------------------------------------------------------
say "work directory $w; creating the app database ($ROWS rows)"
python3 "$top/bench/appdb.py" create "$w/app.db" "$ROWS"
put rows "$(python3 "$top/bench/appdb.py" rows "$w/app.db")"
put db_bytes "$(size_of "$w/app.db")"
put dump_bytes "$(sqlite3 "$w/app.db" .dump | wc -c)"
put nights "$NIGHTS"
put churn "$CHURN"
put pct "$PCT"
put machine "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2 / 1048576}' /proc/meminfo), $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
put load_start "$(cut -d' ' -f1-3 /proc/loadavg)"
put dbgit_version "$("$dbgit" --version 2>/dev/null | head -1 | tr ' ' '_')"

# --- the tools ------------------------------------------------------------
dbgit_config() { # dbgit_config FILE REPO [repository lines...]
	local file=$1 repo=$2
	shift 2
	{
		echo "[repository]"
		echo "path = \"$repo\""
		printf '%s\n' "$@"
		echo "[keep]"
		echo "last = 7"
		echo "[[job]]"
		echo "name = \"app\""
		echo "engine = \"sqlite\""
		echo "path = \"$w/app.db\""
	} >"$file"
}
dbgit_config "$w/dbgit.toml" "$w/dbgit.git"
"$dbgit" --config "$w/dbgit.toml" init >/dev/null
if [ $have_enc = 1 ]; then
	"$dbgit" keygen "$w/backup.key" >/dev/null
	dbgit_config "$w/enc.toml" "$w/enc.git" "key_file = \"$w/backup.key\""
	"$dbgit" --config "$w/enc.toml" init >/dev/null
fi
git init -q "$w/script"
script_night() { # the hand-made script, one step at a time
	measure "script.dump.n$1" sqlite3 "$w/app.db" ".output $w/script/dump.sql" .dump
	rm -f "$w/test.db"
	measure "script.test.n$1" sh -c "sqlite3 -bail '$w/test.db' <'$w/script/dump.sql' &&
		[ \"\$(sqlite3 '$w/test.db' 'PRAGMA integrity_check; PRAGMA foreign_key_check')\" = ok ]"
	rm -f "$w/test.db"
	measure "script.git.n$1" sh -c "git -C '$w/script' add dump.sql && git -C '$w/script' commit -qm 'night $1'"
}
if [ $have_restic = 1 ]; then
	umask 077
	echo "bench-$$-$RANDOM" >"$w/restic.pass"
	umask 022
	export RESTIC_PASSWORD_FILE=$w/restic.pass RESTIC_CACHE_DIR=$w/restic-cache
	restic init -q -r "$w/restic" >/dev/null
fi
if [ $have_borg = 1 ]; then
	export BORG_BASE_DIR=$w/borg-home BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
	borg init -e none "$w/borg" >/dev/null 2>&1
fi
# A local bare remote: the last night's push is measured there.
git init -q --bare "$w/remote.git"
git -C "$w/remote.git" config receive.unpackLimit 1
cat >>"$w/dbgit.toml" <<EOT
[[remote]]
name = "local"
url = "$w/remote.git"
EOT

# --- a loopback sshd: the nightly push over SSH, and the end to end run ----
if [ $SSH = 1 ]; then
	say "starting a loopback sshd"
	d=$w/sshd
	mkdir -p "$d" /run/sshd
	chmod 700 "$d"
	ssh-keygen -q -t ed25519 -N '' -f "$d/host_ed25519"
	ssh-keygen -q -t ed25519 -N '' -f "$d/client_key"
	cp "$d/client_key.pub" "$d/authorized_keys"
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	cat >"$d/sshd_config" <<EOT
ListenAddress 127.0.0.1
Port $port
HostKey $d/host_ed25519
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
EOT
	/usr/sbin/sshd -D -e -f "$d/sshd_config" >>"$d/sshd.log" 2>&1 </dev/null &
	SSHD_PID=$!
	for _ in $(seq 1 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		sleep 0.1
	done
	ssh-keyscan -p "$port" -t ed25519 127.0.0.1 2>/dev/null >"$d/known_hosts"
	# ssh-nightly.git gets the night before the last, then the last night
	# (the nightly push, as a host like GitHub sees it); ssh-remote.git
	# gets everything at once at the end (the end to end run)
	for r in nightly remote; do
		git init -q --bare "$w/ssh-$r.git"
		git -C "$w/ssh-$r.git" config receive.unpackLimit 1
		sed '/^\[\[remote\]\]/,$d' "$w/dbgit.toml" >"$w/ssh-$r.toml"
		cat >>"$w/ssh-$r.toml" <<EOT
[[remote]]
name = "loopback"
url = "ssh://root@127.0.0.1:$port$w/ssh-$r.git"
ssh_key = "$d/client_key"
known_hosts = "$d/known_hosts"
EOT
	done
fi

# --- the nights -----------------------------------------------------------
for night in $(seq 1 "$NIGHTS"); do
	if [ "$night" -gt 1 ]; then
		python3 "$top/bench/appdb.py" churn "$w/app.db" "$night" "$CHURN" "$PCT"
	fi
	say "night $night of $NIGHTS"
	measure "dbgit.n$night" "$dbgit" --config "$w/dbgit.toml" backup --no-push --no-rotate
	[ $have_enc = 1 ] && measure "enc.n$night" "$dbgit" --config "$w/enc.toml" backup --no-push --no-rotate
	script_night "$night"
	[ $have_restic = 1 ] && measure "restic.n$night" sh -c "rm -f '$w/restic.db' &&
		sqlite3 '$w/app.db' \".backup '$w/restic.db'\" &&
		restic backup -q -r '$w/restic' --host bench '$w/restic.db'"
	[ $have_borg = 1 ] && measure "borg.n$night" sh -c "rm -f '$w/borg.db' &&
		sqlite3 '$w/app.db' \".backup '$w/borg.db'\" &&
		borg create '$w/borg::n$night' '$w/borg.db'"
	# The two last states, for sqldiff; and the push of the night before
	# the last, so that the last night's push is a nightly one.
	if [ "$night" -ge $((NIGHTS - 1)) ]; then
		[ -f "$w/cur.db" ] && mv "$w/cur.db" "$w/prev.db"
		sqlite3 "$w/app.db" ".backup '$w/cur.db'"
	fi
	if [ "$night" = $((NIGHTS - 1)) ]; then
		measure push.before "$dbgit" --config "$w/dbgit.toml" push
		[ $SSH = 1 ] && measure push.ssh.before "$dbgit" --config "$w/ssh-nightly.toml" push
	fi
done
put load_nights "$(cut -d' ' -f1-3 /proc/loadavg)"

# --- after the nights -----------------------------------------------------
say "push, sizes, restores, diffs"
before=$(size_of "$w/remote.git/objects")
measure push "$dbgit" --config "$w/dbgit.toml" push
put push_bytes $(($(size_of "$w/remote.git/objects") - before))
if [ $SSH = 1 ]; then
	# the bytes dbgit sent over the connection (push -v), and what the
	# remote stored (receive-pack completes a thin pack with its bases)
	before=$(size_of "$w/ssh-nightly.git/objects")
	measure push.ssh "$dbgit" -v --config "$w/ssh-nightly.toml" push
	put push_ssh_bytes "$(sed -n 's/.*: sent [0-9]* objects, \([0-9]*\) bytes.*/\1/p' "$w/cmd.err" | tail -n 1)"
	put push_ssh_stored $(($(size_of "$w/ssh-nightly.git/objects") - before))
fi
sqldiff "$w/prev.db" "$w/cur.db" >"$w/changes.sql"
put changed_text_bytes "$(wc -c <"$w/changes.sql")"

put dbgit.repo "$(size_of "$w/dbgit.git")"
[ $have_enc = 1 ] && put enc.repo "$(size_of "$w/enc.git")"
put script.repo_before_gc "$(size_of "$w/script/.git")"
measure script.gc git -C "$w/script" gc -q --aggressive
put script.repo "$(size_of "$w/script/.git")"
[ $have_restic = 1 ] && put restic.repo "$(size_of "$w/restic")"
[ $have_borg = 1 ] && put borg.repo "$(size_of "$w/borg")"

measure dbgit.restore "$dbgit" --config "$w/dbgit.toml" restore app --to "$w/r-dbgit.db"
[ $have_enc = 1 ] && measure enc.restore "$dbgit" --config "$w/enc.toml" restore app --to "$w/r-enc.db"
measure script.restore sh -c "git -C '$w/script' show HEAD:dump.sql | sqlite3 -bail '$w/r-script.db'"
[ $have_restic = 1 ] && measure restic.restore restic restore -q -r "$w/restic" latest --target "$w/r-restic"
[ $have_borg = 1 ] && measure borg.restore sh -c "mkdir -p '$w/r-borg' && cd '$w/r-borg' && borg extract '$w/borg::n$NIGHTS'"
# Every restore must give the last night's rows: a fast wrong restore is
# no restore.
for f in "$w/r-dbgit.db" "$w/r-script.db"; do
	[ -z "$(sqldiff "$w/cur.db" "$f")" ] || { say "restored $f differs from the last night's database"; exit 1; }
done
rm -rf "$w"/r-*

measure dbgit.diff "$dbgit" --config "$w/dbgit.toml" diff app HEAD~1 HEAD
put dbgit.diff_bytes "$(wc -c <"$w/cmd.out")"
measure dbgit.diffstat "$dbgit" --config "$w/dbgit.toml" diff app HEAD~1 HEAD --stat
measure sqldiff sqldiff "$w/prev.db" "$w/cur.db"
rm -f "$w/prev.db"

# A night that rotates: one more churn, then a backup that applies
# [keep] last = 7 (drops the oldest snapshots and reclaims their space).
say "a night that rotates"
python3 "$top/bench/appdb.py" churn "$w/app.db" $((NIGHTS + 1)) "$CHURN" "$PCT"
put rotate.snapshots_before $((NIGHTS + 1))
put rotate.repo_before "$(size_of "$w/dbgit.git")"
measure rotate "$dbgit" --config "$w/dbgit.toml" backup --no-push
put rotate.repo_after "$(size_of "$w/dbgit.git")"
put rotate.snapshots_after "$(git -C "$w/dbgit.git" rev-list --count refs/heads/backup/app)"

# One 32 MiB BLOB in a small database.
say "one 32 MiB BLOB"
python3 - "$w/blob.db" <<'PY'
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("CREATE TABLE files(id INTEGER PRIMARY KEY, name TEXT, data BLOB)")
db.execute("INSERT INTO files VALUES(1, 'big.bin', ?)", (os.urandom(32 << 20),))
db.execute("INSERT INTO files VALUES(2, 'small.txt', 'hello')")
db.commit()
PY
cat >"$w/blob.toml" <<EOT
[repository]
path = "$w/blob.git"
[[job]]
name = "files"
engine = "sqlite"
path = "$w/blob.db"
EOT
"$dbgit" --config "$w/blob.toml" init >/dev/null
measure blob "$dbgit" --config "$w/blob.toml" backup --no-push
measure blob.restore "$dbgit" --config "$w/blob.toml" restore files --to "$w/r-blob.db"
rm -rf "$w/blob.git" "$w/blob.db" "$w/r-blob.db"

# --- end to end over SSH: push to a loopback sshd, restore from a clone ----
if [ $SSH = 1 ]; then
	say "push over SSH to a loopback sshd, clone, restore"
	measure ssh.push "$dbgit" --config "$w/ssh-remote.toml" push
	put ssh.remote "$(size_of "$w/ssh-remote.git")"
	export GIT_SSH_COMMAND="ssh -p $port -i $d/client_key -o IdentitiesOnly=yes -o UserKnownHostsFile=$d/known_hosts -o BatchMode=yes"
	measure ssh.clone git clone -q --bare --mirror "ssh://root@127.0.0.1:$port$w/ssh-remote.git" "$w/clone.git"
	sed "s|^path = \"$w/dbgit.git\"|path = \"$w/clone.git\"|; /^\[\[remote\]\]/,\$d" "$w/dbgit.toml" >"$w/clone.toml"
	measure ssh.restore "$dbgit" --config "$w/clone.toml" restore app --to "$w/r-ssh.db"
	rm -rf "$w/clone.git" "$w/r-ssh.db"
	kill "$SSHD_PID" 2>/dev/null
	wait "$SSHD_PID" 2>/dev/null || true
	SSHD_PID=""
fi
put load_end "$(cut -d' ' -f1-3 /proc/loadavg)"

# --- the table ------------------------------------------------------------
[ -z "$SAVE" ] || cp "$R" "$SAVE"
python3 "$top/bench/report.py" "$R" "$JSON"
