"""The evaluation report: one self-contained HTML file (``index.html``), its plots as PNG files beside it,
and the full result as ``result.json``. Matplotlib (Agg backend) is imported only when plotting."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from evaluation.harness import EvaluationResult, SliceMetrics

RELIABILITY_PNG = "reliability.png"
PR_CURVE_PNG = "pr_curve.png"
CONFUSION_PNG = "confusion.png"
RESULT_JSON = "result.json"
INDEX_HTML = "index.html"

_STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f2f2f2; }
img { max-width: 32em; margin-right: 1em; }
.note { color: #555; font-size: 0.9em; }
"""


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _slice_table(slices: Sequence[SliceMetrics]) -> str:
    return _table(["slice", "n", "tier macro-F1", "high-risk n", "high-risk recall"],
                  [(s.name, s.n, s.tier_macro_f1, s.n_high, s.high_risk_recall) for s in slices])


def write_plots(result: EvaluationResult, out: Path) -> list[str]:
    """The reliability diagram, the precision-recall curve of P(high) and the confusion matrix as PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        written.append(name)

    fig, ax = plt.subplots(figsize=(5, 5))
    filled = [b for b in result.reliability if b.n]
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    ax.bar([(b.low + b.high) / 2 for b in filled], [b.accuracy or 0.0 for b in filled],
           width=[b.high - b.low for b in filled], alpha=0.6, edgecolor="black", label="accuracy")
    ax.plot([b.confidence or 0.0 for b in filled], [b.accuracy or 0.0 for b in filled], marker="o", color="C1",
            label="bins (mean confidence, accuracy)")
    ax.set(xlabel="top-tier confidence", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1),
           title=f"Reliability (tier ECE {result.tier_ece:.3f})")
    ax.legend(loc="upper left")
    save(fig, RELIABILITY_PNG)

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([p.recall for p in result.pr_curve], [p.precision for p in result.pr_curve], marker=".")
    hr = result.high_risk
    ax.scatter([hr.recall], [hr.precision], color="red", zorder=3, label=f"deployed threshold {hr.threshold:.3f}")
    ax.set(xlabel="recall (high risk)", ylabel="precision (high risk)", xlim=(0, 1.02), ylim=(0, 1.02),
           title="Precision-recall of P(high)")
    ax.legend(loc="lower left")
    save(fig, PR_CURVE_PNG)

    fig, ax = plt.subplots(figsize=(5, 4.5))
    matrix = result.confusion
    ax.imshow(matrix, cmap="Blues")
    labels = result.tier_labels
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    top = max((v for row in matrix for v in row), default=0)
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center", color="white" if value > top / 2 else "black")
    ax.set(xlabel="decided tier", ylabel="true tier", title="Confusion matrix of tiers")
    save(fig, CONFUSION_PNG)
    return written


def _conformal_section(result: EvaluationResult) -> str:
    c, own = result.conformal, result.artifact_conformal
    deployed = "" if own is None else (
        f"<p>The artifact's own conformal thresholds (fitted at export, used by routing's "
        f"<code>grey.high_risk_possible</code> rule): miss rate {own.miss_rate:.2%} of the high-risk rows, "
        f"workload {own.workload:.1%}.</p>")
    if c is None:
        return ("<h2>Conformal high-risk threshold</h2>" + deployed + "<p class='note'>Not refitted: no "
                "calibration rows were given.</p>")
    rows = [
        ("deployed (artifact)", c.deployed.threshold, c.deployed.miss_rate, c.deployed.workload),
        ("conformal, pooled", c.pooled.threshold, c.pooled.miss_rate, c.pooled.workload),
        ("conformal, per language (Mondrian)", None, c.mondrian_outcome.miss_rate, c.mondrian_outcome.workload),
    ]
    groups = [(name, g.threshold, g.n_calibration_high, g.pooled_fallback, g.degenerate, g.n_high, g.miss_rate)
              for name, g in c.mondrian.items()]
    degenerate = (" <b>The pooled fit is degenerate (too few high-risk calibration rows): threshold 0, "
                  "everything goes to people.</b>") if c.pooled_degenerate else ""
    return (
        "<h2>Conformal high-risk threshold</h2>"
        f"<p>alpha {c.alpha:g}: fitted on {c.n_calibration:,} calibration rows ({c.n_calibration_high:,} high risk), "
        f"judged on the {result.n:,} evaluated rows ({c.n_high:,} high risk). The miss rate is the share of "
        "truly high-risk reports scored below the threshold; the workload is the share of all reports at or "
        f"above it (sent to people).{degenerate}</p>"
        + _table(["threshold", "value", "miss rate", "workload"], rows) + deployed
        + "<p class='note'>Per language (<code>*</code>: pooled; a language with too few high-risk calibration "
          "rows falls back to the pooled threshold). Guarantee: miss rate at most alpha on average, if "
          "calibration and evaluated rows are exchangeable.</p>"
        + _table(["language", "threshold", "calibration high-risk n", "pooled fallback", "degenerate",
                  "evaluated high-risk n", "miss rate"], groups)
    )


def _routing_section(result: EvaluationResult) -> str:
    r = result.routing
    if r is None:
        return ""
    reached = ("" if r.high_risk_to_people is None else
               f" {r.high_risk_to_people:.1%} of the {r.n_high:,} truly high-risk reports reach a person "
               "(escalated, or sent to specialist review by a grey-area rule).")
    return (
        "<h2>Routing</h2>"
        f"<p>Routing policy {html.escape(r.policy_version)}, language detected from the text, no report signals: "
        f"{r.automated:.1%} of reports are automated (auto-routed or auto-closed), {r.to_people:.1%} go to "
        f"people.{html.escape(reached)}</p>"
        + _table(["action", "share"], r.actions.items())
        + "<p class='note'>Grey-area rules (a report may fire several):</p>"
        + _table(["rule", "share of reports"], r.grey_rules.items())
    )


def render_html(result: EvaluationResult, title: str, context: Sequence[tuple[str, str]] = ()) -> str:
    """The report's HTML (plots referenced by file name, beside it)."""
    headline = _table(["metric", "value"], result.headline().items())
    per_class = _table(["tier", "precision", "recall", "F1", "support"],
                       [(k, v.precision, v.recall, v.f1, v.support) for k, v in result.tier_per_class.items()])
    areas = _table(["policy area", "F1 (known labels)"], result.area_f1.items())
    about = _table(["", ""], context) if context else ""
    slices = "".join(f"<h3>Per {html.escape(kind.replace('_', ' '))}</h3>{_slice_table(s)}"
                     for kind, s in result.slices.items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{_STYLE}</style></head>
<body>
<h1>{html.escape(title)}</h1>
{about}
<h2>Headline</h2>
<p class="note">Tiers as deployed: high when P(high) reaches the artifact's threshold
({result.high_risk.threshold:.4f}), else the likelier of the others. Area metrics count only the labels a
source gave.</p>
{headline}
<h3>Risk tiers</h3>
{per_class}
<h3>Policy areas</h3>
{areas}
<h2>Plots</h2>
<p><img src="{RELIABILITY_PNG}" alt="reliability diagram"><img src="{PR_CURVE_PNG}" alt="precision-recall curve">
<img src="{CONFUSION_PNG}" alt="confusion matrix"></p>
<h2>Slices</h2>
<p class="note">Languages and sources partition the rows; a row with several policy areas is in each of
their slices. High-risk recall is blank where a slice holds no high-risk row.</p>
{slices}
{_routing_section(result)}
{_conformal_section(result)}
</body></html>
"""


def write_report(result: EvaluationResult, out: Path, title: str = "Triage evaluation",
                 context: Sequence[tuple[str, str]] = ()) -> Path:
    """Write ``index.html``, the PNG plots and ``result.json`` into ``out``; returns the HTML file."""
    out.mkdir(parents=True, exist_ok=True)
    write_plots(result, out)
    (out / RESULT_JSON).write_text(result.model_dump_json(indent=2), encoding="utf-8")
    index = out / INDEX_HTML
    index.write_text(render_html(result, title, context), encoding="utf-8")
    return index
