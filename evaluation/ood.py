"""The out-of-distribution evaluation: how a model does on whole sources it never saw.

The corpus holds a fixed set of sources out of training, validation and calibration (the ``ood`` split,
``training.data.build.OOD_SOURCES``). A model that learnt its training sources' styles instead of harm
ranks their rows no better than chance; this module measures, per held-out source:

- ``harm_auroc``: how well the harm score ``1 - P(low)`` ranks harmful rows (medium or high tier) above
  benign ones (low tier); ``high_auroc``: the same for ``P(high)`` and the high tier;
- with routing (``triage evaluate --ood``): the share of truly high-risk rows that reach a person
  (escalation or specialist review), the shares of benign rows auto-closed and escalated, and the split
  of all rows over the routing actions.

Everything here is pure and numpy-only, so training (torch logits of a run, no routing) and evaluation (the
exported artifact, routed by the policy) report the same figures.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

if TYPE_CHECKING:
    from model.scorer import Scorer
    from serving.policy import RoutingPolicy

Floats = npt.NDArray[np.floating[Any]]
Bools = npt.NDArray[np.bool_]

#: Routing actions that put a report in front of a person.
TO_PEOPLE = frozenset({"escalate", "review"})
#: The targets the model-quality work is judged by (issue 26; README "Model quality on unseen sources").
TARGET_MEAN_HARM_AUROC = 0.80
TARGET_MIN_HARM_AUROC = 0.70


def auroc(scores: Floats, positive: Bools) -> float | None:
    """The area under the ROC curve (the Mann-Whitney U statistic, ties counted half); None without both
    classes."""
    positive = np.asarray(positive, dtype=np.bool_)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = np.asarray(scores)[order]
    # Average ranks over ties.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(average, counts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


class SourceOOD(BaseModel):
    """One held-out source's figures. Shares are of that source's rows; None where undefined."""

    source: str
    n: int
    n_harmful: int
    n_high: int
    languages: list[str]
    harm_auroc: float | None
    high_auroc: float | None
    #: Truly high-risk rows the model calls high (its tier decision).
    high_recall_tier: float | None
    #: Benign rows the model calls high (its tier decision).
    benign_high_tier: float | None
    #: With routing: truly high-risk rows that reach a person (escalated or reviewed).
    high_to_people: float | None = None
    #: With routing: harmful rows (medium or high) that reach a person or a team queue (not auto-closed).
    harmful_actioned: float | None = None
    benign_auto_closed: float | None = None
    benign_escalated: float | None = None
    benign_to_people: float | None = None
    #: With routing: the share of the source's rows per routing action.
    actions: dict[str, float] = {}


class OODReport(BaseModel):
    sources: list[SourceOOD]
    mean_harm_auroc: float | None
    min_harm_auroc: float | None
    #: Pooled over every held-out source's rows (not the mean of the sources).
    pooled_high_to_people: float | None = None
    pooled_benign_escalated: float | None = None

    def flat(self) -> dict[str, float]:
        """``{"ood.<source>.<metric>": value}`` for tracking (None values left out)."""
        out: dict[str, float] = {}
        for summary in ("mean_harm_auroc", "min_harm_auroc", "pooled_high_to_people", "pooled_benign_escalated"):
            value = getattr(self, summary)
            if value is not None:
                out[f"ood.{summary}"] = value
        for src in self.sources:
            for key, value in src.model_dump(exclude={"source", "languages", "actions"}).items():
                if value is not None:
                    out[f"ood.{src.source}.{key}"] = float(value)
            for action, share in src.actions.items():
                out[f"ood.{src.source}.action.{action}"] = share
        return out


def _share(mask: Bools, of: Bools) -> float | None:
    n = int(of.sum())
    return float((mask & of).sum() / n) if n else None


def ood_report(rows: Sequence[Mapping[str, Any]], tier_probs: Floats, tier_labels: Sequence[str],
               tier_pred: npt.NDArray[np.integer[Any]], actions: Sequence[str] | None = None) -> OODReport:
    """Per-source figures of scored held-out rows (``source``, ``risk_tier``, ``language`` keys);
    ``tier_pred`` is the model's tier decision per row, ``actions`` the routing action per row when routed."""
    low, high = tier_labels.index("low"), tier_labels.index("high")
    true = np.array([tier_labels.index(str(r["risk_tier"])) for r in rows], dtype=np.int64)
    harm = 1.0 - np.asarray(tier_probs[:, low], dtype=np.float64)
    p_high = np.asarray(tier_probs[:, high], dtype=np.float64)
    action = np.array(actions if actions is not None else [""] * len(rows), dtype=object)
    by_source: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        by_source[str(row["source"])].append(i)
    sources = []
    for name, members in sorted(by_source.items()):
        index = np.array(members, dtype=np.int64)
        t, a = true[index], action[index]
        harmful, benign, is_high = t != low, t == low, t == high
        called_high = tier_pred[index] == high
        routed: dict[str, Any] = {}
        if actions is not None:
            people = np.isin(a, list(TO_PEOPLE))
            routed = {
                "high_to_people": _share(people, is_high),
                "harmful_actioned": _share(a != "auto_close", harmful),
                "benign_auto_closed": _share(a == "auto_close", benign),
                "benign_escalated": _share(a == "escalate", benign),
                "benign_to_people": _share(people, benign),
                "actions": {k: v / len(index) for k, v in sorted(Counter(a.tolist()).items())},
            }
        sources.append(SourceOOD(
            source=name, n=len(index), n_harmful=int(harmful.sum()), n_high=int(is_high.sum()),
            languages=sorted({str(rows[i]["language"]) for i in members}),
            harm_auroc=auroc(harm[index], harmful), high_auroc=auroc(p_high[index], is_high),
            high_recall_tier=_share(called_high, is_high), benign_high_tier=_share(called_high, benign), **routed,
        ))
    aurocs = [s.harm_auroc for s in sources if s.harm_auroc is not None]
    pooled: dict[str, float | None] = {}
    if actions is not None:
        people = np.isin(action, list(TO_PEOPLE))
        pooled = {"pooled_high_to_people": _share(people, true == high),
                  "pooled_benign_escalated": _share(action == "escalate", true == low)}
    return OODReport(sources=sources, mean_harm_auroc=float(np.mean(aurocs)) if aurocs else None,
                     min_harm_auroc=min(aurocs) if aurocs else None, **pooled)


