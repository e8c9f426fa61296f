#!/usr/bin/env bash
# Installs the database servers the SQL tests start on loopback (Debian
# packages postgresql and mariadb-server), when they are missing. Needs root
# (or sudo) and Debian's package lists; it starts no service.
set -euo pipefail

need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v mariadbd >/dev/null 2>&1 || command -v mysqld >/dev/null 2>&1 || need+=(mariadb-server)
[ ${#need[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing ${need[*]}"
$sudo apt-get update -qq
# The packages try to start their services; policy-rc.d refusing that is fine.
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
