"""Word-occlusion explanations (model.explain) against the tiny random artifact."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from model.explain import Explanation, WordWeight, explain, split_words
from model.scorer import Floats, Scorer
from model.text import normalize_text

# Varied words, so that the tokenizer does not see the same sequence again when one is removed.
VOCABULARY = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima",
    "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform", "victor", "whiskey",
    "xray", "yankee", "zulu",
]


def long_text(words: int) -> str:
    return " ".join(f"{VOCABULARY[i % len(VOCABULARY)]}{i}" for i in range(words))


@pytest.fixture(scope="module")
def scorer(tiny_artifact: Path) -> Scorer:
    return Scorer(tiny_artifact)


@pytest.fixture
def batches(scorer: Scorer, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every Scorer.probabilities call made through ``scorer`` during the test."""
    sizes: list[int] = []
    original = Scorer.probabilities

    def spy(texts: Sequence[str], batch_size: int = 32) -> tuple[Floats, Floats]:
        sizes.append(len(texts))
        return original(scorer, texts, batch_size)

    monkeypatch.setattr(scorer, "probabilities", spy)
    return sizes


def test_word_spans_map_back_to_the_normalised_text(scorer: Scorer) -> None:
    raw = "Hello,   &amp; welcome to https://example.com/x?y=1  now!!  I\u200bdiot"
    result = explain(scorer, raw)
    assert result.text == normalize_text(raw)
    assert [w.text for w in result.words] == result.text.split(" ")
    assert "Hello," in [w.text for w in result.words]  # punctuation stays attached
    for word in result.words:
        assert result.text[word.start : word.end] == word.text


def test_weight_is_baseline_minus_probability_with_the_word_removed(scorer: Scorer) -> None:
    text = "you people are disgusting and I will find you tonight"
    high = scorer.meta.tier_labels.index("high")
    result = explain(scorer, text, target="high")
    full_tiers, _ = scorer.probabilities([text])
    assert result.baseline == pytest.approx(float(full_tiers[0, high]), abs=1e-6)
    word = result.words[3]
    assert word.text == "disgusting"
    occluded = result.text[: word.start] + result.text[word.end :]
    tiers, _ = scorer.probabilities([occluded])
    assert word.weight == pytest.approx(result.baseline - float(tiers[0, high]), abs=1e-6)
    assert any(w.weight != 0 for w in result.words)


def test_area_target_uses_that_area_probability(scorer: Scorer) -> None:
    text = "send me your bank password now"
    area = scorer.meta.area_labels.index("spam_fraud")
    result = explain(scorer, text, target="area:spam_fraud")
    _, areas = scorer.probabilities([text])
    assert result.target == "area:spam_fraud"
    assert result.baseline == pytest.approx(float(areas[0, area]), abs=1e-6)
    _, without_first = scorer.probabilities([text.split(" ", 1)[1]])
    assert result.words[0].weight == pytest.approx(result.baseline - float(without_first[0, area]), abs=1e-6)


def test_baseline_is_the_score_of_the_text_alone(scorer: Scorer) -> None:
    text = "meet me after school, I have something for you"
    score = scorer.score([text])[0]
    assert explain(scorer, text, target="medium").baseline == pytest.approx(score.tier_probs["medium"], abs=1e-6)


def test_default_target_is_the_scored_tier(scorer: Scorer) -> None:
    text = "I know where you live"
    assert explain(scorer, text).target == scorer.score([text])[0].tier


def test_all_variants_are_scored_in_one_call(scorer: Scorer, batches: list[int]) -> None:
    result = explain(scorer, "one two three four five")
    assert batches == [1 + len(result.words)] == [6]


def test_batched_scoring_explains_the_same_words(scorer: Scorer, batches: list[int]) -> None:
    text = "one two three four five"
    alone, batched = explain(scorer, text, target="low"), explain(scorer, text, target="low", batch_size=32)
    assert batches == [6, 6]
    assert [(w.text, w.start, w.end) for w in batched.words] == [(w.text, w.start, w.end) for w in alone.words]


