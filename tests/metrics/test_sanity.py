from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from tests.helpers import clip, tiny_cnn3d
from videoattr.core.targets import Target
from videoattr.metrics import cascading_randomization, randomized_correlation, spearman
from videoattr.metrics.sanity import rankdata


def _reference_spearman(a: list[float], b: list[float]) -> float:
    """Pearson correlation of average ranks, computed in plain Python."""

    def ranks(v: list[float]) -> list[float]:
        out = [0.0] * len(v)
        for i, vi in enumerate(v):
            less = sum(1 for w in v if w < vi)
            equal = sum(1 for w in v if w == vi)
            out[i] = less + (equal - 1) / 2
        return out

    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    return cov / math.sqrt(sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb))


def test_rankdata_averages_ties() -> None:
    values = torch.tensor([[10.0, 20.0, 20.0, 5.0], [1.0, 1.0, 1.0, 0.0]])
    assert rankdata(values).tolist() == [[1.0, 2.5, 2.5, 0.0], [2.0, 2.0, 2.0, 0.0]]


def test_spearman_against_reference_and_closed_forms() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 6, (3, 40), generator=g).float()  # many ties
    b = a + torch.randint(0, 4, (3, 40), generator=g).float()
    rho = spearman(a, b)
    for i in range(3):
        assert rho[i].item() == pytest.approx(
            _reference_spearman(a[i].tolist(), b[i].tolist()), abs=1e-5
        )
    x = torch.randn(2, 1, 3, 4, 4, generator=g)
    torch.testing.assert_close(spearman(x, x.exp()), torch.ones(2))  # monotone transform
    torch.testing.assert_close(spearman(x, -x), -torch.ones(2))
    assert bool(spearman(x, torch.zeros_like(x)).isnan().all())
    with pytest.raises(ValueError, match="same shape"):
        spearman(x, x[:, :, :2])


def _input_gradient(model: nn.Module) -> object:
    def fn(x: Tensor, target: Target) -> Tensor:
        assert isinstance(target, Tensor)
        xg = x.clone().requires_grad_(True)
        score = model(xg).gather(1, target.view(-1, 1)).sum()
        (grad,) = torch.autograd.grad(score, xg)
        return grad.sum(1, keepdim=True)

    return fn


def test_cascade_detects_model_dependence() -> None:
    model = tiny_cnn3d(num_classes=5)
    x = clip(b=2, t=4, h=12, w=12)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = cascading_randomization(model, _input_gradient, x)  # type: ignore[arg-type]
    assert result.layers == ["6", "2", "0"]  # output layer first
    assert result.correlations.shape == (3, 2)
    assert bool((result.correlations[-1].abs() < 0.5).all())  # fully randomised: maps unrelated
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])  # the original model is untouched
    again = cascading_randomization(model, _input_gradient, x)  # type: ignore[arg-type]
    torch.testing.assert_close(again.correlations, result.correlations)

    # a "method" that ignores the model fails the sanity check: its maps never change
    def edge_detector(_m: nn.Module) -> object:
        return lambda x, _t: x.abs().sum(1, keepdim=True)

    blind = cascading_randomization(model, edge_detector, x, target=1, layers=["0"], keep_maps=True)  # type: ignore[arg-type]
    torch.testing.assert_close(blind.correlations, torch.ones(1, 2))
    assert len(blind.maps) == 1 and blind.maps[0].shape == (2, 1, 4, 12, 12)


def test_cascade_errors() -> None:
    model = tiny_cnn3d()
    with pytest.raises(ValueError, match="layers"):
        cascading_randomization(model, _input_gradient, clip(b=1, t=4, h=8, w=8), layers=["nope"])  # type: ignore[arg-type]


def test_randomized_correlation_is_the_last_cascade_step() -> None:
    model = tiny_cnn3d(num_classes=5)
    x = clip(b=3, t=4, h=12, w=12)
    cascade = cascading_randomization(model, _input_gradient, x, seed=4)  # type: ignore[arg-type]
    last = randomized_correlation(model, _input_gradient, x, seed=4)  # type: ignore[arg-type]
    torch.testing.assert_close(last, cascade.correlations[-1])
    # given reference maps of the original model, the same numbers without recomputing them
    target = model(x).argmax(1)
    reference = _input_gradient(model)(x, target)  # type: ignore[operator]
    again = randomized_correlation(model, _input_gradient, x, target, seed=4, reference=reference)  # type: ignore[arg-type]
    torch.testing.assert_close(again, last)
    # against the plain-Python reference Spearman, on maps of a model randomised by hand
    randomised = cascading_randomization(
        model,
        _input_gradient,  # type: ignore[arg-type]
        x,
        seed=4,
        keep_maps=True,
    ).maps[-1]
    for i in range(3):
        assert last[i].item() == pytest.approx(
            _reference_spearman(
                reference[i].abs().flatten().tolist(), randomised[i].abs().flatten().tolist()
            ),
            abs=1e-5,
        )

    def edge_detector(_m: nn.Module) -> object:
        return lambda x, _t: x.abs().sum(1, keepdim=True)

    torch.testing.assert_close(
        randomized_correlation(model, edge_detector, x),  # type: ignore[arg-type]
        torch.ones(3),
    )
    with pytest.raises(ValueError, match="reference"):
        randomized_correlation(model, _input_gradient, x, reference=reference[:, :, :2])  # type: ignore[arg-type]


class _RootOwned(nn.Module):
    """A head plus a parameter the model owns itself (like a position embedding)."""

    def __init__(self) -> None:
        super().__init__()
        self.offset = nn.Parameter(torch.linspace(-1.0, 1.0, 3 * 4 * 6 * 6).view(1, 3, 4, 6, 6))
        self.head = nn.Linear(3, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.head((x + self.offset).mean((2, 3, 4)))


def test_cascade_randomises_the_parameters_the_root_owns() -> None:
    torch.manual_seed(0)
    model = _RootOwned().eval()
    x = torch.rand(2, 3, 4, 6, 6)

    def offset_map(m: nn.Module) -> object:  # a "method" whose map is the root's own parameter
        return lambda x, _t: (x * 0 + m.offset).mean(1, keepdim=True).expand(x.shape[0], 1, 4, 6, 6)

    result = cascading_randomization(model, offset_map, x, 0, absolute=False)
    assert result.layers == ["head", ""]  # the root last: it is nearest the input
    head, root = result.correlations
    assert torch.allclose(head, torch.ones(2))  # the head does not change the map
    assert bool((root < 0.5).all())  # the root's own parameter was drawn anew
    assert torch.equal(model.offset, _RootOwned().offset)  # the model itself is left alone

    from videoattr.demo_transformer import DemoTransformer
    from videoattr.metrics.sanity import _default_layers

    bare = DemoTransformer()
    assert _default_layers(bare)[-1] == "" and bare.pos_embed is not None
