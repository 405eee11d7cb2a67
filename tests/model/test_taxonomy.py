from pathlib import Path

import pytest

from model.taxonomy import DSA_V2_CATEGORIES, TAXONOMY_PATH, PolicyArea, RiskTier, TaxonomyError, load_taxonomy


def test_bundled_taxonomy_lists_every_area_and_tier_in_model_order() -> None:
    taxonomy = load_taxonomy()
    assert taxonomy.tier_names == ["low", "medium", "high"]
    assert taxonomy.area_names == [
        "hate_speech", "harassment", "violence_incitement", "graphic_violence", "self_harm", "adult_sexual",
        "child_safety", "dangerous_orgs", "spam_fraud", "intellectual_property", "privacy", "misinformation",
        "none",
    ]
    assert taxonomy.version.count(".") == 2


def test_every_violation_area_has_a_definition_and_a_dsa_v2_category() -> None:
    taxonomy = load_taxonomy()
    assert taxonomy.dsa.schema_version == "v2"
    for area in taxonomy.areas:
        assert area.definition
        if area.name is PolicyArea.NONE:
            assert area.dsa_category is None
        else:
            assert area.dsa_category in DSA_V2_CATEGORIES


def test_high_risk_areas_default_to_high() -> None:
    taxonomy = load_taxonomy()
    for name in ("violence_incitement", "self_harm", "child_safety", "dangerous_orgs"):
        assert taxonomy.area(name).default_tier is RiskTier.HIGH


def test_tiers_order_by_severity() -> None:
    assert RiskTier.max(RiskTier.LOW, RiskTier.HIGH, RiskTier.MEDIUM) is RiskTier.HIGH
    assert RiskTier.LOW.rank < RiskTier.MEDIUM.rank < RiskTier.HIGH.rank


def _edited(tmp_path: Path, old: str, new: str) -> Path:
    text = TAXONOMY_PATH.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "taxonomy.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_a_taxonomy_missing_an_area_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = _edited(tmp_path, 'name = "privacy"', 'name = "privacy_typo"')
    with pytest.raises(TaxonomyError, match=str(path)):
        load_taxonomy(path)


def test_an_unknown_dsa_category_is_refused(tmp_path: Path) -> None:
    path = _edited(tmp_path, "STATEMENT_CATEGORY_SELF_HARM", "STATEMENT_CATEGORY_PORNOGRAPHY_OR_SEXUALIZED_CONTENT")
    with pytest.raises(TaxonomyError, match="not a DSA schema v2 category"):
        load_taxonomy(path)


def test_a_missing_taxonomy_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="cannot read taxonomy"):
        load_taxonomy(tmp_path / "absent.toml")
