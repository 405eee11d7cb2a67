"""A Redis server for the tests of the shared rate limit (``TRIAGE_TEST_REDIS_URL``, by default the local one at
redis://127.0.0.1:6379/0): skipped, with the reason, where none answers; failed instead in CI (``CI=true``), where
.ci/redis.sh starts one."""

from __future__ import annotations

import os

import pytest

from model.registry import redact
from tests.support.extras import in_ci, missing

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def redis_url() -> str:
    return os.environ.get("TRIAGE_TEST_REDIS_URL", DEFAULT_URL)


def require_redis() -> str:
    """The URL of a Redis server that answers PING; otherwise the test is skipped (failed under CI=true)."""
    url = redis_url()
    reason = missing("redis", "serve")
    if reason is None:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        try:
            client.ping()
        except (redis.RedisError, OSError) as error:
            reason = (f"no Redis server answers at {redact(url)} ({type(error).__name__}): start one, or set "
                      "TRIAGE_TEST_REDIS_URL")
        finally:
            client.close()
    if reason is not None:
        if in_ci():
            pytest.fail(f"CI=true, and {reason}", pytrace=False)
        pytest.skip(reason)
    return url
