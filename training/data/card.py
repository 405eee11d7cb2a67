"""Figures from a corpus manifest, as Markdown: printed by ``triage data stats``, and the data card.

The data card is generated, never edited by hand: ``triage data build`` writes it into ``data_cards/``
from the manifest of the corpus it built. It holds counts and the label mapping, never report text.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from model.taxonomy import get_taxonomy
from training.data.build import SPLIT_ORDER

#: Fewer positive training rows than this and an area is called thin in the data card.
THIN_AREA_ROWS = 500


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(value: object) -> str:
        return f"{value:,}" if isinstance(value, int) else str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _split_row(label: str, counts: dict[str, int]) -> list[object]:
    return [label, *(counts.get(s, 0) for s in SPLIT_ORDER), sum(counts.values())]


def splits_table(manifest: dict[str, Any]) -> str:
    return markdown_table(["", *SPLIT_ORDER, "total"], [_split_row("rows", manifest["splits"])])


def languages_table(manifest: dict[str, Any]) -> str:
    rows = [_split_row(lang, counts) for lang, counts in manifest["languages"].items()]
    return markdown_table(["language", *SPLIT_ORDER, "total"], rows)


def area_tier_table(manifest: dict[str, Any]) -> str:
    """Rows per policy area and tier (all splits), with the training rows' label status."""
    taxonomy = get_taxonomy()
    cells: dict[tuple[str, str], int] = defaultdict(int)
    for cell in manifest["counts"]:
        cells[(cell["policy_area"], cell["risk_tier"])] += cell["rows"]
    header = ["policy area", *taxonomy.tier_names, "total", "train positive", "train negative", "train unknown"]
    rows = []
    for area in taxonomy.area_names:
        by_tier = [cells[(area, tier)] for tier in taxonomy.tier_names]
        status = manifest["areas_in_train"].get(area, {})
        rows.append([area, *by_tier, sum(by_tier), status.get("positive", 0), status.get("negative", 0),
                     status.get("unknown", 0)])
    return markdown_table(header, rows)


def language_tier_area_table(manifest: dict[str, Any]) -> str:
    """Rows per language x tier (all splits), one column per policy area (a row counts once per area)."""
    taxonomy = get_taxonomy()
    cells: dict[tuple[str, str, str], int] = defaultdict(int)
    for cell in manifest["counts"]:
        cells[(cell["language"], cell["risk_tier"], cell["policy_area"])] += cell["rows"]
    rows = []
    for language in manifest["languages"]:
        for tier in taxonomy.tier_names:
            counts = [cells[(language, tier, area)] for area in taxonomy.area_names]
            if any(counts):
                rows.append([language, tier, *counts])
    return markdown_table(["language", "tier", *taxonomy.area_names], rows)


#: The sources the team wrote (``training.data.sources_authored``).
AUTHORED_SOURCES = ("authored", "authored_heldout")


def language_tier_authored_table(manifest: dict[str, Any]) -> str:
    """Rows per language and tier (all splits), and how many of them the team wrote: the authored share."""
    taxonomy = get_taxonomy()
    total: dict[tuple[str, str], int] = defaultdict(int)
    authored: dict[str, int] = defaultdict(int)
    for cell in manifest.get("source_language_tier", []):
        total[(cell["language"], cell["risk_tier"])] += cell["rows"]
        if cell["source"] in AUTHORED_SOURCES:
            authored[cell["language"]] += cell["rows"]
    rows = []
    for language in sorted({lang for lang, _ in total},
                           key=lambda lang: (-sum(total[(lang, t)] for t in taxonomy.tier_names), lang)):
        by_tier = [total[(language, tier)] for tier in taxonomy.tier_names]
        n = sum(by_tier)
        rows.append([language, *by_tier, n, authored[language], f"{authored[language] / n:.1%}" if n else "-"])
    return markdown_table(["language", *taxonomy.tier_names, "total", "authored", "authored share"], rows)


