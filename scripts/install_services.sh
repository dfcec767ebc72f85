#!/usr/bin/env bash
# Installs the services the multi-machine test needs when the machine lacks them: PostgreSQL (DuckLake
# catalog + Dagster instance storage) and Redis (Celery broker). The test itself starts a stopped
# cluster or server; this only makes sure the binaries exist. Idempotent.
set -euo pipefail
if command -v pg_ctlcluster >/dev/null 2>&1 && command -v redis-server >/dev/null 2>&1; then
    echo "postgresql and redis-server already installed"
    exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends postgresql redis-server
