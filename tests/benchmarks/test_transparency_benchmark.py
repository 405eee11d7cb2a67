"""The transparency benchmark seeds a year of decisions, exports them and reports on them, and prints the figures.

A benchmark prints figures; this only checks that it runs and reports them, not how fast anything is."""

from __future__ import annotations

import sys

import pytest

from benchmarks import transparency


def test_the_benchmark_exports_every_seeded_decision_and_reports_the_appeals(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["transparency", "--decisions", "1200"])
    transparency.main()
    out = capsys.readouterr().out
    assert "export_statements: 1,200 statements" in out
    assert "1,200 enforcement decisions" in out and "120 appeals filed, 120 decided, 60 reversed" in out