def authored_section(manifest: dict[str, Any]) -> str:
    """The team-authored contrast set: its rows, share of the corpus, split and the way it was written."""
    info = {name: manifest["sources"].get(name) for name in AUTHORED_SOURCES}
    rows = sum(i["rows_kept"] for i in info.values() if i)
    if not rows:
        return ("Not in this corpus (built with `--exclude-source authored --exclude-source authored_heldout` "
                "or `--exclude-licence internal`).")
    held_out = info["authored_heldout"]["rows_kept"] if info["authored_heldout"] else 0
    return f"""{rows:,} rows ({rows / manifest['rows']:.1%} of the corpus), of which {held_out:,} in the four held-out
languages (nl, uk, sw, tl: the `ood` split, never trained on). Written by the team in 2026-12 for this corpus:
original text in 24 languages (every language of our language markets; Hindi in Devanagari and romanised,
Urdu in Arabic script and Roman Urdu), never copied, translated or paraphrased from any evaluation set, and
written without looking at the held-out sources or xstest. Each harmful row (threats direct, implied and
conditional; incitement against a group; terrorism support; suicide or self-harm plans and method seeking;
grooming; doxxing with a call to act; weapons requests; hate; targeted harassment; scams; sextortion; health
misinformation; privacy and copyright complaints) has a low-risk contrast that shares its words but not its
harm (news, counter-speech, negation, recovery and help-seeking, idioms, games and sports, fiction and history,
untargeted profanity, identity statements, support), in the same registers, lengths, slang and emoji, so that
the authored style carries no label; a pair shares a `pair_id` and stays in one split. Every row carries
language, script, tier, areas, behaviour, register, pair id and the source `authored`
(`training/data/authored/<language>.jsonl`, Apache-2.0 with this repository). Eight writers wrote three languages
each under one brief (the team's model writers, not native speakers; no native speaker has reviewed the rows yet).
**Second pass:** after writing, each writer re-read every row of its languages for its label (tier, areas,
behaviour, as a specialist would judge it), its naturalness and the harmlessness of the contrast, and rewrote or
relabelled what failed (1-25 rows a language: loose low labels, stiff phrasing, contrasts describing an ongoing
harm, realistic phone numbers; in ru, uk and tr, emoji that marked the benign rows); two writers read the ends of
some long rows truncated in that pass. Known weaknesses: the languages of one writer share pair scenarios
(localised, not translated, but near-parallel), `support_message` is over-used (30-46 rows a language against about
21), and rows in hi, bn and ms run 7-36 words. `tests/training/test_sources_authored.py` checks the labels'
consistency (a behaviour's tier, low rows without areas), pairs, counts and that no row is a row of an evaluation
set. Leave it out with `triage data build --exclude-source authored --exclude-source authored_heldout`.

Rows per language and tier, all sources, with the authored share:

{language_tier_authored_table(manifest)}"""


def tier_semantics() -> str:
    """The tiers as the taxonomy defines them: one definition, applied to every source's mapping."""
    return "\n".join(f"- **{tier.name}**: {tier.definition}" for tier in get_taxonomy().tiers)


def held_out_table(manifest: dict[str, Any]) -> str:
    held_out = manifest["config"].get("ood_sources", [])
    rows = [[name, manifest["sources"][name].get("licence", "?"), manifest["sources"][name]["rows_kept"]]
            for name in held_out if name in manifest["sources"]]
    return markdown_table(["held-out source", "licence", "rows (all in ood)"], rows) if rows else "None."


def tiers_table(manifest: dict[str, Any]) -> str:
    return markdown_table(["risk tier", *SPLIT_ORDER, "total"],
                          [_split_row(tier, counts) for tier, counts in manifest["tiers"].items()])


def sources_table(manifest: dict[str, Any]) -> str:
    rows = []
    for name, info in manifest["sources"].items():
        skipped = sum(info["skipped"].values())
        rows.append([name, info.get("licence", "?"), info.get("licence_kind", "?"), info["rows_read"], skipped,
                     info["duplicates_dropped"], info["label_conflicts"], info["capped"], info["rows_kept"]])
    header = ["source", "licence", "kind", "read", "skipped", "duplicates", "label conflicts", "capped", "kept"]
    return markdown_table(header, rows)


