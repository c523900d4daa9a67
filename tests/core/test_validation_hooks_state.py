from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.helpers import tiny_cnn3d
from videoattr.core.batching import chunk_slices
from videoattr.core.hooks import capture_layer, resolve_layer
from videoattr.core.ops import (
    gaussian_blur_frames,
    gaussian_kernel1d,
    normalize_per_clip,
    resize_to_clip,
)
from videoattr.core.state import model_session
from videoattr.core.validation import check_areas, check_clip


def test_check_clip_messages() -> None:
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        check_clip([1, 2, 3])
    with pytest.raises(ValueError, match="unsqueeze"):
        check_clip(torch.zeros(3, 4, 5, 5))
    with pytest.raises(ValueError, match="inf"):
        check_clip(torch.full((1, 3, 2, 2, 2), float("inf")))
    with pytest.raises(ValueError, match=r"T >= 7, H >= 11"):
        check_clip(torch.zeros(1, 3, 4, 8, 8), min_size=(7, 11, 11))
    with pytest.raises(ValueError, match="empty"):
        check_clip(torch.zeros(0, 3, 4, 8, 8))


@pytest.mark.parametrize("areas", [0.0, 1.0, [0.1, 1.2], -0.5, []])
def test_areas_outside_unit_interval(areas: object) -> None:
    with pytest.raises(ValueError, match="areas"):
        check_areas(areas)  # type: ignore[arg-type]


def test_areas_forms() -> None:
    assert check_areas(0.1) == [0.1]
    assert check_areas([0.05, 0.2]) == [0.05, 0.2]
    assert check_areas(torch.tensor([0.5])) == [0.5]


def test_resolve_layer_lists_close_matches() -> None:
    from torchvision.models.video import r3d_18

    model = r3d_18()
    assert resolve_layer(model, "layer4") is model.layer4
    assert resolve_layer(model, "layer4.1.conv2") is model.layer4[1].conv2
    with pytest.raises(ValueError, match=r"'layer5'.*close matches.*layer4"):
        resolve_layer(model, "layer5")
    with pytest.raises(ValueError, match="not part of the model"):
        resolve_layer(model, nn.Conv3d(1, 1, 1))
    with pytest.raises(TypeError, match="dotted module name"):
        resolve_layer(model, 4)  # type: ignore[arg-type]


def test_capture_layer_removes_hook_on_error() -> None:
    model = tiny_cnn3d()
    with pytest.raises(RuntimeError, match="boom"), capture_layer(model, "2") as cap:
        model(torch.zeros(1, 3, 4, 8, 8))
        assert cap.output.shape == (1, 16, 2, 4, 4)
        raise RuntimeError("boom")
    assert not model[2]._forward_hooks


def test_model_session_restores_flags() -> None:
    model = tiny_cnn3d().train()
    model[0].weight.requires_grad_(False)
    with model_session(model):
        assert not model.training and not any(p.requires_grad for p in model.parameters())
        assert torch.is_grad_enabled()
    assert model.training and not model[0].weight.requires_grad and model[0].bias.requires_grad
    with torch.no_grad(), model_session(model):
        assert torch.is_grad_enabled()


def test_chunk_slices() -> None:
    assert [(s.start, s.stop) for s in chunk_slices(5, 2)] == [(0, 2), (2, 4), (4, 5)]
    assert [(s.start, s.stop) for s in chunk_slices(5, None)] == [(0, 5)]


def test_ops() -> None:
    taps = gaussian_kernel1d(2.0)
    assert taps.numel() == 17 and abs(float(taps.sum()) - 1) < 1e-6
    assert gaussian_kernel1d(0.0).tolist() == [1.0]
    x = torch.zeros(1, 1, 1, 21, 21)
    x[..., 10, 10] = 1
    blurred = gaussian_blur_frames(x, 2.0)
    torch.testing.assert_close(blurred[0, 0, 0, 2:19, 2:19], torch.outer(taps, taps))
    assert float(blurred[0, 0, 0, :2].abs().max()) == 0.0
    maps = torch.rand(2, 1, 2, 3, 3)
    assert resize_to_clip(maps, (4, 6, 6)).shape == (2, 1, 4, 6, 6)
    n = normalize_per_clip(maps)
    assert torch.allclose(n.flatten(1).amax(1), torch.ones(2))


def test_capture_layer_as_leaf_handles_tuple_outputs() -> None:
    class Pair(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv3d(3, 4, 1)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            y = self.conv(x)
            return y, y.detach()

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pair = Pair()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y, _ = self.pair(x)
            return (y**2).flatten(1).sum(1, keepdim=True)

    net = Net()
    x = torch.randn(2, 3, 2, 3, 3)
    with capture_layer(net, "pair", as_leaf=True) as cap:
        out = net(x)
    (g,) = torch.autograd.grad(out.sum(), cap.output)
    torch.testing.assert_close(g, 2 * net.pair.conv(x).detach())


def test_layers_are_found_through_wrappers_around_and_inside_a_model() -> None:
    """One lookup for the methods and the zoo: compile/DataParallel parts of names are skipped anywhere."""
    from videoattr.core.hooks import layer_name, unwrap_model
    from videoattr.zoo import find_layer_name

    net = tiny_cnn3d()
    around = nn.DataParallel(nn.DataParallel(net))
    assert unwrap_model(around) is net
    assert resolve_layer(around, "2") is net[2]
    inside = nn.Sequential(nn.DataParallel(net))  # e.g. an adapter whose model is wrapped
    assert resolve_layer(inside, "0.2") is net[2]  # was found by the zoo's lookup only
    assert resolve_layer(inside, "0.module.2") is net[2]
    assert layer_name(inside, net[2]) == "0.2" == layer_name(inside, "0.module.2")
    assert find_layer_name(inside, "0.2") == "0.module.2"
    with pytest.raises(ValueError, match=r"'0.9' is not a sub-module"):
        resolve_layer(inside, "0.9")
