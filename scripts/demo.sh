#!/usr/bin/env bash
# The quick start: set up, then back up a demo SQLite database into a local
# bare repository and list the snapshots.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SANITIZE=${SANITIZE:-OFF} BUILD_DIR=${BUILD_DIR:-$top/build-release} bash "$top/scripts/setup.sh"
dbgit=${BUILD_DIR:-$top/build-release}/dbgit

demo=${DEMO_DIR:-/tmp/dbgit-demo}
rm -rf "$demo"
mkdir -p "$demo"
sqlite3 "$demo/app.db" <<'SQL'
CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE);
CREATE TABLE orders(id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id), total REAL, at TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
INSERT INTO users SELECT i, 'user ' || i, 'user' || i || '@example.org' FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
INSERT INTO orders SELECT i, 1 + i % 1000, i * 0.37, datetime(1700000000 + i * 3600, 'unixepoch') FROM n;
SQL
cat >"$demo/dbgit.toml" <<EOT
[repository]
path = "$demo/backups.git"
author = "dbgit demo <dbgit@example.org>"

[keep]
last = 7
daily = 14

[[job]]
name = "app"
engine = "sqlite"
path = "$demo/app.db"
EOT
"$dbgit" --config "$demo/dbgit.toml" init
"$dbgit" -v --config "$demo/dbgit.toml" backup
sqlite3 "$demo/app.db" "UPDATE users SET email = 'ada@example.org' WHERE id = 1; INSERT INTO orders VALUES (5001, 1, 9.99, datetime('now'));"
"$dbgit" -v --config "$demo/dbgit.toml" backup
"$dbgit" --config "$demo/dbgit.toml" list
echo
"$dbgit" --config "$demo/dbgit.toml" diff app --stat
echo
echo "demo: config $demo/dbgit.toml, repository $demo/backups.git; try: $dbgit --config $demo/dbgit.toml diff app"
