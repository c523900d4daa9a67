from __future__ import annotations

import math

import pytest
import torch

from videoattr.metrics import bootstrap


def test_bootstrap_standard_error_of_a_mean_matches_the_closed_form() -> None:
    g = torch.Generator().manual_seed(0)
    values = torch.randn(40, generator=g, dtype=torch.float64)
    reps = bootstrap(lambda idx: values[idx].mean(), 40, resamples=20000, seed=1)
    assert reps.shape == (20000,) and reps.dtype == torch.float64
    # the bootstrap variance of a mean is the plug-in variance / n: sum((v - mean)^2) / n^2
    closed = math.sqrt(float(((values - values.mean()) ** 2).sum()) / 40**2)
    assert float(reps.std()) == pytest.approx(closed, rel=0.03)
    assert float(reps.mean()) == pytest.approx(
        float(values.mean()), abs=5 * closed / math.sqrt(20000)
    )


def test_bootstrap_is_seeded_and_paired() -> None:
    g = torch.Generator().manual_seed(2)
    a = torch.rand(30, generator=g, dtype=torch.float64)
    b = a + 0.01  # a method that is always exactly 0.01 better
    per_method = torch.stack([a, b])

    def means(idx: torch.Tensor) -> torch.Tensor:
        return per_method[:, idx].mean(1)

    reps = bootstrap(means, 30, resamples=300, seed=5)
    assert reps.shape == (300, 2)
    torch.testing.assert_close(reps, bootstrap(means, 30, resamples=300, seed=5))
    assert not torch.equal(reps, bootstrap(means, 30, resamples=300, seed=6))
    # the paired difference has no spread although each mean has a large one
    diff = reps[:, 1] - reps[:, 0]
    torch.testing.assert_close(diff, torch.full_like(diff, 0.01))
    assert float(reps[:, 0].std()) > 0.02
    state = torch.get_rng_state()
    bootstrap(lambda idx: float(idx.sum()), 5, resamples=3)
    assert torch.equal(state, torch.get_rng_state())  # global random state untouched


def test_bootstrap_resamples_with_replacement_in_range() -> None:
    seen: list[torch.Tensor] = []
    bootstrap(lambda idx: seen.append(idx) or 0.0, 7, resamples=50)
    assert all(s.shape == (7,) and int(s.min()) >= 0 and int(s.max()) < 7 for s in seen)
    assert any(len(set(s.tolist())) < 7 for s in seen)  # some index drawn twice


def test_bootstrap_errors() -> None:
    with pytest.raises(ValueError, match="n must"):
        bootstrap(lambda idx: 0.0, 0)
    with pytest.raises(ValueError, match="resamples"):
        bootstrap(lambda idx: 0.0, 3, resamples=0)
    with pytest.raises(TypeError, match="statistic"):
        bootstrap(3, 3)  # type: ignore[arg-type]