def licences_table(manifest: dict[str, Any]) -> str:
    return markdown_table(["licence", "rows"], list(manifest["licences"].items()))


def skipped_table(manifest: dict[str, Any]) -> str:
    rows = [[name, reason, n] for name, info in manifest["sources"].items() for reason, n in info["skipped"].items()]
    return markdown_table(["source", "reason", "rows"], rows) if rows else "No rows were skipped."


def stats_report(manifest: dict[str, Any]) -> str:
    """What ``triage data stats`` prints."""
    parts = [
        f"corpus {manifest['fingerprint']}  taxonomy {manifest['taxonomy_version']}  "
        f"built in {manifest['build_seconds']} s  ({manifest['rows']:,} rows)",
        "## Rows per split\n\n" + splits_table(manifest),
        "## Rows per language\n\n" + languages_table(manifest),
        "## Rows per risk tier\n\n" + tiers_table(manifest),
        "## Rows per policy area and tier\n\n" + area_tier_table(manifest),
        "## Sources\n\n" + sources_table(manifest),
        "## Rows per licence\n\n" + licences_table(manifest),
        "## Skipped rows\n\n" + skipped_table(manifest),
    ]
    return "\n\n".join(parts) + "\n"


_KNOWN_BIASES = """\
- **Domain shift.** AILuminate rows are prompts to an AI assistant, not user posts; SMS spam is SMS, not
  platform content; the COVID "real" class is mostly official health-agency tweets (a style shortcut).
- **Dialect and annotator bias.** Davidson et al. over-label African-American English as offensive
  (Davidson et al. 2019); GermEval tweets come from a mostly right-leaning set of users; MLMA has
  noticeable label noise (some "normal" rows insult).
- **User-level labels.** Reddit C-SSRS labels users, not posts: every post inherits its user's severity
  (confidence 0.6), and the dataset replaced some words by medical concepts ("Pain", "Tired").
- **Hate vs offence.** Sources draw the line between hate, insult and profanity differently; the mapping
  keeps hate (medium) apart from untargeted offence and profanity (low, area none) where the source allows.
- **Thresholded votes.** Davidson, ETHOS and ToLD-Br give vote shares; rows carry them as label confidence.
- **Prompt sets are not posts.** XSafety, MultiJail, JADE, Do-Not-Answer, HarmBench/AdvBench and
  SimpleSafetyTests are requests to an AI assistant; their labels are per category (weak, confidence < 1),
  and parallel translations share a group so that no translation of a test prompt is trained on.
- **Moderation decisions are not annotations.** BAN-PL's "harmful" rows are moderators' bans (some need
  the removed image); its "neutral" rows are unmoderated, not verified clean (confidence 0.8).
- **Hard negatives.** ToxiGen's neutral sentences, KoSBi's safe sentences, SQuARe's sensitive questions,
  CONAN's counter-narratives, the ParaDetox rewrites and Universal Dependencies sentences in 57 languages
  are low: they keep the model from learning that an identity word, a topic or a language means harm.
- **Languages.** Romanised Hindi (`hi-Latn`) comes from TRAC-1 and the authored set, Roman Urdu (`ur-Latn`)
  from RUHSOLD and the authored set; no source covers Arabizi; misinformation is English and Hindi only (and
  the authored set's health-misinformation rows). Universal Dependencies sentences in 57 languages keep a
  language the encoder knows from looking harmful merely for being unfamiliar.
- **Threat sources are narrow.** GermEval 2025 is one far-right milieu (2014-2016); ThreatGram replies come from
  US partisan Telegram channels; CyberAgressionAdo is teen role-play; DKTC is crowd-written dialogue. Each
  source's own labelling convention is learnt apart from the served heads in training
  (`training.modeling.SourceConventions`).
- **Weak labels.** The Russian sensitive-topics rows are a topic plus a reputational "inappropriate" score, not
  a violation (confidence 0.6); TRAC-1's aggression is not a threat (only explicit calls for violence are high).
"""


