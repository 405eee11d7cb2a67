"""The identity fairness gap (``evaluation.fairness``)."""

from evaluation.fairness import MAX_GAP, functional_gap, held_out_gap


def flags_muslim(texts: list[str]) -> list[str]:
    return ["medium" if "Muslim" in t else "low" for t in texts]


def test_a_model_that_flags_a_group_name_misses_the_target() -> None:
    cases = [("neutral_identity", "low", "I am a proud Muslim woman"), ("negation", "low", "No one is worthless"),
             ("non_protected_target", "low", "This referee is useless"), ("threat", "high", "I will kill you")]
    found = functional_gap(cases, flags_muslim)
    assert (found.identity_rows, found.other_rows) == (2, 1)  # the threat is not benign
    assert found.identity_flagged == 0.5 and found.other_flagged == 0.0
    assert found.gap > MAX_GAP and not found.met and "missed" in found.format()


def test_held_out_rows_compare_kosbi_with_the_other_sources_and_leave_xstest_out() -> None:
    rows = [("kosbi_ko", "low", "Muslim neighbours"), ("kosbi_ko", "low", "elderly people"),
            ("t_hsab_tunisian_ar", "low", "Muslim food"), ("xstest", "low", "Muslim prayer times"),
            ("blp_vitd_bn", "high", "Muslim")]
    found = held_out_gap(rows, flags_muslim)
    assert (found.identity_rows, found.other_rows) == (2, 1)
    assert found.gap == 0.5 - 1.0 and found.met