def test_grouping_caps_variants_at_max_words(scorer: Scorer, batches: list[int]) -> None:
    text = " ".join(VOCABULARY[:25])
    result = explain(scorer, text, max_words=6)
    assert batches == [1 + 6]
    assert len(result.words) == 6
    assert not result.truncated
    # The groups are consecutive runs of whole words covering the text.
    assert result.words[0].start == 0
    assert result.words[-1].end == len(result.text)
    for before, after in zip(result.words, result.words[1:], strict=False):
        assert result.text[before.end : after.start] == " "
    assert " ".join(w.text for w in result.words) == result.text
    assert {len(w.text.split(" ")) for w in result.words} <= {4, 5}


def test_text_longer_than_max_length_is_truncated_and_late_words_weigh_zero(
    scorer: Scorer, batches: list[int]
) -> None:
    words = 3 * scorer.meta.max_length
    result = explain(scorer, long_text(words), target="high")
    assert result.truncated
    assert len(result.words) == words
    seen = batches[0] - 1
    assert 0 < seen < words
    assert all(w.weight == 0.0 for w in result.words[seen:])
    assert any(w.weight != 0.0 for w in result.words[:seen])
    # The cut is where the tokenizer stops: the last seen word is in the model's input, the next is not.
    assert len(scorer.encode([result.text[: result.words[seen].start]])[0]) == scorer.meta.max_length
    assert not explain(scorer, long_text(10)).truncated


@pytest.mark.parametrize("text", [
    "今日は天気がいいですね。東京タワーに行きましょう!",
    "我要举报这个账号\uff0c它一直在发布虚假信息",  # a full-width comma
    "ฉันจะไปหาคุณที่บ้านคืนนี้",
])
def test_text_without_spaces_yields_several_chunks(scorer: Scorer, text: str) -> None:
    result = explain(scorer, text)
    assert len(result.words) >= 3
    assert "".join(w.text for w in result.words) == result.text
    assert all(0 < len(w.text) <= 8 for w in result.words)


def test_mixed_scripts_keep_latin_words_whole() -> None:
    text = "hello, world! 你好世界abc中文"
    assert [text[a:b] for a, b in split_words(text)] == ["hello,", "world!", "你好世", "界", "abc", "中文"]


def test_unknown_target_raises_value_error_naming_the_allowed_targets(scorer: Scorer) -> None:
    for target in ("critical", "area:nope", "harassment"):
        with pytest.raises(ValueError, match="allowed: low, medium, high, area:hate_speech") as info:
            explain(scorer, "some text", target=target)
        assert repr(target) in str(info.value)
        assert "area:none" in str(info.value)


def test_explanation_is_deterministic(scorer: Scorer) -> None:
    text = "this is a perfectly ordinary comment about the weather, nothing more"
    assert explain(scorer, text) == explain(scorer, text)


def test_empty_text_has_no_words(scorer: Scorer) -> None:
    result = explain(scorer, "   \u200b ")
    assert result.words == []
    assert not result.truncated
    assert 0.0 <= result.baseline <= 1.0


def test_max_words_below_one_is_refused(scorer: Scorer) -> None:
    with pytest.raises(ValueError, match="max_words"):
        explain(scorer, "text", max_words=0)


def test_top_returns_the_largest_absolute_weights() -> None:
    words = [WordWeight("a", 0, 1, 0.1), WordWeight("b", 2, 3, -0.5), WordWeight("c", 4, 5, 0.3),
             WordWeight("d", 6, 7, 0.0)]
    result = Explanation(target="high", baseline=0.5, text="a b c d", words=words, truncated=False)
    assert [w.text for w in result.top(2)] == ["b", "c"]
    assert [w.text for w in result.top(10)] == ["b", "c", "a", "d"]
    assert result.top(0) == []