def render_data_card(manifest: dict[str, Any]) -> str:
    taxonomy = get_taxonomy()
    thin = [
        area for area in taxonomy.area_names
        if area != "none" and manifest["areas_in_train"].get(area, {}).get("positive", 0) < THIN_AREA_ROWS
    ]
    mapping = "\n".join(
        f"- **{name}** ({info.get('licence', '?')}): {info.get('mapping', '')}"
        for name, info in manifest["sources"].items()
    )
    config = manifest["config"]
    excluded = ", ".join(config["excluded_sources"]) or "none"
    return f"""# Data card: Triage training corpus

<!-- Generated by `triage data build` from the corpus manifest. Do not edit by hand. -->

- **Fingerprint:** `{manifest['fingerprint']}`
- **Taxonomy version:** {manifest['taxonomy_version']}
- **Rows:** {manifest['rows']:,} in {len(manifest['languages'])} languages from {len(manifest['sources'])} sources
- **Build:** seed {config['seed']}, at most {config['cap_per_class']:,} rows per source x language x class
  outside the test split, excluded licences: {', '.join(config['exclude_licences']) or 'none'}
  (sources left out: {excluded})
- **Duplicates dropped:** {manifest['duplicates_dropped']:,} exact or near-exact copies across sources and
  splits, of which {manifest['label_conflicts']:,} had labels that disagreed with the kept copy
- **Skipped rows:** {manifest['skipped']['total']:,}; **capped rows:** {manifest['capped']:,}

## Intended use

Fine-tuning and evaluating the Triage classifier (risk tier and policy areas) for routing content
reports. The texts are third-party research datasets of offensive, hateful, threatening, sexual and
self-harm content. Do not show them in user interfaces or logs, and check each source's licence before
shipping a model trained on it (`triage data build --exclude-licence non_commercial --exclude-licence
unstated` leaves out the non-commercial and unstated-licence sources).

## Labels

Each row has a **risk tier** (low / medium / high) and **policy areas**: the areas that apply (`none`
when the source says nothing objectionable applies), and the areas the source does not label, which are
*unknown* (a loss ignores them) rather than negative. Every other area is a known negative. Weak labels
(a prompt set's category, a vote share, a moderator's ban) carry a label confidence below 1, which weights
the row in the loss.

The tiers mean the same for every source (`model/taxonomy.toml`); each source's mapping below applies them:

{tier_semantics()}

## Splits

A source's own test split stays the test split. Other rows are split into train / validation /
calibration (80/10/10), or train / validation / calibration / test (70/10/10/10) for sources without a
test split, stratified by language x tier. Exact and near-exact duplicates are removed across all splits
(held-out and test rows win), so no text is in two splits. Groups stay in one split: a Reddit user's posts,
the translations of one prompt (XSafety, MultiJail), a hate speech and its counter-narratives in every
language (CONAN), a toxic text and its neutral rewrites (ParaDetox).

**Held-out sources.** Every row of these sources is in the `ood` split: never trained, validated or
calibrated on. `triage evaluate --ood` judges a model on them, per source (harm AUROC, high-risk recall,
where routing sends benign and harmful rows); see the model card.

{held_out_table(manifest)}

{splits_table(manifest)}

## Languages

{languages_table(manifest)}

## Team-authored contrast set

{authored_section(manifest)}

## Risk tiers

{tiers_table(manifest)}

## Policy areas and tiers

All splits by tier; the last three columns count training rows by label status.

{area_tier_table(manifest)}

## Rows per language, tier and policy area

All splits; a row with two areas counts in both columns.

{language_tier_area_table(manifest)}

**Thin areas** (fewer than {THIN_AREA_ROWS} positive training rows): {', '.join(thin) or 'none'}. Graphic
violence has no source at all; terrorism (dangerous_orgs), child safety, intellectual property and privacy
come from prompt sets (AILuminate, JADE, MultiJail, Do-Not-Answer, HarmBench, SimpleSafetyTests), not
posts. Route low-confidence predictions in these areas to people.

## Sources and licences

{sources_table(manifest)}

{licences_table(manifest)}

## Label mapping

{mapping}

## Known biases and gaps

{_KNOWN_BIASES}
## Skipped rows

{skipped_table(manifest)}
"""
