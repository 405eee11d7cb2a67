"""The routing-shares report: every sampled report is routed once and counted once."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from evaluation.routing_shares import format_shares, routing_shares
from model.scorer import Scorer
from model.settings import DEFAULT_ROUTING_POLICY
from serving.policy import load_policy
from triage.cli import app

runner = CliRunner()


def test_every_report_is_counted_once_per_view(tiny_artifact: Path) -> None:
    texts = ["you are wonderful", "I will find you", "win a free phone now", "Ceci est un message normal", "ok"]
    tiers = ["low", "high", "medium", "low", "low"]
    shares = routing_shares(Scorer(tiny_artifact), load_policy(DEFAULT_ROUTING_POLICY), texts, tiers)
    assert shares.total == 5
    assert sum(shares.actions.values()) == 5
    assert sum(sum(c.values()) for c in shares.by_true_tier.values()) == 5
    assert shares.grey_rules["grey.language_undetected"] >= 1  # "ok" has too few letters to tell


def write_corpus(path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = ["you are wonderful", "I will find you", "win a free phone now", "Ceci est un message normal", "ok"]
    tiers = ["low", "high", "medium", "low", "low"]
    pq.write_table(pa.table({"text": [*texts, "a train row"], "risk_tier": [*tiers, "low"],
                             "split": ["test"] * 5 + ["train"]}), path)
    return path


def test_command_prints_the_shares_of_a_sample_of_the_split(tmp_path: Path, tiny_artifact: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus.parquet")
    result = runner.invoke(app, ["analyse", "routing-shares", "--artifact", str(tiny_artifact), "--corpus",
                                 str(corpus), "--policy", str(DEFAULT_ROUTING_POLICY), "--seed", "3"])
    assert result.exit_code == 0, result.output
    policy = load_policy(DEFAULT_ROUTING_POLICY)
    first, rest = result.stdout.split("\n", 1)
    assert first == f"5 test reports (seed 3), model {tiny_artifact}, policy {policy.version}"
    assert re.match(r"automated\s+[\d.]+%   to people\s+[\d.]+%\n", rest)
    assert "grey-area rules (a report may fire several)\n" in rest and "actions by true tier\n" in rest
    assert re.search(r"^  high    n=1     ", rest, re.M) and re.search(r"^  low     n=3     ", rest, re.M)
    assert format_shares(routing_shares(Scorer(tiny_artifact), policy, ["x"], ["low"])).startswith("automated")


def test_command_errors_name_the_option_and_the_file(tmp_path: Path, tiny_artifact: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus.parquet")
    base = ["analyse", "routing-shares", "--artifact", str(tiny_artifact), "--corpus", str(corpus)]
    for args, error in [
        (["--corpus", str(tmp_path / "none.parquet")], f"error: --corpus {tmp_path / 'none.parquet'}: not found"),
        (["--artifact", str(tmp_path)], f"error: --artifact {tmp_path}: not found"),
        (["--split", "ood"], f"error: --split ood: no rows in {corpus}"),
        (["--policy", str(tmp_path / "p.toml")],
         f"error: --policy {tmp_path / 'p.toml'}: routing policy file not found"),
        (["--sample", "0"], "error: --sample 0: out of range"),
    ]:
        result = runner.invoke(app, [*base, *args])
        assert result.exit_code == 2, args
        assert result.stderr == error + "\n"
