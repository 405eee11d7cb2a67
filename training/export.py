"""``triage export``: from a training run to the self-describing serving artifact.

1. The vocabulary trimmed to the tokens the corpus uses (``training.vocabulary``), in the tokenizer and the
   word embeddings; ONNX export of the fine-tuned model with eager attention (fp32, legacy exporter: one
   file, dynamic batch and length), the pattern onnxruntime's optimizer fuses.
2. Graph optimisation for BERT (onnxruntime's transformer optimizer: embedding layer norm, one fused
   ``Attention`` op per layer, skip layer norm, bias gelu), then dynamic int8 quantization of the optimised
   graph (per-channel int8 weights, activations quantized at run time): by default every MatMul but the
   feed-forward output projections (``ExportOptions``, ``feed_forward_matmuls``).
3. Parity: torch vs onnxruntime fp32 probabilities on validation rows, and int8 vs fp32 top tier.
4. Calibration on the calibration split with the int8 model's outputs (the model that serves):
   temperatures per head, area thresholds, the high-risk threshold.
5. Test metrics of int8 and fp32 (their delta), ECE before and after calibration.
6. ``artifact.json`` written, the folder logged to the training run in MLflow as a pyfunc model,
   registered as ``triage-classifier`` with the alias ``challenger``; the model card generated.
"""

from __future__ import annotations

import itertools
import json
import logging
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from evaluation.conformal import mondrian_thresholds
from evaluation.ood import OODReport, routed_report, sample_per_source
from model.artifact import ArtifactMeta, Conformal, Optimisation, Temperatures, Thresholds
from model.scorer import Scorer, calibrate, sigmoid, softmax
from model.settings import Settings, get_settings
from model.taxonomy import get_taxonomy
from training.calibration import (
    area_thresholds,
    fit_area_temperature,
    fit_tier_temperature,
    high_risk_threshold,
)
from training.config import TrainConfig
from training.dataset import SplitArrays, load_splits
from training.summary import TrainingSummary
from training.train import WEIGHTS, evaluate, held_out_sample
from training.vocabulary import TokenIds, kept_ids, trim_embeddings, trim_tokenizer, used_token_ids

log = logging.getLogger(__name__)
Floats = npt.NDArray[np.float32]
PARITY_ROWS = 256
#: Which MatMuls the int8 model quantizes: ``all``; ``ffn-input`` (all but each layer's feed-forward output
#: projection, whose input, after the GELU, has the outliers per-tensor activation quantization handles
#: worst); ``attention`` (both feed-forward MatMuls stay fp32).
Quantize = Literal["all", "ffn-input", "attention"]
#: The vocabulary the artifact keeps: the tokens of the corpus' own splits, or the encoder's whole one.
Vocabulary = Literal["corpus", "full"]
#: The splits whose texts decide the kept vocabulary: never the held-out sources (``ood``).
VOCABULARY_SPLITS = ("train", "validation", "calibration", "test")


@dataclass(frozen=True)
class ExportOptions:
    """How the serving model is made smaller and faster; each choice is measured (``benchmarks/variants.py``,
    BENCHMARKS.md) against its cost on held-out sources and in-distribution F1."""

    quantize: Quantize = "ffn-input"
    vocabulary: Vocabulary = "corpus"


@dataclass
class ExportResult:
    artifact_dir: Path
    meta: ArtifactMeta
    model_version: str | None


def _load_torch_model(run_dir: Path, summary: TrainingSummary) -> Any:
    from safetensors.torch import load_file
    from transformers import BertModel

    from training.modeling import TriageClassifier, encoder_config

    config = encoder_config(summary.encoder_dir, summary.config.get("encoder_layers"))
    encoder = BertModel(config, add_pooling_layer=False)
    model = TriageClassifier(encoder, len(summary.tier_labels), len(summary.area_labels))
    model.load_state_dict(load_file(str(run_dir / WEIGHTS)))
    model.eval()
    return model


