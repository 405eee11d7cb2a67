"""The taxonomy: policy areas and risk tiers, read from the versioned ``taxonomy.toml``.

The file is the single source of label names, order and definitions. The enums below exist so that code
which names a label (source mappings, routing rules) is checked by mypy; ``load_taxonomy`` refuses a file
whose labels disagree with them, so the two cannot drift apart silently.
"""

from __future__ import annotations

import tomllib
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

TAXONOMY_PATH = Path(__file__).with_name("taxonomy.toml")


class RiskTier(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        """0 for low, 1 for medium, 2 for high: tiers compare by severity."""
        return list(RiskTier).index(self)

    @classmethod
    def max(cls, *tiers: RiskTier) -> RiskTier:
        return max(tiers, key=lambda t: t.rank)


class PolicyArea(StrEnum):
    HATE_SPEECH = "hate_speech"
    HARASSMENT = "harassment"
    VIOLENCE_INCITEMENT = "violence_incitement"
    GRAPHIC_VIOLENCE = "graphic_violence"
    SELF_HARM = "self_harm"
    ADULT_SEXUAL = "adult_sexual"
    CHILD_SAFETY = "child_safety"
    DANGEROUS_ORGS = "dangerous_orgs"
    SPAM_FRAUD = "spam_fraud"
    INTELLECTUAL_PROPERTY = "intellectual_property"
    PRIVACY = "privacy"
    MISINFORMATION = "misinformation"
    NONE = "none"


#: The violation areas, i.e. every area except ``none``.
VIOLATION_AREAS: tuple[PolicyArea, ...] = tuple(a for a in PolicyArea if a is not PolicyArea.NONE)

# Categories of the DSA Transparency Database, schema v2 (../shared/reference/dsa-statement-categories.md).
DSA_V2_CATEGORIES = frozenset(
    {
        "STATEMENT_CATEGORY_ANIMAL_WELFARE",
        "STATEMENT_CATEGORY_CONSUMER_INFORMATION",
        "STATEMENT_CATEGORY_CYBER_VIOLENCE",
        "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN",
        "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
        "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
        "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
        "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
        "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE",
        "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
        "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
        "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
        "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
        "STATEMENT_CATEGORY_SELF_HARM",
        "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
        "STATEMENT_CATEGORY_VIOLENCE",
    }
)

_Text = Annotated[str, Field(min_length=1)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TierDefinition(_Frozen):
    name: RiskTier
    definition: _Text
    examples: tuple[str, ...] = ()


class AreaDefinition(_Frozen):
    name: PolicyArea
    definition: _Text
    default_tier: RiskTier
    dsa_category: str | None = None
    dsa_keyword: str | None = None


class DsaInfo(_Frozen):
    schema_version: str


class Taxonomy(_Frozen):
    version: Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+$")]
    dsa: DsaInfo
    tiers: tuple[TierDefinition, ...]
    areas: tuple[AreaDefinition, ...]

    @model_validator(mode="after")
    def _agrees_with_code(self) -> Taxonomy:
        tiers = [t.name for t in self.tiers]
        if tiers != list(RiskTier):
            raise ValueError(f"tiers must be exactly {[t.value for t in RiskTier]} in that order, got {tiers}")
        areas = [a.name for a in self.areas]
        if areas != list(PolicyArea):
            raise ValueError(f"areas must be exactly {[a.value for a in PolicyArea]} in that order, got {areas}")
        for area in self.areas:
            is_none = area.name is PolicyArea.NONE
            if is_none != (area.dsa_category is None):
                raise ValueError(f"area {area.name}: every violation area, and only those, needs a dsa_category")
            if area.dsa_category is not None and area.dsa_category not in DSA_V2_CATEGORIES:
                raise ValueError(f"area {area.name}: {area.dsa_category!r} is not a DSA schema v2 category")
        return self

    @property
    def tier_names(self) -> list[str]:
        """Class order of the risk-tier head."""
        return [t.name.value for t in self.tiers]

    @property
    def area_names(self) -> list[str]:
        """Label order of the policy-area head."""
        return [a.name.value for a in self.areas]

    def area(self, name: PolicyArea | str) -> AreaDefinition:
        return self.areas[list(PolicyArea).index(PolicyArea(name))]


class TaxonomyError(ValueError):
    """The taxonomy file is missing or invalid."""


def load_taxonomy(path: Path = TAXONOMY_PATH) -> Taxonomy:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        return Taxonomy.model_validate(raw)
    except OSError as exc:
        raise TaxonomyError(f"{path}: cannot read taxonomy: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TaxonomyError(f"{path}: invalid TOML: {exc}") from exc
    except ValidationError as exc:
        raise TaxonomyError(f"{path}: invalid taxonomy:\n{exc}") from exc


@cache
def get_taxonomy() -> Taxonomy:
    """The bundled taxonomy, read once per process."""
    return load_taxonomy()
