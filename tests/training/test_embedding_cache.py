"""The frozen encoder's embeddings on disk (``training.embedding_cache``): a retrain embeds only new texts."""

from pathlib import Path

import numpy as np
import numpy.typing as npt

from training.embedding_cache import EmbeddingCache, cache_key


def fake_encoder(texts: list[str], calls: list[int]):  # type: ignore[no-untyped-def]
    def compute(positions: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        calls.append(len(positions))
        return np.array([[len(texts[i]), i % 7, 1.0] for i in positions], dtype=np.float32)

    return compute


def test_a_second_run_reads_every_vector_from_disk(tmp_path: Path) -> None:
    texts = ["I will find you", "nice weather today", "kill it at the gym"]
    calls: list[int] = []
    first, stats = EmbeddingCache(tmp_path, dim=3).embed(texts, fake_encoder(texts, calls))
    assert (stats.hits, stats.computed) == (0, 3)
    again, stats = EmbeddingCache(tmp_path, dim=3).embed(texts, fake_encoder(texts, calls))
    assert (stats.hits, stats.computed) == (3, 0) and calls == [3]
    np.testing.assert_allclose(first, again)


def test_only_new_texts_are_computed_and_order_is_kept(tmp_path: Path) -> None:
    old = ["a", "bb"]
    EmbeddingCache(tmp_path, dim=3).embed(old, fake_encoder(old, []))
    grown = ["ccc", "a", "dddd", "bb"]
    calls: list[int] = []
    vectors, stats = EmbeddingCache(tmp_path, dim=3).embed(grown, fake_encoder(grown, calls))
    assert (stats.rows, stats.hits, stats.computed) == (4, 2, 2) and calls == [2]
    assert vectors[:, 0].tolist() == [3.0, 1.0, 4.0, 2.0]  # each text's own vector, in the texts' order
    assert len(EmbeddingCache(tmp_path, dim=3)) == 4


def test_the_key_changes_with_encoder_layers_length_and_prefix() -> None:
    base = cache_key("sha-a", 8, 64, "query: ")
    assert len({base, cache_key("sha-b", 8, 64, "query: "), cache_key("sha-a", 12, 64, "query: "),
                cache_key("sha-a", 8, 96, "query: "), cache_key("sha-a", 8, 64, "passage: ")}) == 5
    assert cache_key("sha-a", 8, 64, "query: ") == base


def test_shards_of_another_width_are_ignored(tmp_path: Path) -> None:
    texts = ["x"]
    EmbeddingCache(tmp_path, dim=3).embed(texts, fake_encoder(texts, []))
    assert len(EmbeddingCache(tmp_path, dim=5)) == 0


def test_a_key_ending_in_a_zero_byte_is_found_again(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from training import embedding_cache

    monkeypatch.setattr(embedding_cache, "text_key", lambda text: text.encode().ljust(16, b"\0")[:16])
    texts = ["ends-in-nul", "x" * 16]
    EmbeddingCache(tmp_path, dim=3).embed(texts, fake_encoder(texts, []))
    calls: list[int] = []
    _, stats = EmbeddingCache(tmp_path, dim=3).embed(texts, fake_encoder(texts, calls))
    assert (stats.hits, stats.computed) == (2, 0) and calls == []
