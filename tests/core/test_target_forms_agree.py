"""Every target form stands for the same classes in every method: the perturbation methods (whose
scores come from `make_scorer`), a gradient method (`expand_targets` / `resolve_target`), the
explanations (`target_indices`) and `target_classes` itself.

The classes each form stands for are written out here independently (the given classes as they
are, ``None`` and ``"topK"`` from the model's own logits); each method's maps for a form must equal
its maps for those explicit classes, one class per call.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

from tests.helpers import clip, tiny_cnn3d
from videoattr.core.base import Attributor
from videoattr.core.targets import is_multi_target, target_classes, target_indices
from videoattr.methods import RISE, GradCAM3D, Occlusion, Saliency

B, T, H, W = 2, 4, 8, 8


@pytest.fixture(scope="module")
def model() -> nn.Module:
    return tiny_cnn3d(num_classes=5, seed=3).double().eval()


@pytest.fixture(scope="module")
def x() -> Tensor:
    return clip(b=B, t=T, h=H, w=W, seed=5).double()


@pytest.fixture(scope="module")
def logits(model: nn.Module, x: Tensor) -> Tensor:
    with torch.no_grad():
        out: Tensor = model(x)
    return out


def forms(logits: Tensor) -> list[tuple[object, list[list[int]]]]:
    """``(target form, the classes (B, K) it stands for)``, the classes written out independently."""
    ranking = logits.argsort(dim=1, descending=True).tolist()
    return [
        (2, [[2], [2]]),
        ([1, 3], [[1], [3]]),
        (torch.tensor([4, 0]), [[4], [0]]),
        (torch.tensor(1), [[1], [1]]),
        (torch.tensor([[0, 3], [2, 2]]), [[0, 3], [2, 2]]),
        (torch.tensor([[3], [1]]), [[3], [1]]),
        ("top3", [r[:3] for r in ranking]),
        ("topk:2", [r[:2] for r in ranking]),
        (None, [r[:1] for r in ranking]),
    ]


METHODS: dict[str, Callable[[nn.Module], Attributor]] = {
    "occlusion": lambda m: Occlusion(m, window=(2, 4, 4), strides=2, progress=False),
    "rise": lambda m: RISE(m, n=6, grid=(2, 3, 3), seed=7, max_batch_size=4, progress=False),
    "saliency": lambda m: Saliency(m, max_batch_size=1),
    "grad_cam": lambda m: GradCAM3D(m, layer="2", max_batch_size=1),
}


def test_target_classes_and_target_indices_give_the_written_classes(logits: Tensor) -> None:
    for form, classes in forms(logits):
        expected = torch.tensor(classes)
        assert torch.equal(target_classes(form, logits), expected), form
        shaped = expected if is_multi_target(form) else expected[:, 0]
        found = target_indices(form, logits)  # type: ignore[arg-type]
        assert found is not None and torch.equal(found, shaped), form
    assert target_indices(lambda z: z[:, 0], logits) is None


@pytest.mark.parametrize("name", list(METHODS))
def test_every_form_explains_its_classes_in_every_method(
    name: str, model: nn.Module, x: Tensor, logits: Tensor
) -> None:
    attributor = METHODS[name](model)
    for form, classes in forms(logits):
        expected = torch.tensor(classes)
        maps = attributor.attribute(x, form)
        several = is_multi_target(form)
        assert maps.dim() == (6 if several else 5), (name, form)
        per_class = maps if several else maps[:, None]
        assert per_class.shape[1] == expected.shape[1], (name, form)
        for k in range(expected.shape[1]):
            alone = attributor.attribute(x, expected[:, k])
            torch.testing.assert_close(per_class[:, k], alone, msg=f"{name} {form!r} class {k}")
        found = attributor.explain(x, form).target  # type: ignore[arg-type]
        assert found is not None
        assert torch.equal(found, expected if several else expected[:, 0]), (name, form)


@pytest.mark.parametrize("name", list(METHODS))
@pytest.mark.parametrize(
    "form,exc,match",
    [
        ([None, 1], TypeError, "target sequence must contain ints"),
        ([1, 2, 3], ValueError, r"one class per clip \(length 2\)"),
        (torch.tensor([[0, 7], [1, 2]]), ValueError, r"class indices in \[0, 4\]"),
        (9, ValueError, r"class indices in \[0, 4\]"),
        ("top6", ValueError, "asks for 6 classes but the model has 5"),
    ],
)
def test_every_method_refuses_the_same_forms(
    name: str, form: object, exc: type[Exception], match: str, model: nn.Module, x: Tensor
) -> None:
    with pytest.raises(exc, match=match):
        METHODS[name](model).attribute(x, form)
