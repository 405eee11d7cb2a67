"""The routing policy file: the shipped one is valid, a broken one is refused naming the file and key."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from model.settings import DEFAULT_ROUTING_POLICY
from model.taxonomy import PolicyArea
from serving.policy import PolicyError, load_policy


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    def dump(value: Any) -> str:
        if isinstance(value, str):
            return f'"{value}"'
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, list | tuple):
            return "[" + ", ".join(dump(v) for v in value) + "]"
        if isinstance(value, dict):
            return "{ " + ", ".join(f"{k} = {dump(v)}" for k, v in value.items()) + " }"
        return str(value)

    lines = [f"{k} = {dump(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for section, values in data.items():
        if isinstance(values, dict):
            lines.append(f"[{section}]")
            lines += [f"{k} = {dump(v)}" for k, v in values.items()]
    path = tmp_path / "policy.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def shipped() -> dict[str, Any]:
    return tomllib.loads(DEFAULT_ROUTING_POLICY.read_text())


def test_the_shipped_policy_is_valid_and_routes_every_area() -> None:
    policy = load_policy(DEFAULT_ROUTING_POLICY)
    assert policy.version
    assert all(policy.area_queue(a) for a in PolicyArea if a is not PolicyArea.NONE)


def test_a_round_trip_through_the_test_writer_is_the_same_policy(tmp_path: Path) -> None:
    assert load_policy(write(tmp_path, shipped())) == load_policy(DEFAULT_ROUTING_POLICY)


@pytest.mark.parametrize(("change", "named"), [
    (lambda p: p["low"].update(qa_sample_rate=1.5), "low.qa_sample_rate"),
    (lambda p: p["area_queues"].pop("privacy"), "privacy"),
    (lambda p: p["grey_area"].update(thin_areas=["self_harm", "gossip"]), "grey_area.thin_areas"),
    (lambda p: p["signals"].update(sensitive_reporters=["pundit"]), "signals.sensitive_reporters"),
    (lambda p: p["queues"].update(human_escalation="Human Escalation!"), "queues.human_escalation"),
    (lambda p: p["priority"].update(medium={"base": 50, "span": 30}), "priority"),
    (lambda p: p["sla_minutes"].update(high=0), "sla_minutes.high"),
    (lambda p: p.update(colour="red"), "colour"),
])
def test_an_invalid_policy_is_refused_naming_the_file_and_key(tmp_path: Path, change: Any, named: str) -> None:
    data = shipped()
    change(data)
    path = write(tmp_path, data)
    with pytest.raises(PolicyError) as error:
        load_policy(path)
    assert str(path) in str(error.value) and named in str(error.value)


def test_a_missing_or_malformed_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not found"):
        load_policy(tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text("version = \n")
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policy(tmp_path / "bad.toml")
