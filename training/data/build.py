"""``triage data build``: from the bundled sources (and a team's own files) to one labelled corpus.

The steps, each deterministic for a given input and seed:

1. **Read** every selected source file, map each row to the taxonomy (``training.data.sources``) and
   normalise its text (``model.text``). Rows with no text left, or more than the schema allows, are
   skipped and counted; a malformed row is an error naming file and line (a warning with
   ``allow_missing``).
2. **Dedupe** exact and near-exact texts (``model.text.dedup_key``) across all sources and splits.
   Rows of a held-out source (``OOD_SOURCES``) win, so nothing of theirs is trained on; then rows of a
   source's own test split, so the test split stays whole and nothing in it leaks into training; then a
   team's own files, then the bundled sources. A dropped copy whose labels differ from
   the kept one counts as a label conflict.
3. **Cap** over-represented classes: per source, language, tier and area set, at most ``cap_per_class``
   rows outside the test split.
4. **Split**: every row of a held-out source goes to ``ood``; a source's own test split stays test; the
   rest is split into train / validation / calibration (and test, for sources without a test split of
   their own), stratified by language x tier, keeping groups (a Reddit user's posts, the translations of
   one prompt, a toxic text and its rewrites) in one split.
5. **Write** ``corpus.parquet`` and ``manifest.json`` (fingerprint, counts, provenance, skips).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.corpus import CORPUS_FILE, arrow_schema
from model.datafiles import CorpusError, LabelError, MissingSourceError, RowError
from model.schema import MAX_TEXT_CHARS, LabelledExample, Split
from model.taxonomy import PolicyArea, get_taxonomy
from model.text import dedup_key, normalize_text
from training.data.generic import read_generic
from training.data.labels import Labels
from training.data.readers import iter_rows
from training.data.sources import SOURCES, LicenceKind, Source

log = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = 1
MAX_WARNINGS = 100
SPLIT_ORDER = [s.value for s in Split]

#: Whole sources held out of training, validation and calibration: their rows form the ``ood`` split, on
#: which ``triage evaluate --ood`` judges a model on text from sources it never saw. xstest is the visible
#: over-flagging check (safe prompts that sound unsafe); the others spread over styles and languages:
#: Korean sentences about demographic groups (hard negatives), Tunisian Arabic comments, Bengali violence,
#: Spanish suicidal-intent tweets, Italian misogyny, and the team-authored set's four held-out languages
#: (nl, uk, sw, tl: threats, suicide plans and their contrasts in languages no authored row trains).
#: Fixed here so every model is judged on the same rows.
OOD_SOURCES: tuple[str, ...] = (
    "xstest", "kosbi_ko", "t_hsab_tunisian_ar", "blp_vitd_bn", "spanish_suicide_tweets_es", "pejorativity_it",
    "authored_heldout",
)

#: Split shares for rows of sources that have no test split of their own, and of those that do.
POOL_FRACTIONS: dict[str, tuple[tuple[Split, float], ...]] = {
    "without_test": ((Split.TRAIN, 0.7), (Split.VALIDATION, 0.1), (Split.CALIBRATION, 0.1), (Split.TEST, 0.1)),
    "with_test": ((Split.TRAIN, 0.8), (Split.VALIDATION, 0.1), (Split.CALIBRATION, 0.1)),
}


@dataclass(frozen=True)
class ExtraFile:
    """A file in the generic format (``training.data.generic``) to add as a source of its own."""

    path: Path
    licence: str = "internal"
    #: The source name [default: ``custom:<file stem>``].
    name: str | None = None

    @property
    def source(self) -> str:
        return self.name or f"custom:{self.path.stem}"


@dataclass(frozen=True)
class BuildConfig:
    datasets_dir: Path
    out_dir: Path
    seed: int = 13
    #: Bundled sources to read; empty means all of them.
    sources: tuple[str, ...] = ()
    #: Bundled sources to leave out (for ablations, or to build without the team-authored set).
    exclude_sources: tuple[str, ...] = ()
    #: Licence kinds (``non_commercial``, ``unstated``, ...) or exact licence names to leave out.
    exclude_licences: tuple[str, ...] = ()
    allow_missing: bool = False
    extra: tuple[ExtraFile, ...] = ()
    cap_per_class: int = 4000
    #: Sources whose rows all go to the ``ood`` split (see ``OOD_SOURCES``); () holds none out.
    ood_sources: tuple[str, ...] = OOD_SOURCES

    def __post_init__(self) -> None:
        unknown = [name for name in (*self.sources, *self.exclude_sources, *self.ood_sources) if name not in SOURCES]
        if unknown:
            raise ValueError(f"unknown source(s) {', '.join(unknown)}; known: {', '.join(SOURCES)}")
        known_licences = {s.licence for s in SOURCES.values()} | {k.value for k in LicenceKind}
        bad = [x for x in self.exclude_licences if _licence_token(x) not in known_licences | {"internal"}]
        if bad:
            kinds = ", ".join(k.value for k in LicenceKind)
            raise ValueError(f"unknown licence {', '.join(bad)}: use a kind ({kinds}) or a source's licence name")
        if self.cap_per_class < 1:
            raise ValueError(f"cap_per_class must be at least 1, got {self.cap_per_class}")
        for extra in self.extra:
            if extra.source in {e.source for e in self.extra if e is not extra}:
                raise ValueError(f"two extra files share the name {extra.source.removeprefix('custom:')!r}")

    def selected_sources(self) -> list[Source]:
        return [SOURCES[name] for name in (self.sources or tuple(SOURCES)) if name not in self.exclude_sources]

    def excludes(self, licence: str, kind: LicenceKind) -> bool:
        tokens = {_licence_token(x) for x in self.exclude_licences}
        return kind.value in tokens or licence in tokens


def _licence_token(value: str) -> str:
    """``non-commercial`` and ``non_commercial`` both name the kind."""
    token = value.strip()
    return token.replace("-", "_") if token.replace("-", "_") in {k.value for k in LicenceKind} else token


@dataclass
class _Row:
    example: LabelledExample
    is_test: bool  # the source's own test split, or a held-out source (kept whole, never capped)
    pool: str  # "with_test" or "without_test": whether the row's source has a test split of its own
    metadata: str | None = None
    key: str = ""


@dataclass
class _SourceStats:
    rows_read: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    duplicates_dropped: int = 0
    label_conflicts: int = 0
    capped: int = 0
    files: dict[str, str] = field(default_factory=dict)


@dataclass
class BuildResult:
    corpus_path: Path
    manifest_path: Path
    manifest: dict[str, Any]


def _rank(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}\x1f{key}".encode()).hexdigest()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Builder:
    def __init__(self, config: BuildConfig) -> None:
        self.config = config
        self.stats: dict[str, _SourceStats] = defaultdict(_SourceStats)
        self.meta: dict[str, dict[str, Any]] = {}
        self.warnings: list[str] = []
        self.excluded: list[str] = []

    # -- 1. read -----------------------------------------------------------------------------------------

    def _problem(self, error: CorpusError, source: str, reason: str) -> None:
        """A bad file or row: an error, or with ``allow_missing`` a warning and a counted skip."""
        if not self.config.allow_missing:
            raise error
        self.warnings.append(str(error))
        self.stats[source].skipped[reason] += 1
        log.warning("%s (skipped)", error)

    def _to_example(self, source: Source, raw_text: str, language: str, labels: Labels, row_id: str,
                    source_split: str, group_id: str | None, stats: _SourceStats) -> LabelledExample | None:
        text = normalize_text(raw_text)
        if not text:
            stats.skipped["empty_text"] += 1
            return None
        if len(text) > MAX_TEXT_CHARS:
            stats.skipped["text_too_long"] += 1
            return None
        return LabelledExample(
            row_id=row_id, text=text, language=language, policy_areas=labels.policy_areas,
            unknown_areas=labels.unknown_areas, risk_tier=labels.tier, source=source.name,
            source_split=source_split, licence=source.licence, group_id=group_id,
            label_confidence=labels.confidence,
        )

    def read_source(self, source: Source) -> Iterator[_Row]:
        folder = self.config.datasets_dir / (source.folder or source.name)
        stats = self.stats[source.name]
        missing = [f.name for f in source.files if not (folder / f.name).is_file()]
        if missing:
            self._problem(MissingSourceError(folder / missing[0], "file not found (use --allow-missing to build "
                                             "without this source)"), source.name, "missing_file")
            return
        try:
            mapper = source.make_mapper(folder)
        except CorpusError as exc:
            self._problem(exc, source.name, "unreadable_file")
            return
        pool = "with_test" if any(f.is_test for f in source.files) else "without_test"
        for file in source.files:
            path = folder / file.name
            stats.files[file.name] = _sha256(path)
            rows = file.reader(path, file) if file.reader is not None else iter_rows(
                path, delimiter=file.delimiter, errors=file.errors, columns=file.columns, required=file.required,
                quoted=file.quoted, on_error=lambda error: self._problem(error, source.name, "malformed_row"))
            try:
                for row in rows:
                    stats.rows_read += 1
                    try:
                        mapped = mapper(row, file)
                    except LabelError as exc:
                        self._problem(row.error(str(exc)), source.name, "malformed_row")
                        continue
                    for item in mapped:
                        if item.skip_reason is not None:
                            stats.skipped[item.skip_reason] += 1
                            continue
                        row_id = f"{source.name}:{file.name}:{row.line}{item.suffix}"
                        example = self._to_example(source, item.text, item.language or file.language,
                                                   item.labels, row_id,
                                                   file.split, item.group_id, stats)
                        if example is not None:
                            yield _Row(example=example, is_test=file.is_test, pool=pool)
            except RowError as exc:
                # A wrong encoding or a bad header: the file is unusable.
                self._problem(exc, source.name, "unreadable_file")

    def read_extra(self, extra: ExtraFile) -> Iterator[_Row]:
        stats = self.stats[extra.source]
        if not extra.path.is_file():
            self._problem(MissingSourceError(extra.path, "file not found"), extra.source, "missing_file")
            return
        stats.files[extra.path.name] = _sha256(extra.path)
        self.meta[extra.source] = {"title": f"Labelled reports from {extra.path.name}", "licence": extra.licence,
                                   "licence_kind": LicenceKind.INTERNAL.value, "mapping": "generic format"}
        try:
            rows = list(read_generic(extra.path, extra.source, extra.licence))
        except RowError as exc:
            self._problem(exc, extra.source, "unreadable_file")
            return
        pool = "with_test" if any(r.is_test for r in rows) else "without_test"
        for row in rows:
            stats.rows_read += 1
            metadata = json.dumps(row.metadata, sort_keys=True, ensure_ascii=False) if row.metadata else None
            yield _Row(example=row.example, is_test=row.is_test, pool=pool, metadata=metadata)

    def read_all(self) -> list[_Row]:
        rows: list[_Row] = []
        for source in self.config.selected_sources():
            if self.config.excludes(source.licence, source.licence_kind):
                self.excluded.append(source.name)
                continue
            self.meta[source.name] = {"title": source.title, "licence": source.licence,
                                      "licence_kind": source.licence_kind.value, "mapping": source.mapping}
            started = time.perf_counter()
            rows.extend(self.read_source(source))
            log.info("read %-32s %7d rows in %.1fs", source.name, self.stats[source.name].rows_read,
                     time.perf_counter() - started)
        for extra in self.config.extra:
            if self.config.excludes(extra.licence, LicenceKind.INTERNAL):
                self.excluded.append(extra.source)
                continue
            rows.extend(self.read_extra(extra))
        return rows

    # -- 2. dedupe ---------------------------------------------------------------------------------------

    def dedupe(self, rows: list[_Row]) -> list[_Row]:
        custom = {e.source for e in self.config.extra}

        def priority(item: tuple[int, _Row]) -> tuple[int, int, int, int]:
            index, row = item
            held_out = row.example.source in self.config.ood_sources
            return (0 if held_out else 1, 0 if row.is_test else 1, 0 if row.example.source in custom else 1, index)

        kept: dict[str, _Row] = {}
        for _, row in sorted(enumerate(rows), key=priority):
            row.key = dedup_key(row.example.text) or row.example.text
            first = kept.get(row.key)
            if first is None:
                kept[row.key] = row
                continue
            stats = self.stats[row.example.source]
            stats.duplicates_dropped += 1
            if (first.example.risk_tier, first.example.policy_areas) != (row.example.risk_tier,
                                                                          row.example.policy_areas):
                stats.label_conflicts += 1
        return list(kept.values())

    # -- 3. cap ------------------------------------------------------------------------------------------

    def cap(self, rows: list[_Row]) -> list[_Row]:
        classes: dict[tuple[str, ...], list[_Row]] = defaultdict(list)
        out: list[_Row] = []
        for row in rows:
            if row.is_test or row.example.source in self.config.ood_sources:
                out.append(row)
                continue
            ex = row.example
            classes[(ex.source, ex.language, ex.risk_tier, *ex.policy_areas)].append(row)
        for key, members in classes.items():
            if len(members) > self.config.cap_per_class:
                members.sort(key=lambda r: _rank(self.config.seed, r.example.row_id))
                self.stats[key[0]].capped += len(members) - self.config.cap_per_class
                members = members[: self.config.cap_per_class]
            out.extend(members)
        return out

    # -- 4. split ----------------------------------------------------------------------------------------

    def split(self, rows: list[_Row]) -> list[LabelledExample]:
        units: dict[str, list[_Row]] = defaultdict(list)
        result: list[LabelledExample] = []
        for row in rows:
            if row.example.source in self.config.ood_sources:
                result.append(row.example.model_copy(update={"split": Split.OOD}))
            elif row.is_test:
                result.append(row.example.model_copy(update={"split": Split.TEST}))
            else:
                units[row.example.group_id or row.example.row_id].append(row)
        strata: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        for unit, members in units.items():
            first = members[0]
            strata[(first.pool, first.example.language, first.example.risk_tier.value)].append(unit)
        for (pool, _, _), unit_ids in sorted(strata.items()):
            unit_ids.sort(key=lambda u: _rank(self.config.seed, u))
            for position, unit in enumerate(unit_ids):
                split = _assign((position + 0.5) / len(unit_ids), POOL_FRACTIONS[pool])
                result.extend(r.example.model_copy(update={"split": split}) for r in units[unit])
        result.sort(key=lambda e: (SPLIT_ORDER.index(e.split or Split.TRAIN), e.row_id))
        return result

    # -- 5. manifest -------------------------------------------------------------------------------------

    def manifest(self, examples: list[LabelledExample], metadata: dict[str, str], seconds: float) -> dict[str, Any]:
        taxonomy = get_taxonomy()
        by_source: dict[str, Counter[str]] = defaultdict(Counter)
        languages: dict[str, Counter[str]] = defaultdict(Counter)
        licences: Counter[str] = Counter()
        cells: Counter[tuple[str, str, str, str]] = Counter()
        source_cells: Counter[tuple[str, str, str]] = Counter()
        area_status: dict[str, Counter[str]] = {a: Counter() for a in taxonomy.area_names}
        tiers: dict[str, Counter[str]] = {t: Counter() for t in taxonomy.tier_names}
        for ex in examples:
            split = (ex.split or Split.TRAIN).value
            by_source[ex.source][split] += 1
            languages[ex.language][split] += 1
            licences[ex.licence] += 1
            tiers[ex.risk_tier.value][split] += 1
            source_cells[(ex.source, ex.language, ex.risk_tier.value)] += 1
            for area in ex.policy_areas:
                cells[(ex.language, area.value, ex.risk_tier.value, split)] += 1
            if split == Split.TRAIN:
                for area in PolicyArea:
                    status = ("positive" if area in ex.policy_areas else
                              "unknown" if area in ex.unknown_areas else "negative")
                    area_status[area.value][status] += 1
        sources: dict[str, Any] = {}
        for name in sorted(set(self.stats) | set(self.meta)):
            stats = self.stats[name]
            sources[name] = {
                **self.meta.get(name, {}),
                "files_sha256": dict(sorted(stats.files.items())),
                "rows_read": stats.rows_read,
                "rows_kept": sum(by_source[name].values()),
                "splits": _ordered(by_source[name]),
                "skipped": dict(sorted(stats.skipped.items())),
                "duplicates_dropped": stats.duplicates_dropped,
                "label_conflicts": stats.label_conflicts,
                "capped": stats.capped,
            }
        skipped: Counter[str] = Counter()
        for stats in self.stats.values():
            skipped.update(stats.skipped)
        return {
            "format_version": MANIFEST_FORMAT,
            "fingerprint": fingerprint(examples, metadata),
            "taxonomy_version": taxonomy.version,
            "config": {
                "seed": self.config.seed,
                "cap_per_class": self.config.cap_per_class,
                "ood_sources": list(self.config.ood_sources),
                "sources": [s.name for s in self.config.selected_sources()],
                "exclude_sources": list(self.config.exclude_sources),
                "exclude_licences": list(self.config.exclude_licences),
                "excluded_sources": self.excluded,
                "extra_files": [str(e.path) for e in self.config.extra],
                "allow_missing": self.config.allow_missing,
                "split_fractions": {k: {s.value: f for s, f in v} for k, v in POOL_FRACTIONS.items()},
            },
            "build_seconds": round(seconds, 1),
            "rows": len(examples),
            "splits": _ordered(Counter((e.split or Split.TRAIN).value for e in examples)),
            "languages": {lang: _ordered(c) for lang, c in sorted(languages.items(), key=lambda kv: -kv[1].total())},
            "tiers": {tier: _ordered(c) for tier, c in tiers.items()},
            "areas_in_train": {area: dict(c) for area, c in area_status.items()},
            "licences": dict(licences.most_common()),
            "sources": sources,
            "skipped": {"total": skipped.total(), "by_reason": dict(sorted(skipped.items()))},
            "duplicates_dropped": sum(s.duplicates_dropped for s in self.stats.values()),
            "label_conflicts": sum(s.label_conflicts for s in self.stats.values()),
            "capped": sum(s.capped for s in self.stats.values()),
            "counts": [
                {"language": lang, "policy_area": area, "risk_tier": tier, "split": split, "rows": n}
                for (lang, area, tier, split), n in sorted(cells.items())
            ],
            #: Rows per source, language and tier (all splits): what the data card's authored-share table reads.
            "source_language_tier": [
                {"source": source, "language": lang, "risk_tier": tier, "rows": n}
                for (source, lang, tier), n in sorted(source_cells.items())
            ],
            "warnings": self.warnings[:MAX_WARNINGS] + (
                [f"... and {len(self.warnings) - MAX_WARNINGS} more"] if len(self.warnings) > MAX_WARNINGS else []
            ),
        }


def _ordered(counter: Counter[str]) -> dict[str, int]:
    return {s: counter[s] for s in SPLIT_ORDER if counter[s]}


def _assign(position: float, fractions: Iterable[tuple[Split, float]]) -> Split:
    cumulative = 0.0
    last = Split.TRAIN
    for split, share in fractions:
        cumulative += share
        last = split
        if position < cumulative:
            return split
    return last


def fingerprint(examples: Iterable[LabelledExample], metadata: dict[str, str] | None = None) -> str:
    """A content hash of the corpus: rows, labels and splits, independent of file layout and timing."""
    digest = hashlib.sha256()
    for ex in sorted(examples, key=lambda e: e.row_id):
        record = [ex.row_id, ex.split, ex.text, ex.language, list(ex.policy_areas), list(ex.unknown_areas),
                  ex.risk_tier, ex.source, ex.source_split, ex.licence, ex.group_id, ex.label_confidence,
                  (metadata or {}).get(ex.row_id)]
        digest.update(json.dumps(record, ensure_ascii=False).encode())
        digest.update(b"\n")
    return f"sha256:{digest.hexdigest()}"


def _write_parquet(path: Path, examples: list[LabelledExample], metadata: dict[str, str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = arrow_schema()
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    for ex in examples:
        columns["row_id"].append(ex.row_id)
        columns["split"].append((ex.split or Split.TRAIN).value)
        columns["text"].append(ex.text)
        columns["language"].append(ex.language)
        columns["policy_areas"].append([a.value for a in ex.policy_areas])
        columns["unknown_areas"].append([a.value for a in ex.unknown_areas])
        columns["risk_tier"].append(ex.risk_tier.value)
        columns["source"].append(ex.source)
        columns["source_split"].append(ex.source_split)
        columns["licence"].append(ex.licence)
        columns["group_id"].append(ex.group_id)
        columns["label_confidence"].append(ex.label_confidence)
        columns["metadata"].append(metadata.get(ex.row_id))
    table = pa.table(columns, schema=schema)
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def build_corpus(config: BuildConfig) -> BuildResult:
    started = time.perf_counter()
    builder = _Builder(config)
    rows = builder.read_all()
    if not rows:
        raise CorpusError(config.datasets_dir, "no rows were read: every source is missing or excluded")
    rows = builder.dedupe(rows)
    rows = builder.cap(rows)
    metadata = {r.example.row_id: r.metadata for r in rows if r.metadata}
    examples = builder.split(rows)
    config.out_dir.mkdir(parents=True, exist_ok=True)
    corpus_path = config.out_dir / CORPUS_FILE
    _write_parquet(corpus_path, examples, metadata)
    manifest = builder.manifest(examples, metadata, time.perf_counter() - started)
    manifest_path = config.out_dir / MANIFEST_FILE
    tmp = manifest_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, manifest_path)
    return BuildResult(corpus_path=corpus_path, manifest_path=manifest_path, manifest=manifest)


def load_manifest(corpus_dir: Path) -> dict[str, Any]:
    path = corpus_dir / MANIFEST_FILE
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CorpusError(path, "no corpus manifest here: run `triage data build` first") from None
    except json.JSONDecodeError as exc:
        raise CorpusError(path, f"manifest is not valid JSON: {exc.msg}", exc.lineno) from None
    return manifest
