"""compose.yaml: the api, PostgreSQL and MLflow wired together, no secret with a default."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
import yaml

from tests.support import REPO

COMPOSE = REPO / "compose.yaml"
SECRETS = ("POSTGRES_PASSWORD", "TRIAGE_DB_PASSWORD", "MLFLOW_DB_PASSWORD", "TRIAGE_SESSION_SECRET")
#: ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}, ... ($$ escapes a dollar)
INTERPOLATION = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?(?P<rest>[^}]*)\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


def env(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    assert isinstance(environment, dict), "environment as a mapping"
    return {k: str(v) for k, v in environment.items()}


def test_the_three_services_and_their_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"api", "postgres", "mlflow"}
    assert services["api"]["build"] == "."
    assert set(compose["volumes"]) == {"triage-data", "postgres-data", "mlflow-artifacts"}
    assert "triage-data:/var/lib/triage" in services["api"]["volumes"]
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "mlflow-artifacts:/mlflow/artifacts" in services["mlflow"]["volumes"]


def test_the_api_uses_postgres_and_the_mlflow_registry(compose: dict[str, Any]) -> None:
    api = env(compose["services"]["api"])
    assert api["TRIAGE_DATABASE_URL"].startswith("postgresql+psycopg://triage@postgres:5432/triage")
    assert api["TRIAGE_MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert api["TRIAGE_MODEL_ALIAS"] == "champion"
    assert "TRIAGE_MODEL_PATH" not in api, "compose serves from the registry"
    assert compose["services"]["api"]["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                                        "mlflow": {"condition": "service_healthy"}}


def test_every_secret_is_required_and_has_no_default(compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    used = {m["name"]: m for m in INTERPOLATION.finditer(text)}
    assert set(used) == set(SECRETS), "only secrets come from the environment"
    for match in INTERPOLATION.finditer(text):
        assert match["op"] == ":?" and match["rest"].strip(), f"{match[0]}: needs ${{VAR:?message}}, no default"
    assert env(compose["services"]["api"])["TRIAGE_SESSION_SECRET"].startswith("${TRIAGE_SESSION_SECRET:?")
    for service in compose["services"].values():
        for name, value in env(service).items():
            if re.search(r"PASSWORD|SECRET", name):
                assert value.startswith("${") and ":?" in value, f"{name} must come from the environment"
            assert not re.search(r"://[^/@\s]*:[^/@\s]*@", value), f"{name}: a password in a URL"


def test_postgres_16_with_a_healthcheck_and_an_init_script_for_both_databases(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    mount = next(v for v in postgres["volumes"] if "/docker-entrypoint-initdb.d/" in v)
    script = REPO / mount.split(":")[0]
    assert script.is_file() and os.access(script, os.X_OK)
    sql = script.read_text(encoding="utf-8")
    assert "CREATE DATABASE triage OWNER triage" in sql and "CREATE DATABASE mlflow OWNER mlflow" in sql
    assert "$TRIAGE_DB_PASSWORD" in sql and "$MLFLOW_DB_PASSWORD" in sql, "passwords from the environment only"


def test_mlflow_serves_artifacts_from_a_volume_with_postgres_behind(compose: dict[str, Any]) -> None:
    mlflow = compose["services"]["mlflow"]
    command = mlflow["command"]
    assert command[0] == "server"
    assert "--backend-store-uri=postgresql+psycopg://mlflow@postgres:5432/mlflow" in command
    assert "--serve-artifacts" in command and "--artifacts-destination=/mlflow/artifacts" in command
    allowed = next(c for c in command if c.startswith("--allowed-hosts="))
    assert "mlflow:5000" in allowed, "the api reaches MLflow as mlflow:5000"
    assert mlflow["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert (REPO / mlflow["build"] / "Dockerfile").is_file()


def test_the_compose_header_says_how_to_register_and_promote(compose: dict[str, Any]) -> None:
    header = COMPOSE.read_text(encoding="utf-8").split("\nservices:", 1)[0]
    for needed in ("TRIAGE_MLFLOW_TRACKING_URI=http://127.0.0.1:5000", "triage export", "triage promote",
                   "champion", "TRIAGE_MODEL_POLL_SECONDS"):
        assert needed in header


def test_published_ports_listen_on_localhost_only(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"


def test_the_interpolation_check_sees_a_default() -> None:
    """The secret check above can fail: it tells a default from a required variable."""
    default, required, escaped = (INTERPOLATION.search(text) for text in (
        "x: ${POSTGRES_PASSWORD:-postgres}", "x: ${POSTGRES_PASSWORD:?set it}", "x: $${POSTGRES_PASSWORD}"))
    assert default is not None and default["op"] == ":-"
    assert required is not None and required["op"] == ":?"
    assert escaped is None
