#!/usr/bin/env bash
# Make sure a Redis server answers on 127.0.0.1:6379 for the shared rate limit tests (tests/serving/
# test_ratelimit_shared.py: under CI=true they fail, rather than skip, without one), as
# TRIAGE_TEST_REDIS_URL=redis://127.0.0.1:6379/0 expects: nothing to do where one runs (the machine starts it);
# otherwise start the installed redis-server, installing Debian's package first if it is missing. It keeps
# nothing on disk.
set -euo pipefail

HOST=127.0.0.1
PORT=6379
WAIT_SECONDS=30

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ready() {  # PING over bash's /dev/tcp: needs no redis-cli
    local reply=""
    { exec 3<>"/dev/tcp/$HOST/$PORT"; } 2>/dev/null || return 1
    printf 'PING\r\n' >&3
    read -r -t 2 reply <&3 || true
    exec 3<&- 3>&-
    [[ $reply == +PONG* ]]
}

if ! ready; then
    if ! command -v redis-server >/dev/null 2>&1; then
        echo "Redis is not installed: installing Debian's redis-server package"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends redis-server
    fi
    echo "starting Redis on $HOST:$PORT"
    as_root redis-server --daemonize yes --bind "$HOST" --port "$PORT" --save "" --appendonly no
    for _ in $(seq "$WAIT_SECONDS"); do
        ready && break
        sleep 1
    done
    ready || { echo "Redis did not answer on $HOST:$PORT within ${WAIT_SECONDS}s" >&2; exit 1; }
fi
echo "Redis answers on $HOST:$PORT"
