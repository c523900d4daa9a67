"""Careless calls every method family must survive: a score function that returns NaN, a clip made under
``torch.inference_mode()``, a batch larger than ``max_batch_size`` whose top classes must be found."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor, nn

from tests.helpers import clip, tiny_cnn3d
from videoattr import Attributor
from videoattr.core.targets import resolve_target
from videoattr.methods import build_attributor

EP = {"max_iter": 2, "progress": False, "areas": 0.1}
#: One method of each family, with options that make it quick on the tiny model.
FAMILIES: dict[str, dict[str, Any]] = {
    "saliency": {},
    "integrated_gradients": {"steps": 3},
    "smoothgrad": {"n": 2},
    "grad_cam": {"layer": "2"},
    "score_cam": {"layer": "2"},
    "occlusion": {"window": (4, 12, 12), "progress": False},
    "rise": {"n": 4, "grid": (2, 3, 3), "progress": False},
    "step": EP,
}


def build(name: str, model: nn.Module, **extra: Any) -> Attributor:
    return build_attributor(name, model, **{**FAMILIES[name], **extra})


def test_a_callable_s_non_finite_scores_name_the_clip() -> None:
    target = resolve_target(lambda z: z[:, 0] / (z[:, 1] > 0).to(z.dtype), 2)
    logits = torch.tensor([[1.0, 1.0], [1.0, -1.0], [1.0, 1.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match=r"target callable returned non-finite .* for clip 1;"):
        target.score(logits, torch.tensor([0, 1, 0, 0]))


@pytest.mark.parametrize("name", list(FAMILIES))
def test_a_callable_target_returning_nan_is_refused(name: str) -> None:
    attributor = build(name, tiny_cnn3d())
    with pytest.raises(ValueError, match=r"target callable returned non-finite scores"):
        attributor.attribute(clip(b=2, t=8, h=24, w=24), lambda logits: logits[:, 0] / 0)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_a_clip_made_under_inference_mode_is_explained_like_any_other(name: str) -> None:
    x = clip(b=2, t=8, h=24, w=24)
    with torch.inference_mode():
        frozen = x.clone()
    assert frozen.is_inference()
    expected = build(name, tiny_cnn3d()).attribute(x, 1)
    got = build(name, tiny_cnn3d()).attribute(frozen, 1)
    torch.testing.assert_close(got, expected)


class CountingModel(nn.Module):
    """The tiny CNN, recording the rows of every forward run without a graph."""

    def __init__(self) -> None:
        super().__init__()
        self.net = tiny_cnn3d()
        self.no_grad_rows: list[int] = []

    def forward(self, x: Tensor) -> Tensor:
        if not torch.is_grad_enabled():
            self.no_grad_rows.append(int(x.shape[0]))
        out: Tensor = self.net(x)
        return out


@pytest.mark.parametrize(
    ("name", "target", "call"),
    [
        ("saliency", 1, "explain"),
        ("saliency", "top2", "attribute"),
        ("integrated_gradients", None, "attribute"),
        ("step", None, "attribute"),
        ("occlusion", "top2", "attribute"),
        ("rise", None, "attribute"),
    ],
)
def test_the_forward_finding_the_top_class_honours_max_batch_size(
    name: str, target: object, call: str
) -> None:
    model = CountingModel()
    extra = {"layer": "net.2"} if "layer" in FAMILIES[name] else {}
    attributor = build(name, model, max_batch_size=2, **extra)
    getattr(attributor, call)(clip(b=5, t=8, h=24, w=24), target)
    assert model.no_grad_rows, "no gradient-free forward ran"
    assert max(model.no_grad_rows) <= 2, model.no_grad_rows