def routed_report(scorer: Scorer, rows: Sequence[Mapping[str, Any]], policy: RoutingPolicy) -> OODReport:
    """Score ``rows`` with the exported model, route them as the service would (``policy``, the language
    detected from the text, no report signals) and report per source."""
    from evaluation.routing_shares import route_scores
    from model.scorer import decide_tiers, to_scores

    meta = scorer.meta
    texts = [str(r["text"]) for r in rows]
    tier_probs, area_probs = scorer.probabilities(texts)
    routes = route_scores(meta, texts, to_scores(meta, tier_probs, area_probs), policy)
    tier_pred = decide_tiers(tier_probs, meta.tier_labels.index("high"), meta.thresholds.high_risk)
    return ood_report(rows, tier_probs, meta.tier_labels, tier_pred, [r.action.value for r in routes])


def sample_per_source(rows: Sequence[Mapping[str, Any]], limit: int | None, seed: int) -> list[Mapping[str, Any]]:
    """At most ``limit`` rows of each source (a uniform sample, in the rows' order); all with None."""
    if limit is None:
        return list(rows)
    rng = np.random.default_rng(seed)
    by_source: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        by_source[str(row["source"])].append(i)
    keep: list[int] = []
    for _, members in sorted(by_source.items()):
        keep.extend(members if len(members) <= limit else rng.choice(members, size=limit, replace=False).tolist())
    return [rows[i] for i in sorted(keep)]


def format_table(report: OODReport) -> str:
    """The report as a Markdown table, one row per held-out source, then the summary line."""

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    lines = ["| source | languages | rows | harmful | high | harm AUROC | high AUROC | high recall (tier) | "
             "high to a person | benign auto-closed | benign escalated | benign to a person | routing |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for s in report.sources:
        routing = ", ".join(f"{k} {v:.0%}" for k, v in s.actions.items()) or "-"
        lines.append(f"| {s.source} | {', '.join(s.languages)} | {s.n:,} | {s.n_harmful:,} | {s.n_high:,} | "
                     f"{num(s.harm_auroc)} | {num(s.high_auroc)} | {pct(s.high_recall_tier)} | "
                     f"{pct(s.high_to_people)} | {pct(s.benign_auto_closed)} | {pct(s.benign_escalated)} | "
                     f"{pct(s.benign_to_people)} | {routing} |")
    summary = (f"mean harm AUROC {num(report.mean_harm_auroc)} (target >= {TARGET_MEAN_HARM_AUROC}), "
               f"min {num(report.min_harm_auroc)} (target >= {TARGET_MIN_HARM_AUROC})")
    if report.pooled_high_to_people is not None or report.pooled_benign_escalated is not None:
        summary += (f"; pooled: high-risk rows to a person {pct(report.pooled_high_to_people)}, "
                    f"benign rows escalated {pct(report.pooled_benign_escalated)}")
    return "\n".join([*lines, "", summary])
