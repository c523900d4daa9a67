"""Occlusion: closed forms on linear models, parity with Captum, whole frames, batching, bad input."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import Tensor, nn

from tests.helpers import clip, tiny_cnn3d
from videoattr.core.pyramid import Perturbation
from videoattr.methods import Occlusion, TemporalOcclusion, build_attributor, method_info


class Linear(nn.Module):
    """``logits[:, k] = <weight[k], x>`` over ``(C, T, H, W)``: every occlusion drop has a closed form."""

    def __init__(self, shape: tuple[int, int, int, int], classes: int = 3, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.weight = nn.Parameter(torch.randn(classes, *shape, generator=g, dtype=torch.float64))

    def forward(self, x: Tensor) -> Tensor:
        return torch.einsum("bcthw,kcthw->bk", x, self.weight)


class Counting(nn.Module):
    """Records the number of rows of every forward."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.rows: list[int] = []

    def forward(self, x: Tensor) -> Tensor:
        self.rows.append(x.shape[0])
        out: Tensor = self.net(x)
        return out


def starts(size: int, window: int, stride: int) -> list[int]:
    """Captum's window starts along one axis: 0, s, 2s, ... until a window reaches the end."""
    out = [0]
    while out[-1] + window < size:
        out.append(out[-1] + stride)
    return out


def linear_occlusion(
    model: Linear,
    x: Tensor,
    target: int,
    window: tuple[int, int, int],
    strides: tuple[int, int, int],
    base: Tensor,
) -> Tensor:
    """Occlusion of a linear model by its closed form: the drop of a window is <w_k, (x - base) * box>."""
    w = model.weight.detach()[target]
    b, _c, t, h, wd = x.shape
    total = torch.zeros(b, t, h, wd, dtype=torch.float64)
    count = torch.zeros(t, h, wd, dtype=torch.float64)
    contribution = (w * (x - base)).sum(1)  # (B, T, H, W): each voxel's share of the logit
    for s0, s1, s2 in itertools.product(
        *(starts(d, win, st) for d, win, st in zip((t, h, wd), window, strides, strict=True))
    ):
        box = (slice(s0, s0 + window[0]), slice(s1, s1 + window[1]), slice(s2, s2 + window[2]))
        drop = contribution[(slice(None), *box)].sum(dim=(1, 2, 3))
        total[(slice(None), *box)] += drop.view(b, 1, 1, 1)
        count[box] += 1
    return (total / count).unsqueeze(1)


@pytest.mark.parametrize(
    ("window", "strides"),
    [
        ((2, 4, 4), (2, 4, 4)),
        ((4, 6, 5), (2, 3, 2)),
        ((3, 5, 4), (3, 4, 3)),
        ((1, 12, 12), (1, 1, 1)),
    ],
)
def test_linear_model_closed_form(
    window: tuple[int, int, int], strides: tuple[int, int, int]
) -> None:
    x = clip(b=2, t=6, h=12, w=12).double()
    model = Linear((3, 6, 12, 12))
    occ = Occlusion(model, window=window, strides=strides, baseline=0.25, progress=False)
    maps = occ.attribute(x, [2, 0])
    expected = torch.cat(
        [
            linear_occlusion(model, x[i : i + 1], k, window, strides, torch.tensor(0.25))
            for i, k in enumerate([2, 0])
        ]
    )
    torch.testing.assert_close(maps, expected, rtol=1e-10, atol=1e-12)


def test_tiling_windows_give_each_voxel_its_tile_s_drop() -> None:
    x = clip(b=1, t=4, h=8, w=8).double()
    model = Linear((3, 4, 8, 8))
    maps = Occlusion(model, window=(2, 4, 4), strides=(2, 4, 4), progress=False).attribute(x, 1)
    contribution = (model.weight.detach()[1] * x[0]).sum(0)  # (T, H, W)
    tiles = contribution.view(2, 2, 2, 4, 2, 4).sum(dim=(1, 3, 5))  # (2, 2, 2) tile sums
    expected = tiles.repeat_interleave(2, 0).repeat_interleave(4, 1).repeat_interleave(4, 2)
    torch.testing.assert_close(maps[0, 0], expected, rtol=1e-10, atol=1e-12)


