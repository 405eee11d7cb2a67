"""The language directions a probe can be made blind to (``training.train.language_directions``)."""

import torch

from training.train import language_directions


def test_the_direction_languages_differ_along_is_found() -> None:
    torch.manual_seed(0)
    x = torch.randn(300, 8) * 0.1
    x[:150, 3] += 2.0  # the first language sits apart along axis 3
    basis = language_directions(x, ["de"] * 150 + ["en"] * 150, k=4)
    assert basis.shape == (8, 1)  # two languages differ along one direction at most
    assert abs(float(basis[3, 0])) > 0.99


def test_languages_with_too_few_rows_are_left_out() -> None:
    x = torch.randn(120, 8)
    basis = language_directions(x, ["de"] * 60 + ["en"] * 55 + ["fr"] * 5, k=4, min_rows=50)
    assert basis.shape == (8, 1)


def test_a_projected_head_scores_a_text_and_its_shift_along_the_direction_alike() -> None:
    torch.manual_seed(1)
    x = torch.randn(200, 8)
    x[:100] += torch.tensor([0, 0, 3.0, 0, 0, 0, 0, 0])
    basis = language_directions(x, ["ar"] * 100 + ["en"] * 100, k=1)
    weight = torch.randn(3, 8)
    blind = weight - (weight @ basis) @ basis.T
    text = torch.randn(8)
    assert torch.allclose(blind @ text, blind @ (text + 5.0 * basis[:, 0]), atol=1e-5)


def test_balance_weights_give_each_cell_a_total_in_proportion_to_its_size_to_the_power() -> None:
    import numpy as np

    from training.dataset import SplitArrays, balance_weights

    n = 100 + 25
    split = SplitArrays(texts=[""] * n, languages=["en"] * 100 + ["sw"] * 25, sources=["a"] * n,
                        tier=np.zeros(n, dtype=np.int64), areas=np.zeros((n, 1), dtype=np.float32),
                        known=np.ones((n, 1), dtype=np.bool_), weight=np.ones(n, dtype=np.float32))
    weights = balance_weights(split, power=0.5)
    assert abs(float(weights.mean()) - 1.0) < 1e-6
    totals = weights[:100].sum(), weights[100:].sum()
    assert abs(totals[0] / totals[1] - (100 / 25) ** 0.5) < 1e-4  # sqrt of the size ratio, as the sample


def test_a_source_left_out_of_training_is_gone_and_the_rest_keep_their_order() -> None:
    import numpy as np

    from training.dataset import SplitArrays
    from training.train import without_sources

    split = SplitArrays(texts=["a", "b", "c"], languages=["en"] * 3, sources=["x", "authored", "y"],
                        tier=np.array([0, 2, 1]), areas=np.zeros((3, 1), dtype=np.float32),
                        known=np.ones((3, 1), dtype=np.bool_), weight=np.ones(3, dtype=np.float32))
    kept = without_sources(split, {"authored"})
    assert kept.texts == ["a", "c"] and kept.tier.tolist() == [0, 1]
