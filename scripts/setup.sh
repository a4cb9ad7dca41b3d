#!/usr/bin/env bash
# Installs what dbgit needs to build and test on Debian 12 (only what is
# missing), then builds it. Sourced by demo.sh and test.sh; run as root.
#   BUILD_DIR   where to build (default: build/ in the checkout)
#   SANITIZE    ON (default) builds with ASan+UBSan and the test-only
#               environment variables (DBGIT_TEST_HOOKS), as the tests use;
#               OFF is a release build that ignores them
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$top/build}
SANITIZE=${SANITIZE:-ON}

packages=(
	build-essential cmake pkg-config
	libgit2-dev libssh2-1-dev libsqlite3-dev zlib1g-dev libdeflate-dev libcjson-dev libtomlplusplus-dev libssl-dev
	# src/engine/mongodb.c: BSON <-> canonical Extended JSON
	libbson-dev
	git sqlite3 sqlite3-tools openssh-server openssh-client python3 time util-linux e2fsprogs
	# tests/t2022-t2023: the manuals rendered (man -l), the units checked
	# (systemd-analyze verify), the hook samples' pings (curl)
	man-db groff-base systemd curl
	# tests/t5000-postgres.sh: a real PostgreSQL 15 server and its client tools
	postgresql postgresql-client
	# tests/t5100-mysql.sh: a real MariaDB server and its client tools
	mariadb-server mariadb-client
	# tests/t0900-fuzz.sh: clang and its libFuzzer runtime (libclang_rt.fuzzer)
	clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cmake -S "$top" -B "$BUILD_DIR" -DDBGIT_SANITIZE="$SANITIZE" -DDBGIT_TEST_HOOKS="$SANITIZE" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" >/dev/null
echo "setup: built $BUILD_DIR/dbgit" >&2