def test_tensor_and_blur_baselines() -> None:
    x = clip(b=2, t=4, h=10, w=10).double()
    model = Linear((3, 4, 10, 10))
    per_clip = torch.tensor([0.5, -1.0], dtype=torch.float64).view(2, 1, 1, 1, 1)
    occ = Occlusion(model, window=(2, 5, 5), strides=(1, 5, 5), baseline=per_clip, progress=False)
    expected = torch.cat(
        [
            linear_occlusion(model, x[i : i + 1], 0, (2, 5, 5), (1, 5, 5), per_clip[i])
            for i in range(2)
        ]
    )
    torch.testing.assert_close(occ.attribute(x, 0), expected, rtol=1e-10, atol=1e-12)
    # "blur" is the strongest level of the extremal methods' perturbation pyramid
    blurred = Perturbation(x, num_levels=4, max_blur=3.0).pyramid[..., 0]
    blur = occ.attribute(x, 0, baseline="blur", max_blur=3.0)
    torch.testing.assert_close(blur, occ.attribute(x, 0, baseline=blurred))
    assert not torch.allclose(blur, expected)


@pytest.mark.parametrize(
    ("window", "strides", "baseline"),
    [((2, 4, 4), (1, 2, 2), 0.0), ((3, 5, 7), (2, 3, 4), -0.5), ((8, 3, 3), (1, 3, 3), 1.0)],
)
def test_matches_captum(
    window: tuple[int, int, int], strides: tuple[int, int, int], baseline: float
) -> None:
    from captum.attr import Occlusion as CaptumOcclusion

    model = tiny_cnn3d().double().eval()
    x = clip(b=2, t=8, h=11, w=13).double()
    ours = Occlusion(model, window=window, strides=strides, baseline=baseline, progress=False)
    maps = ours.attribute(x, [1, 3])
    theirs = CaptumOcclusion(model).attribute(
        x,
        sliding_window_shapes=(3, *window),
        strides=(3, *strides),
        baselines=baseline,
        target=[1, 3],
        perturbations_per_eval=16,
    )
    torch.testing.assert_close(
        theirs, theirs[:, :1].expand_as(theirs)
    )  # one value for all channels
    # Captum sums the drops in float64 but divides by the window counts in float32 (``attrib.float()``)
    assert theirs.dtype == torch.float32
    torch.testing.assert_close(maps.float(), theirs[:, :1], rtol=2e-6, atol=1e-9)


