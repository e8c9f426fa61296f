#!/usr/bin/env bash
# The test command: go test -race in every module of the repository (the
# library, and the modules that hold database drivers: examples and test
# modules). Extra arguments go to every go test, e.g. scripts/test.sh -cover.
#
# Tests that need PostgreSQL or MariaDB start their own server on loopback in
# a temp dir; scripts/install-db.sh installs the Debian packages they use.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
for mod in $(git ls-files 'go.mod' '*/go.mod' 2>/dev/null || find . -name go.mod -not -path './.git/*'); do
  dir=$(dirname "$mod")
  echo "== go test -race $* ./... in ${dir}"
  if ! (cd "$dir" && go test -race "$@" ./...); then
    status=1
  fi
done
exit $status