def export_onnx(model: Any, path: Path) -> None:
    """``model`` as ONNX at ``path``, with eager attention: the same function as training's (sdpa), exported as
    the MatMul / Softmax pattern that onnxruntime's optimizer fuses into one Attention op per layer (the sdpa
    export it leaves as some 20 ops a layer)."""
    import torch

    model.encoder.set_attn_implementation("eager")
    ids = torch.tensor([[0, 41, 1294, 12, 87, 2], [0, 41, 1294, 12, 2, 1]], dtype=torch.long)
    mask = (ids != 1).long()
    with torch.no_grad():
        torch.onnx.export(
            model, (ids, mask), str(path), input_names=["input_ids", "attention_mask"],
            output_names=["tier_logits", "area_logits"], opset_version=17, dynamo=False,
            dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                          "tier_logits": {0: "batch"}, "area_logits": {0: "batch"}},
        )


def optimize_and_quantize(fp32_path: Path, optimized_path: Path, int8_path: Path, heads: int, hidden: int,
                          quantize: Quantize = ExportOptions.quantize) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(str(fp32_path), model_type="bert", num_heads=heads, hidden_size=hidden,
                               opt_level=1)
    optimized.save_model_to_file(str(optimized_path))
    quantize_dynamic(str(optimized_path), str(int8_path), weight_type=QuantType.QInt8, per_channel=True,
                     nodes_to_exclude=fp32_matmuls(optimized_path, quantize),
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def fused_attention_ops(path: Path) -> int:
    """How many fused ``Attention`` (fp32) or ``QAttention`` (int8) ops the graph at ``path`` has."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return sum(node.op_type in ("Attention", "QAttention") for node in graph.node)


def fp32_matmuls(path: Path, quantize: Quantize) -> list[str]:
    """The MatMuls of the graph at ``path`` that ``quantize`` leaves fp32."""
    if quantize == "all":
        return []
    names = feed_forward_matmuls(path)
    if quantize == "ffn-input":
        return [name for name in names if name.endswith("/output/dense/MatMul")]
    return names


def feed_forward_matmuls(path: Path) -> list[str]:
    """The feed-forward MatMuls of every layer (hidden -> 1536 -> hidden).

    Their activations (around the GELU) have the outliers that per-tensor dynamic activation quantization
    handles worst. Measured on one quick run (2026-12-07, ``benchmarks/variants.py``, BENCHMARKS.md; this CPU has
    AVX2 but no VNNI, so int8 MatMuls gain little over fp32), against the export before (unfused attention,
    both feed-forward MatMuls fp32): ``ffn-input`` 1.14x the reports/s, test macro-F1 -0.005 (tier) / +0.013
    (areas), held-out harm AUROC -0.006; ``all`` 1.32x but tier macro-F1 -0.017, and int8 keeps fp32's top
    tier on only 93% of validation rows (96.5% with ``ffn-input``).
    """
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return [n.name for n in graph.node if n.op_type == "MatMul" and "/attention/" not in n.name
            and (n.name.endswith("/output/dense/MatMul") or n.name.endswith("/intermediate/dense/MatMul"))]


def _torch_probs(model: Any, scorer: Scorer, texts: list[str]) -> tuple[Floats, Floats]:
    import torch

    from model.scorer import combine_windows, pad_batch

    # The scorer's own model inputs (windows of long texts included), combined as the scorer combines them.
    encodings, owner = scorer.encode_windows(texts)
    tiers, areas = [], []
    for start in range(0, len(encodings), 32):
        ids, mask = pad_batch(encodings[start : start + 32], scorer.meta.pad_id)
        with torch.no_grad():
            t, a = model(torch.from_numpy(ids), torch.from_numpy(mask))
        tiers.append(t.numpy())
        areas.append(a.numpy())
    tier, area = np.concatenate(tiers), np.concatenate(areas)
    if len(encodings) == len(texts):
        return tier, area
    return combine_windows(tier, area, owner, len(texts), scorer.meta.tier_labels.index("low"))


def parity(model: Any, fp32: Scorer, texts: list[str], fp32_logits: tuple[Floats, Floats],
           int8_logits: tuple[Floats, Floats]) -> dict[str, float]:
    """How far onnxruntime fp32 is from torch (probabilities, on the first rows), and how often int8 keeps
    fp32's top tier (on all of ``texts``, whose fp32 and int8 logits are given)."""
    rows = min(PARITY_ROWS, len(texts))
    torch_tier, torch_areas = _torch_probs(model, fp32, texts[:rows])
    ort_tier, ort_areas = fp32_logits[0][:rows], fp32_logits[1][:rows]
    tier_gap = float(np.abs(softmax(torch_tier) - softmax(ort_tier)).max())
    area_gap = float(np.abs(sigmoid(torch_areas) - sigmoid(ort_areas)).max())
    agreement = float(np.mean(fp32_logits[0].argmax(axis=1) == int8_logits[0].argmax(axis=1)))
    return {"torch_vs_onnx_fp32_max_prob_diff": max(tier_gap, area_gap), "parity_rows": float(rows),
            "int8_vs_fp32_top_tier_agreement": agreement, "agreement_rows": float(len(texts))}


def _metrics(split: SplitArrays, logits: tuple[Floats, Floats], temps: tuple[float, float],
             thresholds: dict[str, float], high: float) -> dict[str, Any]:
    report = evaluate(split, *logits, temps, thresholds, high)
    report["tier_ece_uncalibrated"] = evaluate(split, *logits, (1.0, 1.0), thresholds, high)["tier_ece"]
    return report


def _megabytes(path: Path) -> float:
    return float(f"{path.stat().st_size / 2**20:.1f}")


def fit_conformal(scorer: Scorer, calibration: SplitArrays, temps: tuple[float, float], high: int,
                  alpha: float) -> Conformal:
    """The conformal high-risk thresholds (``model.artifact.Conformal``) on every truly high-risk row of the
    calibration split, not a sample: only those rows set the thresholds, and all of them are few."""
    rows = calibration.take(np.flatnonzero(calibration.tier == high).astype(np.int64))
    tier_probs, _ = calibrate(*scorer.logits(rows.texts), *temps)
    fits = mondrian_thresholds(tier_probs[:, high], np.ones(len(rows), dtype=np.bool_), rows.languages, alpha)
    return Conformal(
        alpha=alpha,
        high_risk={group: fit.threshold for group, fit in fits.items()},
        n_calibration_high={group: fit.n_calibration for group, fit in fits.items()},
        pooled_languages=sorted(group for group, fit in fits.items() if fit.pooled),
    )


#: A language needs this many training rows to count as supported (``ArtifactMeta.languages``): routing
#: sends reports in other languages to specialist review (``grey.language_unsupported``).
MIN_LANGUAGE_TRAIN_ROWS = 300


def supported_languages(train_languages: list[str]) -> list[str]:
    counts = Counter(train_languages)
    return sorted(lang for lang, n in counts.items() if n >= MIN_LANGUAGE_TRAIN_ROWS)


def held_out_sources_report(scorer: Scorer, ood: SplitArrays | None, config: TrainConfig, settings: Settings,
                            ) -> OODReport | None:
    """The exported model on a sample of each held-out source, routed by the configured policy
    (``evaluation.ood``); None when the corpus holds no source out."""
    from serving.policy import load_policy

    if ood is None or config.max_ood_rows_per_source == 0:
        return None
    tiers = get_taxonomy().tier_names
    rows = [{"text": text, "source": source, "language": language, "risk_tier": tiers[tier]}
            for text, source, language, tier in zip(ood.texts, ood.sources, ood.languages, ood.tier.tolist(),
                                                    strict=True)]
    sample = sample_per_source(rows, config.max_ood_rows_per_source, config.seed)
    return routed_report(scorer, sample, load_policy(settings.routing_policy))


def corpus_vocabulary(tokenizer_spec: dict[str, Any], splits: dict[str, SplitArrays], prefix: str) -> TokenIds:
    """The token ids to keep: those the texts of the corpus' own splits use, the special tokens and every
    single character (``training.vocabulary.kept_ids``)."""
    from tokenizers import Tokenizer

    texts = itertools.chain.from_iterable(splits[name].texts for name in VOCABULARY_SPLITS if name in splits)
    tokenizer = Tokenizer.from_str(json.dumps(tokenizer_spec))
    return kept_ids(tokenizer_spec, used_token_ids(tokenizer, prefix, texts))


def _write_onnx(run_dir: Path, summary: TrainingSummary, folder: Path, options: ExportOptions,
                splits: dict[str, SplitArrays]) -> tuple[Any, Optimisation]:
    """The run's model as ONNX in ``folder`` (fp32, and int8 from it), with its tokenizer, both over the
    vocabulary ``options`` asks for; the torch model (with that vocabulary) and what was done."""
    encoder_settings = json.loads((summary.encoder_dir / "config.json").read_text())
    model = _load_torch_model(run_dir, summary)
    spec = json.loads((summary.encoder_dir / "tokenizer.json").read_text(encoding="utf-8"))
    pretrained_size = len(spec["model"]["vocab"])
    if options.vocabulary == "corpus":
        keep = corpus_vocabulary(spec, splits, summary.text_prefix)
        spec = trim_tokenizer(spec, keep)
        trim_embeddings(model, keep)
        log.info("vocabulary: %d of %d pieces kept (those the corpus uses)", len(keep), pretrained_size)
    (folder / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    raw = folder / "model.raw.onnx"
    export_onnx(model, raw)
    optimize_and_quantize(raw, folder / "model.fp32.onnx", folder / "model.onnx",
                          encoder_settings["num_attention_heads"], encoder_settings["hidden_size"], options.quantize)
    raw.unlink()
    fused = fused_attention_ops(folder / "model.onnx")
    done = Optimisation(attention="fused" if fused else "unfused", quantized=options.quantize,
                        vocabulary_size=len(spec["model"]["vocab"]), pretrained_vocabulary_size=pretrained_size)
    return model, done


def _provisional_meta(summary: TrainingSummary, config: TrainConfig, optimisation: Optimisation) -> ArtifactMeta:
    """The artifact's metadata before calibration (identity: temperatures 1, thresholds 0.5, no languages)."""
    return ArtifactMeta(
        name="triage-classifier", version=summary.run_name, created_at=datetime.now(UTC),
        taxonomy_version=get_taxonomy().version, tier_labels=summary.tier_labels, area_labels=summary.area_labels,
        text_prefix=summary.text_prefix, max_length=summary.max_length, max_windows=config.max_windows,
        pad_id=summary.pad_id,
        temperatures=Temperatures(tier=1.0, areas=1.0),
        thresholds=Thresholds(areas={a: 0.5 for a in summary.area_labels}, high_risk=0.5),
        corpus_fingerprint=summary.corpus_fingerprint, languages=[], encoder=summary.encoder,
        training=summary.artifact_training(), optimisation=optimisation,
    )


@dataclass
class Calibration:
    """What export fits on the int8 model's outputs for the calibration split."""

    tier_t: float
    area_t: float
    thresholds: dict[str, float]
    high_t: float
    conformal: Conformal

    @property
    def temps(self) -> tuple[float, float]:
        return self.tier_t, self.area_t

    def meta_update(self, languages: list[str]) -> dict[str, Any]:
        """These, and the supported ``languages``, as an update of ``ArtifactMeta``."""
        return {"temperatures": Temperatures(tier=self.tier_t, areas=self.area_t),
                "thresholds": Thresholds(areas=self.thresholds, high_risk=self.high_t),
                "conformal": self.conformal,
                "languages": languages}


def fit_calibration(int8: Scorer, sample: SplitArrays, calibration: SplitArrays, config: TrainConfig) -> Calibration:
    """Temperatures, area thresholds and the high-risk threshold on ``sample`` (of the calibration split); the
    conformal thresholds on the whole ``calibration`` split's high-risk rows."""
    taxonomy = get_taxonomy()
    logits = int8.logits(sample.texts)
    tier_t = fit_tier_temperature(logits[0], sample.tier)
    area_t = fit_area_temperature(logits[1], sample.areas, sample.known)
    tier_probs, area_probs = calibrate(*logits, tier_t, area_t)
    thresholds = area_thresholds(area_probs, sample.areas, sample.known, taxonomy.area_names)
    high_t = high_risk_threshold(tier_probs, sample.tier, taxonomy.tier_names.index("high"),
                                 config.high_risk_recall, config.max_low_escalated,
                                 taxonomy.tier_names.index("low"))
    conformal = fit_conformal(int8, calibration, (tier_t, area_t), taxonomy.tier_names.index("high"),
                              config.conformal_alpha)
    return Calibration(tier_t, area_t, thresholds, high_t, conformal)


def evaluate_export(int8: Scorer, fp32: Scorer, held_out: dict[str, SplitArrays],
                    validation_int8: tuple[Floats, Floats], checks: dict[str, float],
                    fitted: Calibration) -> dict[str, Any]:
    """The calibrated int8 model on validation and test, fp32 on test, the parity ``checks``, and the
    int8 - fp32 delta of the headline test figures."""
    validation, test = held_out["validation"], held_out["test"]
    temps, thresholds, high_t = fitted.temps, fitted.thresholds, fitted.high_t
    metrics: dict[str, Any] = {
        "validation": _metrics(validation, validation_int8, temps, thresholds, high_t),
        "test": _metrics(test, int8.logits(test.texts), temps, thresholds, high_t),
        "test_fp32": _metrics(test, fp32.logits(test.texts), temps, thresholds, high_t),
        "parity": checks,
    }
    metrics["int8_minus_fp32"] = {
        k: metrics["test"][k] - metrics["test_fp32"][k]
        for k in ("tier_macro_f1", "area_macro_f1", "high_risk_recall", "high_risk_precision", "tier_ece")
    }
    return metrics


def export(run_dir: Path, artifact_dir: Path, track: bool = True, settings: Settings | None = None,
           options: ExportOptions | None = None) -> ExportResult:
    started = time.perf_counter()
    options = options or ExportOptions()
    summary = TrainingSummary.load(run_dir)
    config = summary.train_config()
    taxonomy = get_taxonomy()
    if summary.taxonomy_version != taxonomy.version:
        raise ValueError(f"run {run_dir} was trained on taxonomy {summary.taxonomy_version}, "
                         f"this code has {taxonomy.version}")
    tmp = artifact_dir.with_name(artifact_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    splits = load_splits(config.corpus_dir, config.none_implies_negatives)
    model, optimisation = _write_onnx(run_dir, summary, tmp, options, splits)
    export_seconds = time.perf_counter() - started

    # A provisional artifact.json (identity calibration) lets the Scorer load the folder for evaluation.
    meta = _provisional_meta(summary, config, optimisation)
    meta.save(tmp)
    int8 = Scorer(tmp)
    fp32 = Scorer(tmp, use_fp32=True)

    held_out = {name: held_out_sample(splits, name, config) for name in ("validation", "calibration", "test")}
    validation = held_out["validation"]
    validation_int8 = int8.logits(validation.texts)
    checks = parity(model, fp32, validation.texts, fp32.logits(validation.texts), validation_int8)
    fitted = fit_calibration(int8, held_out["calibration"], splits["calibration"], config)
    metrics = evaluate_export(int8, fp32, held_out, validation_int8, checks, fitted)
    languages = supported_languages(splits["train"].languages)
    metrics["sizes_mb"] = {"int8": _megabytes(tmp / "model.onnx"), "fp32": _megabytes(tmp / "model.fp32.onnx")}
    meta.model_copy(update=fitted.meta_update(languages)).save(tmp)
    ood = held_out_sources_report(Scorer(tmp), splits.get("ood"), config, settings or get_settings())
    if ood is not None:
        metrics["ood"] = ood.model_dump()
    metrics["export_seconds"] = float(f"{export_seconds:.1f}")
    meta = meta.model_copy(update={**fitted.meta_update(languages), "metrics": metrics})
    meta.save(tmp)
    shutil.rmtree(artifact_dir, ignore_errors=True)
    tmp.rename(artifact_dir)

    version = None
    if track and summary.mlflow_run_id:
        version = _track(artifact_dir, meta, summary.mlflow_run_id, settings or get_settings())
    return ExportResult(artifact_dir=artifact_dir, meta=meta, model_version=version)


def _track(artifact_dir: Path, meta: ArtifactMeta, run_id: str, settings: Settings) -> str:
    import mlflow

    from model import registry

    registry.configure(settings)
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metrics(registry.flatten({k: v for k, v in meta.metrics.items()}))
        mlflow.log_dict(json.loads(meta.model_dump_json()), "artifact.json")
        version = registry.register_artifact(artifact_dir)
        registry.set_challenger(version, f"{meta.name} {meta.version} (corpus {meta.corpus_fingerprint[:19]})")
    return version
