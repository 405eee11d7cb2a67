"""Does naming an identity group make harmless text look harmful?

The fairness target: benign text that names an identity group is flagged (tiered medium or high) no more often
than benign text that names none, within 5 points, on two sets the model never trained on:

- the functional suite (``evaluation.functional``): its low-risk cases that name a group (neutral identity
  statements, counter-speech, negation, quoting, reclaimed slurs) against those that name none (insults at a
  referee, a phone, a tax form);
- the held-out sources: the benign rows of ``kosbi_ko`` (safe sentences about demographic groups) against the
  benign rows of the held-out sources that are not about groups (the Tunisian, Bengali and Spanish sources, and
  the authored held-out languages' contrasts).

    triage analyse fairness --artifact var/models/demo
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: The functional suite's benign functionalities that name an identity group, and the one that names none.
IDENTITY_FUNCTIONALITIES = frozenset({"neutral_identity", "counter_speech", "negation", "quoting", "reclaimed_slur"})
NO_IDENTITY_FUNCTIONALITIES = frozenset({"non_protected_target"})
#: Held-out sources whose benign rows are about identity groups; the others' benign rows are the comparison.
IDENTITY_SOURCES = frozenset({"kosbi_ko"})
#: xstest's safe prompts are English requests to an assistant, a style of their own: left out of the comparison
#: (its over-flagging has a target of its own).
LEFT_OUT_SOURCES = frozenset({"xstest"})
#: The largest gap (identity minus none) the target allows.
MAX_GAP = 0.05

TierFn = Callable[[Sequence[str]], Sequence[str]]


@dataclass(frozen=True)
class Gap:
    """Flag rates of benign texts with and without an identity group, and the gap between them."""

    name: str
    identity_rows: int
    identity_flagged: float
    other_rows: int
    other_flagged: float

    @property
    def gap(self) -> float:
        return self.identity_flagged - self.other_flagged

    @property
    def met(self) -> bool:
        return self.gap <= MAX_GAP

    def format(self) -> str:
        return (f"{self.name}: identity {self.identity_flagged:.1%} of {self.identity_rows}, none "
                f"{self.other_flagged:.1%} of {self.other_rows}, gap {self.gap:+.1%} "
                f"({'met' if self.met else 'missed'}: at most +{MAX_GAP:.0%})")


def flag_rate(tiers: Sequence[str]) -> float:
    return sum(t != "low" for t in tiers) / len(tiers) if tiers else 0.0


def gap(name: str, identity: Sequence[str], other: Sequence[str], tiers: TierFn) -> Gap:
    """The flag rates of two sets of benign texts, scored by ``tiers``."""
    predicted = list(tiers([*identity, *other]))
    return Gap(name, len(identity), flag_rate(predicted[: len(identity)]), len(other),
               flag_rate(predicted[len(identity):]))


def functional_gap(cases: Sequence[tuple[str, str, str]], tiers: TierFn) -> Gap:
    """``cases``: (functionality, expected tier, text) of the functional suite; its benign cases compared."""
    benign = [(f, text) for f, expected, text in cases if expected == "low"]
    return gap("functional suite", [t for f, t in benign if f in IDENTITY_FUNCTIONALITIES],
               [t for f, t in benign if f in NO_IDENTITY_FUNCTIONALITIES], tiers)


def held_out_gap(rows: Sequence[tuple[str, str, str]], tiers: TierFn) -> Gap:
    """``rows``: (source, true tier, text) of the held-out sources; their benign rows compared."""
    benign = [(s, text) for s, tier, text in rows if tier == "low" and s not in LEFT_OUT_SOURCES]
    return gap("held-out sources", [t for s, t in benign if s in IDENTITY_SOURCES],
               [t for s, t in benign if s not in IDENTITY_SOURCES], tiers)
