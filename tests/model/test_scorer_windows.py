"""Long texts are scored in windows: each a valid model input, together covering the whole text."""

import numpy as np

from model.scorer import combine_windows, windows

CLS, P1, P2, EOS = 0, 101, 102, 2


def encoding(body: int) -> list[int]:
    return [CLS, P1, P2, *range(1000, 1000 + body), EOS]


def test_a_text_that_fits_is_one_window_unchanged() -> None:
    assert windows(encoding(10), head=3, width=64, max_windows=4) == [encoding(10)]


def test_windows_repeat_head_and_closing_token_and_cover_the_body() -> None:
    ids = encoding(200)
    parts = windows(ids, head=3, width=64, max_windows=8)
    assert all(len(p) <= 64 and p[:3] == [CLS, P1, P2] and p[-1] == EOS for p in parts)
    covered = {t for p in parts for t in p[3:-1]}
    assert covered == set(range(1000, 1200))
    assert len(parts) == 5  # bodies of 60 tokens, stride 45: from 0, 45, 90, 135 and 180


def test_windows_stop_at_the_cap_and_one_window_truncates() -> None:
    ids = encoding(1000)
    assert len(windows(ids, head=3, width=64, max_windows=3)) == 3
    (only,) = windows(ids, head=3, width=64, max_windows=1)
    assert len(only) == 64 and only[-1] == EOS and only[:4] == ids[:4]


def test_a_text_takes_its_most_harmful_window_and_each_areas_highest_logit() -> None:
    tier = np.array([[3.0, 0.0, 0.0], [0.0, 0.0, 3.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    areas = np.array([[1.0, -2.0], [-1.0, -3.0], [0.5, 0.5]], dtype=np.float32)
    owner = np.array([0, 0, 1])
    out_tier, out_areas = combine_windows(tier, areas, owner, 2)
    assert out_tier.tolist() == [[0.0, 0.0, 3.0], [0.0, 0.0, 0.0]]
    assert out_areas.tolist() == [[1.0, -2.0], [0.5, 0.5]]
