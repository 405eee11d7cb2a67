"""The escalation workflow's benchmarks run end to end on small volumes and print their figures: the transparency
benchmark (a year of decisions exported and reported on) and the claim benchmark (claims against a backlog).

A benchmark prints figures; these only check that it runs and reports them, not how fast anything is."""

from __future__ import annotations

import sys

import pytest

from benchmarks import claim, transparency


def test_the_benchmark_exports_every_seeded_decision_and_reports_the_appeals(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["transparency", "--decisions", "1200"])
    transparency.main()
    out = capsys.readouterr().out
    assert "export_statements: 1,200 statements" in out
    assert "1,200 enforcement decisions" in out and "120 appeals filed, 120 decided, 60 reversed" in out


def test_the_claim_benchmark_claims_in_the_reviewers_language_when_it_has_one(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["claim", "--items", "200", "--claims", "5"])
    claim.main()
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("sqlite, 200 open items, no languages: claim median")
    assert out[1].startswith("sqlite, 200 open items, languages de") and out[1].endswith("languages claimed ['de']")
