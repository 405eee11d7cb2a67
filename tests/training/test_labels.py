import pytest

from model.taxonomy import PolicyArea as A
from model.taxonomy import RiskTier as T
from training.data.labels import TOXICITY_SCOPE, Labels, no_violation, partial, violation


def test_a_violation_is_known_not_to_be_none_and_leaves_unlabelled_areas_unknown() -> None:
    labels = violation(A.HATE_SPEECH, T.MEDIUM, TOXICITY_SCOPE)
    assert labels.policy_areas == (A.HATE_SPEECH,)
    assert A.NONE not in labels.unknown_areas
    assert A.HARASSMENT not in labels.unknown_areas  # in scope: a known negative
    assert A.SPAM_FRAUD in labels.unknown_areas  # the source never looked at spam


def test_a_benign_row_asserts_none_only_when_the_source_says_so() -> None:
    assert no_violation(TOXICITY_SCOPE).policy_areas == (A.NONE,)
    assert no_violation({A.SPAM_FRAUD}).policy_areas == ()
    assert A.NONE in no_violation({A.SPAM_FRAUD}).unknown_areas


def test_partial_labels_know_the_tier_and_some_negatives_only() -> None:
    labels = partial(T.LOW, {A.HATE_SPEECH})
    assert labels.policy_areas == ()
    assert A.HATE_SPEECH not in labels.unknown_areas
    assert {A.HARASSMENT, A.NONE} <= set(labels.unknown_areas)


def test_areas_come_out_in_taxonomy_order() -> None:
    labels = violation({A.MISINFORMATION, A.HATE_SPEECH}, T.MEDIUM, TOXICITY_SCOPE)
    assert labels.policy_areas == (A.HATE_SPEECH, A.MISINFORMATION)


def test_invalid_labels_are_refused() -> None:
    with pytest.raises(ValueError, match="no areas for a benign row"):
        Labels(areas=frozenset({A.NONE}), tier=T.LOW, scope=frozenset({A.NONE}))
    with pytest.raises(ValueError, match="outside the scope"):
        Labels(areas=frozenset({A.PRIVACY}), tier=T.MEDIUM, scope=frozenset({A.NONE}))
    with pytest.raises(ValueError, match="confidence"):
        no_violation(TOXICITY_SCOPE, confidence=0.0)
