"""The label a source mapping returns, and how it becomes known, positive and unknown policy areas.

A source speaks only about some areas: a hate-speech corpus says whether a tweet is hate, not whether it
is spam. Its *scope* is the set of areas it labels; every area outside the scope stays unknown, and a
loss must ignore it. ``none`` is in scope when the source's benign class asserts "nothing objectionable
of the kinds we annotated"; it is a known negative whenever a violation area is positive.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from model.taxonomy import PolicyArea, RiskTier

A = PolicyArea
T = RiskTier

#: The scope of the hate, harassment and offensive-language sources.
TOXICITY_SCOPE = frozenset({A.HATE_SPEECH, A.HARASSMENT, A.NONE})


@dataclass(frozen=True, slots=True)
class Labels:
    areas: frozenset[PolicyArea]
    tier: RiskTier
    scope: frozenset[PolicyArea]
    confidence: float = 1.0

    def __post_init__(self) -> None:
        if A.NONE in self.areas:
            raise ValueError("pass no areas for a benign row; 'none' follows from the scope")
        if not self.areas <= self.scope:
            raise ValueError(f"areas {sorted(self.areas - self.scope)} are outside the scope {sorted(self.scope)}")
        if not 0.0 < self.confidence <= 1.0:
            raise ValueError(f"confidence must be in (0, 1], got {self.confidence}")

    @property
    def policy_areas(self) -> tuple[PolicyArea, ...]:
        """Positive areas in taxonomy order; ``(none,)`` for a benign row whose source asserts it."""
        if self.areas:
            return tuple(a for a in PolicyArea if a in self.areas)
        return (A.NONE,) if A.NONE in self.scope else ()

    @property
    def unknown_areas(self) -> tuple[PolicyArea, ...]:
        known = set(self.scope)
        if self.areas:
            known.add(A.NONE)  # a violation is known not to be "none"
        return tuple(a for a in PolicyArea if a not in known)


def violation(areas: PolicyArea | Iterable[PolicyArea], tier: RiskTier, scope: Iterable[PolicyArea],
              confidence: float = 1.0) -> Labels:
    found = frozenset([areas] if isinstance(areas, PolicyArea) else areas)
    if not found:
        raise ValueError("a violation needs at least one area")
    return Labels(areas=found, tier=tier, scope=frozenset(scope) | found, confidence=confidence)


def no_violation(scope: Iterable[PolicyArea], confidence: float = 1.0) -> Labels:
    """No violation of any area in scope; ``none`` is asserted when the scope holds it."""
    return Labels(areas=frozenset(), tier=T.LOW, scope=frozenset(scope), confidence=confidence)


def partial(tier: RiskTier, scope: Iterable[PolicyArea], confidence: float = 1.0) -> Labels:
    """A tier and some negative areas, but no area known to apply (e.g. "offensive, not hate")."""
    return Labels(areas=frozenset(), tier=tier, scope=frozenset(scope) - {A.NONE}, confidence=confidence)
