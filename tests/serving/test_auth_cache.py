"""The in-process cache of authenticated keys: a busy client costs no database read per request, and a
revoked key stops working within TRIAGE_AUTH_CACHE_SECONDS."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from serving.auth import KeyCache, Principal, Role, revoke_key
from serving.db.engine import transaction
from serving.model_loader import LoadedModel
from tests.support.api import start_client

ALICE = Principal(key_id="a1b2c3d4e5f6", name="alice", role=Role.INTAKE)
KEY = "trg_a1b2c3d4e5f6_" + "x" * 43


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_cached_key_is_remembered_until_its_time_is_up() -> None:
    clock = Clock()
    cache = KeyCache(5, clock=clock)
    assert cache.get(KEY) is None
    cache.put(KEY, ALICE)
    clock.now += 4.9
    assert cache.get(KEY) == ALICE
    clock.now += 0.2
    assert cache.get(KEY) is None, "expired: the next request reads the database again"


def test_only_the_exact_key_hits_the_cache() -> None:
    cache = KeyCache(5)
    cache.put(KEY, ALICE)
    assert cache.get(KEY[:-1] + "y") is None, "same key id, other secret"


def test_a_zero_ttl_turns_the_cache_off() -> None:
    cache = KeyCache(0)
    cache.put(KEY, ALICE)
    assert cache.get(KEY) is None


def test_the_cache_stays_bounded() -> None:
    cache = KeyCache(60, max_keys=3)
    keys = [f"trg_{i:012x}_" + "x" * 43 for i in range(10)]
    for key in keys:
        cache.put(key, ALICE)
    assert sum(cache.get(key) is not None for key in keys) <= 3
    assert cache.get(keys[-1]) == ALICE


def _revoke(client: TestClient, key_id: str) -> None:
    with transaction(client.app.state.triage.sessions) as session:  # type: ignore[attr-defined]
        assert revoke_key(session, key_id)


def test_a_revoked_key_keeps_working_only_while_cached(tmp_path: Path, tiny_artifact: Path,
                                                       tiny_model: LoadedModel) -> None:
    from model.settings import Settings

    settings = Settings(work_dir=tmp_path / "var", model_path=tiny_artifact, log_format="text",
                        database_url=f"sqlite:///{tmp_path / 'triage.db'}", auth_cache_seconds=60)
    client, keys = start_client(settings, tiny_model)
    try:
        assert client.get("/v1/reports/nope", headers=keys.intake).status_code == 404  # authenticated, cached
        _revoke(client, keys.intake_id)
        assert client.get("/v1/reports/nope", headers=keys.intake).status_code == 404, "still cached"
        client.app.state.triage.keys.ttl = 0  # type: ignore[attr-defined]  # as if the 60 s had passed
        assert client.get("/v1/reports/nope", headers=keys.intake).status_code == 401
    finally:
        client.__exit__(None, None, None)


def test_without_the_cache_revocation_is_immediate(tmp_path: Path, tiny_artifact: Path,
                                                   tiny_model: LoadedModel) -> None:
    from model.settings import Settings

    settings = Settings(work_dir=tmp_path / "var", model_path=tiny_artifact, log_format="text",
                        database_url=f"sqlite:///{tmp_path / 'triage.db'}", auth_cache_seconds=0)
    client, keys = start_client(settings, tiny_model)
    try:
        assert client.get("/v1/reports/nope", headers=keys.intake).status_code == 404
        _revoke(client, keys.intake_id)
        assert client.get("/v1/reports/nope", headers=keys.intake).status_code == 401
    finally:
        client.__exit__(None, None, None)
