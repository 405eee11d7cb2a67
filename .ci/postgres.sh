#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on 127.0.0.1:5432 for the PostgreSQL tests (marker `postgres`), as
# TRIAGE_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test expects: start the installed
# cluster if it is down; if none is installed, install Debian's `postgresql` package and let `postgres`
# connect from 127.0.0.1 without a password (a throw-away CI server); wait until it accepts connections;
# create the database `test` if it is missing (the tests make a fresh database per test from it).
set -euo pipefail

HOST=127.0.0.1
PORT=5432
WAIT_SECONDS=60

ready() {
    command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$HOST" -p "$PORT"
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

wait_ready() {
    for _ in $(seq "$WAIT_SECONDS"); do
        ready && return 0
        sleep 1
    done
    echo "PostgreSQL did not answer on $HOST:$PORT within ${WAIT_SECONDS}s" >&2
    pg_lsclusters >&2 || true
    return 1
}

if ! ready; then
    installed_now=false
    if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
        echo "PostgreSQL is not installed: installing Debian's postgresql package"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql
        installed_now=true
    fi
    version="$(ls /etc/postgresql | sort -V | tail -n 1)"  # the newest installed major version, e.g. 15
    if [ "$installed_now" = true ]; then
        # The package's default is a password (scram-sha-256) for TCP connections: trust postgres from
        # localhost instead; the first matching line of pg_hba.conf wins.
        hba="/etc/postgresql/$version/main/pg_hba.conf"
        as_root sed -i "1i host all postgres 127.0.0.1/32 trust" "$hba"
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main stop 2>/dev/null || true
    fi
    echo "starting PostgreSQL $version (cluster main)"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
    wait_ready
fi
echo "PostgreSQL answers on $HOST:$PORT"

if [ "$(psql -h "$HOST" -p "$PORT" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'")" != 1 ]; then
    echo "creating the database test"
    createdb -h "$HOST" -p "$PORT" -U postgres test
fi
