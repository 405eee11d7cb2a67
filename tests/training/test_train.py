"""``train`` on a few dozen real rows with the real encoder: the loop, checkpoints, resume, the config."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from model.settings import Settings
from training.config import TrainConfig
from training.data.build import BuildResult
from training.summary import TrainingSummary
from training.train import CHECKPOINT, SUMMARY, WEIGHTS, train

pytestmark = [pytest.mark.slow, pytest.mark.datasets]  # short training runs: 25-60 s each


def tiny_config(corpus: BuildResult, tmp_path: Path, **overrides: object) -> TrainConfig:
    return TrainConfig.for_profile(
        "quick", corpus_dir=corpus.corpus_path.parent, output_dir=tmp_path / "runs",
        encoder_cache_dir=tmp_path.parent / "encoder-cache", max_train_rows=48, max_eval_rows=24, batch_size=16,
        evals_per_epoch=1, max_minutes=None, **overrides,
    )


def test_a_short_run_writes_weights_checkpoint_and_summary(real_corpus: BuildResult, tmp_path: Path) -> None:
    result = train(tiny_config(real_corpus, tmp_path), "tiny", track=False)
    for name in (CHECKPOINT, WEIGHTS, SUMMARY):
        assert (result.run_dir / name).is_file()
    summary = result.summary
    assert summary.steps == 3 and summary.stop_reason == "completed"
    assert summary.tier_labels == ["low", "medium", "high"]
    assert summary.corpus_fingerprint == real_corpus.manifest["fingerprint"]
    assert 0.0 <= summary.validation["tier_macro_f1"] <= 1.0
    assert len(summary.history) == 1
    assert TrainingSummary.load(result.run_dir) == summary


def test_resume_continues_from_the_checkpoint(real_corpus: BuildResult, tmp_path: Path) -> None:
    first = train(tiny_config(real_corpus, tmp_path), "resumable", track=False)
    resumed = train(tiny_config(real_corpus, tmp_path, epochs=2), "resumable", resume=True, track=False)
    assert first.summary.steps == 3
    assert resumed.summary.steps == 6  # the second epoch only
    assert [h.step for h in resumed.summary.history] == [6]


def test_a_tracked_run_logs_to_mlflow(real_corpus: BuildResult, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    settings = Settings(work_dir=tmp_path / "var")
    result = train(tiny_config(real_corpus, tmp_path), "tracked", settings=settings)
    run = MlflowClient().get_run(result.mlflow_run_id)
    assert run.data.params["max_train_rows"] == "48"
    assert run.data.tags["corpus_fingerprint"] == real_corpus.manifest["fingerprint"]
    assert "val_score" in run.data.metrics and "train_validation.tier_macro_f1" in run.data.metrics


def test_a_probe_only_run_trains_the_heads_and_leaves_the_encoder_as_pretrained(real_corpus: BuildResult,
                                                                                 tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from training.encoder import prepare_encoder
    from training.modeling import load_encoder

    config = tiny_config(real_corpus, tmp_path, frozen_layers=8, probe_epochs=3)
    result = train(config, "probe", track=False)
    assert result.summary.stop_reason == "probe_only" and result.summary.steps == 0
    assert [h.probe_epoch for h in result.summary.probe] == [1, 2, 3]
    weights = load_file(str(result.run_dir / WEIGHTS))
    pretrained = load_encoder(prepare_encoder(config.encoder_cache_dir), 8).state_dict()
    for name in ("encoder.encoder.layer.7.output.dense.weight", "encoder.embeddings.word_embeddings.weight"):
        assert weights[name].equal(pretrained[name.removeprefix("encoder.")])
    assert weights["tier_head.weight"].abs().sum() > 0


def test_lp_ft_probes_first_then_fine_tunes(real_corpus: BuildResult, tmp_path: Path) -> None:
    result = train(tiny_config(real_corpus, tmp_path, probe_epochs=2), "lp-ft", track=False)
    assert len(result.summary.probe) == 2
    assert result.summary.steps == 3 and result.summary.stop_reason == "completed"


def test_the_config_is_validated_before_any_work(real_corpus: BuildResult, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="run `triage data build` first"):
        TrainConfig.for_profile("quick", corpus_dir=tmp_path, output_dir=tmp_path, encoder_cache_dir=tmp_path)
    with pytest.raises(ValidationError, match="encoder_lr"):
        tiny_config(real_corpus, tmp_path, encoder_lr=-1.0)
    with pytest.raises(ValidationError, match="frozen_layers"):
        tiny_config(real_corpus, tmp_path, frozen_layers=13)
    with pytest.raises(ValidationError, match="nothing would be trained"):
        tiny_config(real_corpus, tmp_path, frozen_layers=8, probe_epochs=0)
    full = TrainConfig.for_profile("full", corpus_dir=real_corpus.corpus_path.parent, output_dir=tmp_path,
                                   encoder_cache_dir=tmp_path)
    assert (full.max_train_rows, full.max_length, full.frozen_layers) == (None, 128, 0)
