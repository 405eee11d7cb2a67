"""The classifier, its loss, ONNX parity and the scorer, on a tiny random encoder with the real tokenizer."""

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from model.scorer import ArtifactError, Scorer
from model.taxonomy import get_taxonomy
from tests.factories import make_tiny_artifact
from training.export import _torch_probs
from training.modeling import TriageClassifier, mean_pool, tiny_encoder
from training.train import loss_fn

TEXTS = [
    "I will find you and hurt you",
    "Je vais te retrouver",
    "मैं तुम्हें मार दूंगा",
    "WINNER!! claim your £900 prize now, call 09061701461",
    "I am a proud Muslim woman",
    "ok",
    "A much longer report about a post that has been shared many times in several groups today " * 3,
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    return make_tiny_artifact(tmp_path_factory.mktemp("artifact"))


def test_mean_pooling_ignores_padding() -> None:
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    assert mean_pool(hidden, torch.tensor([[1, 1, 0]])).tolist() == [[2.0, 3.0]]


def test_heads_have_taxonomy_shapes() -> None:
    taxonomy = get_taxonomy()
    model = TriageClassifier(tiny_encoder(1000), len(taxonomy.tier_names), len(taxonomy.area_names)).eval()
    tier, areas = model(torch.tensor([[0, 5, 6, 2]]), torch.tensor([[1, 1, 1, 1]]))
    assert tier.shape == (1, 3) and areas.shape == (1, 13)


def test_freezing_keeps_embeddings_and_lower_layers_fixed() -> None:
    model = TriageClassifier(tiny_encoder(1000), 3, 13)
    model.freeze(embeddings=True, layers=1)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert "encoder.embeddings.word_embeddings.weight" not in trainable
    assert not any(n.startswith("encoder.encoder.layer.0.") for n in trainable)
    assert any(n.startswith("encoder.encoder.layer.1.") for n in trainable)
    assert {"tier_head.weight", "area_head.weight"} <= trainable


def test_the_loss_ignores_unknown_area_labels() -> None:
    torch.manual_seed(0)
    tier_logits, area_logits = torch.randn(4, 3), torch.randn(4, 13)
    tier = torch.tensor([0, 1, 2, 0])
    areas = torch.randint(0, 2, (4, 13)).float()
    known = torch.ones(4, 13, dtype=torch.bool)
    known[:, 5] = False
    flipped = areas.clone()
    flipped[:, 5] = 1 - flipped[:, 5]
    args = (torch.ones(4), torch.ones(3), torch.ones(13), 1.0)
    same = loss_fn(tier_logits, area_logits, tier, areas, known, *args)
    assert loss_fn(tier_logits, area_logits, tier, flipped, known, *args) == pytest.approx(float(same))
    known[:, 5] = True
    assert loss_fn(tier_logits, area_logits, tier, flipped, known, *args) != pytest.approx(float(same))


def test_onnx_fp32_matches_torch_within_1e4(tiny: tuple[Path, Any]) -> None:
    folder, model = tiny
    scorer = Scorer(folder, use_fp32=True)
    torch_tier, torch_areas = _torch_probs(model, scorer, TEXTS)
    ort_tier, ort_areas = scorer.logits(TEXTS)
    softmax = torch.nn.functional.softmax
    np.testing.assert_allclose(softmax(torch.from_numpy(ort_tier), -1).numpy(),
                               softmax(torch.from_numpy(torch_tier), -1).numpy(), atol=1e-4)
    np.testing.assert_allclose(1 / (1 + np.exp(-ort_areas)), 1 / (1 + np.exp(-torch_areas)), atol=1e-4)
    assert torch.is_grad_enabled()  # exporting and checking parity leave the global grad mode alone


def test_int8_model_is_smaller_and_close_to_fp32(tiny: tuple[Path, Any]) -> None:
    folder, _ = tiny
    assert (folder / "model.onnx").stat().st_size < 0.4 * (folder / "model.fp32.onnx").stat().st_size
    fp32, int8 = Scorer(folder, use_fp32=True), Scorer(folder)
    fp32_tier, int8_tier = fp32.probabilities(TEXTS)[0], int8.probabilities(TEXTS)[0]
    assert np.abs(fp32_tier - int8_tier).max() < 0.05


def test_dynamic_padding_and_batching_do_not_change_scores(tiny: tuple[Path, Any]) -> None:
    scorer = Scorer(tiny[0], use_fp32=True)
    together = scorer.logits(TEXTS, batch_size=3)[0]
    alone = np.concatenate([scorer.logits([t])[0] for t in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_scores_follow_the_artifacts_label_order_and_input_order(tiny: tuple[Path, Any]) -> None:
    scorer = Scorer(tiny[0])
    scores = scorer.score(TEXTS)
    assert len(scores) == len(TEXTS)
    for score in scores:
        assert list(score.tier_probs) == ["low", "medium", "high"]
        assert list(score.area_probs) == get_taxonomy().area_names
        assert sum(score.tier_probs.values()) == pytest.approx(1.0, abs=1e-5)
        assert score.areas
    reversed_scores = scorer.score(TEXTS[::-1])
    assert [s.tier_probs for s in reversed_scores] == [s.tier_probs for s in scores][::-1]


def test_texts_longer_than_the_limit_are_truncated(tiny: tuple[Path, Any]) -> None:
    scorer = Scorer(tiny[0])
    assert len(scorer.tokenizer.encode("word " * 500).ids) == scorer.meta.max_length


def test_a_folder_without_artifact_json_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"no artifact\.json"):
        Scorer(tmp_path)


def test_the_scorer_needs_neither_torch_nor_transformers(tiny: tuple[Path, Any]) -> None:
    code = (
        "import sys; from pathlib import Path; from model.scorer import Scorer; "
        f"s = Scorer(Path({str(tiny[0])!r})); s.score(['hello']); "
        "bad = [m for m in ('torch', 'transformers') if m in sys.modules]; "
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr + result.stdout


def test_a_row_labelled_none_is_a_negative_for_every_area(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from training.dataset import load_splits

    rows = [
        {"split": "train", "text": "hallo", "language": "de", "policy_areas": ["none"],
         "unknown_areas": ["spam_fraud", "privacy"], "risk_tier": "low", "source": "s", "label_confidence": 1.0},
        {"split": "train", "text": "du Idiot", "language": "de", "policy_areas": ["harassment"],
         "unknown_areas": ["spam_fraud", "privacy"], "risk_tier": "medium", "source": "s", "label_confidence": 1.0},
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "corpus.parquet")
    areas = get_taxonomy().area_names
    spam = areas.index("spam_fraud")
    implied = load_splits(tmp_path)["train"]
    assert implied.known[0].all() and implied.areas[0, spam] == 0
    assert not implied.known[1, spam]  # a violation row keeps its source's unknowns
    faithful = load_splits(tmp_path, none_implies_negatives=False)["train"]
    assert not faithful.known[0, spam]


def test_source_conventions_offset_only_non_reference_sources() -> None:
    import torch

    from training.modeling import SourceConventions

    conventions = SourceConventions(["authored", "davidson"], [True, False], hidden=4, n_outputs=2)
    with torch.no_grad():
        conventions.weight.fill_(0.5)
        conventions.bias.fill_(1.0)
    pooled = torch.ones(2, 4)
    offset, penalty = conventions(pooled, torch.tensor([0, 1]))
    assert offset[0].tolist() == [0.0, 0.0]  # the reference source is scored by the served heads alone
    assert offset[1].tolist() == [3.0, 3.0]  # 4 x 0.5 + 1
    assert float(penalty) == 0.5 * (2 * 4 * 0.25)  # the non-reference row's squared weights, averaged
