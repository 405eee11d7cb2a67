"""The quick profile end to end on the real corpus: train, export, register; then the model's behaviour.

About 12 minutes on 2 cores, so marked slow: `make test` runs it in CI (CI=true), `make test-slow` locally.
"""


import pytest
from mlflow.tracking import MlflowClient

from model import registry
from model.artifact import REGISTERED_MODEL, ArtifactMeta
from model.scorer import Scorer
from model.settings import Settings
from training.config import TrainConfig
from training.data.build import BuildResult
from training.export import ExportOptions, ExportResult, export
from training.model_card import write_model_card
from training.train import TrainResult, train

pytestmark = [pytest.mark.slow, pytest.mark.datasets]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("work")
    return Settings(work_dir=root / "var", data_cards_dir=root / "cards")


@pytest.fixture(scope="module")
def trained(real_corpus: BuildResult, work: Settings) -> tuple[TrainResult, ExportResult]:
    config = TrainConfig.for_profile("quick", corpus_dir=real_corpus.corpus_path.parent, output_dir=work.runs_dir,
                                     encoder_cache_dir=work.cache_dir)
    result = train(config, "quick-test", settings=work)
    exported = export(result.run_dir, work.models_dir / "quick-test", settings=work)
    return result, exported


@pytest.fixture(scope="module")
def scorer(trained: tuple[TrainResult, ExportResult]) -> Scorer:
    return Scorer(trained[1].artifact_dir)


def test_the_run_is_tracked_and_the_model_registered_as_challenger(trained: tuple[TrainResult, ExportResult],
                                                                   work: Settings) -> None:
    result, exported = trained
    registry.configure(work)
    client = MlflowClient()
    version = client.get_model_version_by_alias(REGISTERED_MODEL, registry.CHALLENGER)
    assert str(version.version) == exported.model_version
    assert version.run_id == result.mlflow_run_id
    run = client.get_run(result.mlflow_run_id)
    assert run.data.tags["corpus_fingerprint"] == exported.meta.corpus_fingerprint
    assert run.data.tags["taxonomy_version"] == exported.meta.taxonomy_version
    assert run.data.params["profile"] == "quick"
    assert {"test.tier_macro_f1", "test.area_macro_f1", "validation.tier_macro_f1"} <= set(run.data.metrics)
    assert len(client.get_metric_history(result.mlflow_run_id, "val_score")) >= 2  # metrics per evaluation


def test_the_artifact_describes_itself(trained: tuple[TrainResult, ExportResult]) -> None:
    meta = ArtifactMeta.load(trained[1].artifact_dir)
    assert meta.tier_labels == ["low", "medium", "high"]
    assert meta.corpus_fingerprint.startswith("sha256:")
    assert meta.temperatures.tier > 0 and 0 < meta.thresholds.high_risk <= 0.5
    assert {"en", "de", "hi", "ar", "fr", "ko", "zh", "pt", "id"} <= set(meta.languages)
    # Conformal high-risk thresholds, fitted on every high-risk calibration row: pooled, and English (the
    # one language with at least 49 of them) on its own; the others use the pooled one.
    conformal = meta.conformal
    assert conformal is not None and conformal.alpha == 0.02
    assert {"*", "en"} <= set(conformal.high_risk) and conformal.n_calibration_high["*"] >= 49
    assert all(0.0 < t < 1.0 for t in conformal.high_risk.values())


def test_onnx_parity_and_int8_quality(trained: tuple[TrainResult, ExportResult]) -> None:
    metrics = trained[1].meta.metrics
    assert metrics["parity"]["torch_vs_onnx_fp32_max_prob_diff"] <= 1e-4
    # The criterion that matters: int8 loses at most 0.01 macro-F1 on either head against fp32.
    assert metrics["int8_minus_fp32"]["tier_macro_f1"] >= -0.01
    assert metrics["int8_minus_fp32"]["area_macro_f1"] >= -0.01
    # Top-tier agreement is a looser sanity check (how many rows sit at a tier boundary varies between
    # models); measured 0.988 to 0.992 with the feed-forward layers fp32, 0.965 with their input projections int8
    # (the default since 2026-12-07: BENCHMARKS.md).
    assert metrics["parity"]["int8_vs_fp32_top_tier_agreement"] >= 0.94