def test_whole_frames_on_a_model_that_sees_one_frame() -> None:
    t, j = 8, 5

    class OneFrame(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.fc = nn.Linear(3 * 6 * 6, 4).double()

        def forward(self, x: Tensor) -> Tensor:
            return torch.tanh(self.fc(x[:, :, j].flatten(1)))

    model = OneFrame()
    x = clip(b=2, t=t, h=6, w=6).double()
    maps = TemporalOcclusion(model, progress=False).attribute(x, 2)
    assert maps.shape == (2, 1, t, 6, 6)
    per_frame = maps[:, 0, :, 0, 0]
    torch.testing.assert_close(
        maps, per_frame.view(2, 1, t, 1, 1).expand_as(maps)
    )  # constant in space
    assert (per_frame[:, j].abs() > 1e-6).all()
    others = [i for i in range(t) if i != j]
    assert torch.equal(per_frame[:, others], torch.zeros(2, t - 1, dtype=torch.float64))
    with torch.no_grad():
        dropped = x.clone()
        dropped[:, :, j] = 0
        expected = model(x)[:, 2] - model(dropped)[:, 2]
    torch.testing.assert_close(per_frame[:, j], expected)
    # spans of 3 frames moved by 1: the frames that share a span with j are non-zero
    spans = TemporalOcclusion(model, span=3, stride=1, progress=False).attribute(x, 2)[
        :, 0, :, 0, 0
    ]
    nonzero = (spans.abs() > 1e-9).all(0).nonzero().flatten().tolist()
    assert nonzero == [j - 2, j - 1, j, j + 1, j + 2]
    # the same as Occlusion with a window spanning whole frames
    occ = Occlusion(model, window=(3, None, None), strides=(1, 1, 1), progress=False)
    torch.testing.assert_close(occ.attribute(x, 2)[:, 0, :, 0, 0], spans)


def test_forwards_are_batched_and_the_result_does_not_depend_on_it() -> None:
    model = Counting(tiny_cnn3d().double())
    x = clip(b=3, t=8, h=12, w=12).double()
    occ = Occlusion(model, window=(4, 6, 6), strides=(2, 3, 3), max_batch_size=7, progress=False)
    positions = occ.num_positions((8, 12, 12))
    assert positions == 3 * 3 * 3
    small = occ.attribute(x, [0, 1, 2])
    assert model.rows[0] == 3 and max(model.rows[1:]) <= 7  # clean clips, then occluded ones
    assert sum(model.rows) == 3 + 3 * positions
    model.rows.clear()
    whole = occ.attribute(x, [0, 1, 2], max_batch_size=None)
    assert model.rows == [3, 3 * positions]
    torch.testing.assert_close(small, whole, rtol=1e-12, atol=1e-14)


def test_several_targets_come_from_the_same_forwards() -> None:
    model = Counting(tiny_cnn3d().double())
    x = clip(b=2, t=8, h=12, w=12).double()
    occ = Occlusion(model, window=(4, 6, 6), progress=False)
    both = occ.attribute(x, torch.tensor([[1, 3], [0, 2]]))
    forwards = len(model.rows)
    assert both.shape == (2, 2, 1, 8, 12, 12)
    torch.testing.assert_close(both[:, 0], occ.attribute(x, [1, 0]))
    torch.testing.assert_close(both[:, 1], occ.attribute(x, [3, 2]))
    model.rows.clear()
    top = occ.attribute(x, "top2")
    assert len(model.rows) == forwards  # the top-k request costs no extra forward
    with torch.no_grad():
        order = model(x).topk(2, dim=1).indices
    torch.testing.assert_close(top, occ.attribute(x, order))
    with pytest.raises(ValueError, match=r"class indices in \[0, 4\]"):
        occ.attribute(x, torch.tensor([[1, 5], [0, 2]]))


def test_defaults_and_registry() -> None:
    occ = build_attributor("Occlusion", tiny_cnn3d())
    assert isinstance(occ, Occlusion)
    assert occ.window == (4, 16, 16) and occ.strides is None and occ.baseline == 0.0
    assert occ.geometry((16, 112, 112)) == ((4, 16, 16), (2, 8, 8))
    assert occ.num_positions((16, 112, 112)) == 7 * 13 * 13
    assert Occlusion(occ.model, strides=(4, 16, 16)).num_positions((16, 112, 112)) == 4 * 7 * 7
    assert method_info("occlusion").kind == "black_box"
    temporal = build_attributor("frame-occlusion", tiny_cnn3d(), span=2)
    assert isinstance(temporal, TemporalOcclusion) and temporal.method == "temporal_occlusion"
    assert temporal.num_positions((16, 112, 112)) == 15
    assert temporal.config()["span"] == 2
    assert math.isclose(float(temporal.config()["max_blur"]), 20.0)


def test_bad_input_is_named() -> None:
    model = tiny_cnn3d()
    x = clip(b=1, t=8, h=12, w=12)
    with pytest.raises(
        ValueError, match=r"window must fit in the clip: .* \(8, 12, 12\); got window \(4, 16, 16\)"
    ):
        Occlusion(model, progress=False).attribute(x, 0)
    with pytest.raises(ValueError, match=r"window must be .* positive ints .*h = 0"):
        Occlusion(model, window=(2, 0, 4))
    with pytest.raises(TypeError, match=r"window must be a \(t, h, w\) tuple"):
        Occlusion(model, window=4)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"strides must be positive ints; got \(1, -1, 1\)"):
        Occlusion(model, strides=(1, -1, 1))
    with pytest.raises(ValueError, match="strides must not exceed the window"):
        Occlusion(model, window=(2, 4, 4), strides=(2, 5, 4))
    with pytest.raises(
        ValueError, match=r"baseline must be broadcastable to the clip's shape \(1, 3, 8, 12, 12\)"
    ):
        Occlusion(model, window=(2, 4, 4), baseline=torch.zeros(3, 8, 12, 11)).attribute(x, 0)
    with pytest.raises(ValueError, match='baseline must be "blur", a float or a tensor'):
        Occlusion(model, baseline="grey")
    with pytest.raises(ValueError, match="baseline contains 1 NaN"):
        Occlusion(model, baseline=torch.tensor(float("nan")))
    with pytest.raises(ValueError, match="stride must not exceed span"):
        TemporalOcclusion(model, span=2, stride=3)
    with pytest.raises(ValueError, match="span must be an int >= 1"):
        TemporalOcclusion(model, span=0)
