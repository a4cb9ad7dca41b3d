#!/bin/bash
# contrib/ and hooks/ (issue 11): systemd-analyze accepts the hardened
# units; the service's exit codes match its comment; the cron line and the
# README's use the full path and /etc/cron.d; the Kubernetes example is
# well-formed; the hook samples ping a healthchecks-style URL read from a
# file (never from the command line) after a backup and on failure.
. "$TEST_SRCDIR/lib/test-lib.sh"

SRC=$(cd "$TEST_SRCDIR/.." && pwd)
SERVICE=$SRC/contrib/dbgit-backup.service

test_case "systemd-analyze verify accepts the service and the timer, with no warning" '
	if ! systemd-analyze --version >/dev/null 2>&1; then
		echo "skip: systemd-analyze cannot run here" >&2
		exit 0
	fi
	mkdir units
	# The binary where the unit expects /usr/local/bin/dbgit: verify checks
	# that ExecStart exists.
	sed "s#/usr/local/bin/dbgit#$DBGIT#" "$SERVICE" >units/dbgit-backup.service
	cp "$SRC/contrib/dbgit-backup.timer" units/
	systemd-analyze verify --man=no "$T/units/dbgit-backup.service" "$T/units/dbgit-backup.timer" >verify.out 2>&1
	cat verify.out
	[ ! -s verify.out ]
	# And it does complain about a broken unit: the check can fail.
	cp units/dbgit-backup.service units/broken.service
	echo "ProtectSystem=stricter" >>units/broken.service
	systemd-analyze verify --man=no "$T/units/broken.service" >broken.out 2>&1
	grep -q "broken.service:.*stricter" broken.out
'

test_case "the service is hardened and exit 3 (push pending) does not fail it" '
	for key in "User=dbgit" "ProtectSystem=strict" "ReadWritePaths=/var/lib/dbgit" "PrivateTmp=yes" \
		"NoNewPrivileges=yes" "KillSignal=SIGTERM" "SuccessExitStatus=3" "UMask=0077"; do
		grep -qx "$key" "$SERVICE"
	done
	grep -q "^TimeoutStartSec=" "$SERVICE"
	# The comment about exit 3 and the setting agree: 3 is a success,
	# nothing else but 0 is.
	[ "$(grep -c "^SuccessExitStatus=" "$SERVICE")" = 1 ]
	grep -q "^# Exit 3 means" "$SERVICE"
'

test_case "cron: the full path, and /etc/cron.d, in contrib and in the README" '
	grep -q "^17 3 \* \* \* root /usr/local/bin/dbgit --config /etc/dbgit/dbgit.toml backup" "$SRC/contrib/dbgit.cron"
	grep -q "/etc/cron.d/dbgit" "$SRC/contrib/dbgit.cron"
	grep "^17 3 \* \* \* root" "$SRC/README.md" >cron-lines
	[ -s cron-lines ]
	test_must_fail grep -v "root /usr/local/bin/dbgit " cron-lines
	grep -q "/etc/cron.d" "$SRC/README.md"
'

test_case "the Kubernetes CronJob example: a CronJob that mounts the key from a Secret" '
	python3 - "$SRC/contrib/dbgit-cronjob.yaml" <<EOF
import sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
kinds = [d["kind"] for d in docs]
assert "CronJob" in kinds, kinds
cj = next(d for d in docs if d["kind"] == "CronJob")
pod = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
assert pod["securityContext"]["runAsNonRoot"] is True
secrets = [v for v in pod["volumes"] if "secret" in v]
assert secrets and secrets[0]["secret"]["secretName"] == "dbgit-ssh", secrets
cfg = next(d for d in docs if d["kind"] == "ConfigMap")["data"]["dbgit.toml"]
open("k8s.toml", "w").write(cfg)
EOF
	# Its dbgit.toml is one dbgit reads (the paths are the pod'"'"'s).
	sed -i "s#/var/lib/dbgit/backups.git#$T/repo.git#; s#/srv/app/app.db#$T/app.db#" k8s.toml
	expect_exit 0 "$DBGIT" --config k8s.toml help list
	grep -q "url = \"git@github.com:" k8s.toml
'

# A healthchecks-style server: records each request's method, path and body.
start_server() {
	python3 - "$T/requests.log" "$T/port" <<'EOF' &
import http.server, sys
log, portfile = sys.argv[1], sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        with open(log, "a") as f:
            f.write("%s %s %s\n" % (self.command, self.path, body))
        self.send_response(200); self.end_headers(); self.wfile.write(b"OK")
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(portfile + ".tmp", "w").write(str(s.server_port))
import os; os.rename(portfile + ".tmp", portfile)
s.serve_forever()
EOF
	test_track_pid $!
	for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
}

test_case "the post-backup and on-failure samples ping the URL in a file, never on a command line" '
	start_server
	port=$(cat port)
	mkdir hooks
	cp "$SRC/hooks/post-backup.sample" hooks/post-backup
	cp "$SRC/hooks/on-failure.sample" hooks/on-failure
	chmod +x hooks/*
	echo "http://127.0.0.1:$port/ping/secret-uuid" >ping.url
	chmod 600 ping.url
	make_demo_db app.db
	write_config dbgit.toml "$T/repo.git" \
		"[[job]]" "name = \"app\"" "engine = \"sqlite\"" "path = \"$T/app.db\"" \
		"[[job]]" "name = \"gone\"" "engine = \"sqlite\"" "path = \"$T/missing.db\"" \
		"[hooks]" "dir = \"$T/hooks\""
	"$DBGIT" --config dbgit.toml init >/dev/null
	DBGIT_PING_URL_FILE=$T/ping.url DBGIT_WEBHOOK_URL_FILE=$T/none expect_exit 0 "$DBGIT" --config dbgit.toml backup app
	commit=$(git --git-dir=repo.git rev-parse backup/app)
	grep -qx "POST /ping/secret-uuid app $commit" requests.log
	DBGIT_PING_URL_FILE=$T/ping.url DBGIT_WEBHOOK_URL_FILE=$T/none expect_exit 1 "$DBGIT" --config dbgit.toml backup gone
	grep -q "^POST /ping/secret-uuid/fail gone: job .gone." requests.log
	# No ping URL configured: the samples do nothing and succeed.
	DBGIT_PING_URL_FILE=$T/none DBGIT_WEBHOOK_URL_FILE=$T/none expect_exit 0 "$DBGIT" --config dbgit.toml backup app
	test_must_fail grep -q "warning" .stderr
	# The URL is on no command line: curl reads it from stdin.
	test_must_fail grep -q "secret-uuid" "$SRC/hooks/post-backup.sample"
	grep -q -- "--config -" "$SRC/hooks/post-backup.sample"
	grep -q -- "--config -" "$SRC/hooks/on-failure.sample"
'

test_done