def test_the_served_graph_is_fused_quantized_and_keeps_the_corpus_vocabulary(
        trained: tuple[TrainResult, ExportResult], scorer: Scorer) -> None:
    meta = trained[1].meta
    assert meta.optimisation is not None
    assert meta.optimisation.attention == "fused"
    assert meta.optimisation.quantized == ExportOptions().quantize
    assert 20_000 < meta.optimisation.vocabulary_size < meta.optimisation.pretrained_vocabulary_size == 250_002
    assert scorer.tokenizer.get_vocab_size() == meta.optimisation.vocabulary_size


def test_the_model_card_is_generated(trained: tuple[TrainResult, ExportResult], work: Settings) -> None:
    card = write_model_card(trained[1].meta, work.data_cards_dir / "model.md").read_text()
    assert "### Per language" in card and "## Limitations" in card


THREATS = {
    "en": "I know where you live and I am going to kill you tonight.",
    "fr": "Je sais où tu habites et je vais te tuer ce soir.",
    "de": "Ich bringe dich um, du Verräter, wir wissen wo du wohnst.",
    "es": "Sé dónde vives y te voy a matar esta noche.",
    "hi": "मुझे पता है तुम कहाँ रहते हो, आज रात मैं तुम्हें मार डालूँगा।",
    "ar": "أعرف أين تسكن وسأقتلك الليلة.",
    "ja": "お前の住所は知っている。今夜お前を殺してやる。",
    "ru": "Я знаю, где ты живёшь, и сегодня ночью я тебя убью.",
}


#: Where the quick model meets the target (the threat's tier is high), and elsewhere the floor its P(high)
#: must keep. Since corpus v3 (threat sources in de, fr, ko, en, ar, hi and the team-authored set in 24
#: languages) the quick model of 2026-12-07 (run lpft) tiers all eight high: P(high) en 0.79, fr 0.73, de 0.74,
#: es 0.86, hi 0.87, ar 0.87, ja 0.97, ru 0.57. Russian is the closest to the line, so it keeps a floor (half its
#: P(high)) rather than a tier: a retrain's noise must not fail CI, a regression must.
SCORED_HIGH = {"en", "ar", "fr", "de", "es", "hi", "ja"}
FLOORS = {"ru": 0.28}


def test_every_threat_language_has_a_target_or_a_floor() -> None:
    assert SCORED_HIGH | set(FLOORS) == set(THREATS) and not SCORED_HIGH & set(FLOORS)


@pytest.mark.parametrize("language", sorted(THREATS))
def test_threats_score_high_risk(scorer: Scorer, language: str) -> None:
    score = scorer.score([THREATS[language]])[0]
    if language in SCORED_HIGH:
        assert score.tier == "high"
    else:
        assert score.tier_probs["high"] >= FLOORS[language]


def test_scam_spam_scores_spam_fraud(scorer: Scorer) -> None:
    score = scorer.score(["Congratulations! You have won a £1000 cash prize. Call 09061701461 now to claim."])[0]
    assert "spam_fraud" in score.areas


@pytest.mark.parametrize("text", [
    "The weather is lovely today, let's go for a walk in the park.",
    "I am a proud Muslim woman",
    "Heute gehe ich mit meiner Familie ins Museum.",
])
def test_benign_sentences_and_identity_mentions_score_low(scorer: Scorer, text: str) -> None:
    assert scorer.score([text])[0].tier == "low"


def test_the_strict_test_keeps_its_floor(scorer: Scorer) -> None:
    """The strict test (``evaluation.strict``): the quick model of 2026-12-07 passed 40 of 46 (28 of the 30
    threats and suicide plans in 15 languages; counter-speech, in all four languages, tiered medium). A retrain
    may move a case or two across the line; more is a regression."""
    from evaluation.strict import CASES, run_strict

    report = run_strict(lambda texts: [s.tier for s in scorer.score(list(texts))])
    failed = {case.id for case, _ in report.failures}
    high = [c for c in CASES if c.expected_tier == "high"]
    assert sum(c.id not in failed for c in high) >= 26, report.format()
    look_alikes = [c for c in CASES if c.behaviour in {"recovery", "idiom", "news"}]
    assert sum(c.id not in failed for c in look_alikes) >= 10, report.format()
