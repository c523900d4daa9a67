from __future__ import annotations

import pytest
import torch
from torch import Tensor

from tests.metrics.conftest import RegionModel
from videoattr.core.ops import gaussian_blur_frames
from videoattr.metrics import achieved_area, mask_scores


def test_achieved_area_hand_case() -> None:
    masks = torch.zeros(2, 2, 4, 4, 4)
    masks[0, 0, :, :2] = 1.0  # half of every frame
    masks[0, 1, 0] = 1.0  # one frame of four
    masks[1, 0] = 0.25
    area = achieved_area(masks)
    torch.testing.assert_close(area, torch.tensor([[0.5, 0.25], [0.25, 0.0]]))
    per_frame = achieved_area(masks, per_frame=True)
    assert per_frame.shape == (2, 2, 4)
    assert per_frame[0, 1].tolist() == [1.0, 0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        achieved_area(masks * 2)


def test_preserved_and_deleted_scores(region_setup: tuple[RegionModel, Tensor, Tensor]) -> None:
    model, x, gt = region_setup
    ones, zeros, evidence = (
        torch.ones_like(gt, dtype=torch.float32),
        torch.zeros_like(gt, dtype=torch.float32),
        gt.float(),
    )
    masks = torch.cat([ones, zeros, evidence, 1 - evidence], dim=1)  # (2, 4, T, H, W)
    scores = mask_scores(model, x, masks, target=0, max_batch_size=3, perturbation="blend")
    blurred = gaussian_blur_frames(x, 20.0 * 16 / 112)
    with torch.no_grad():
        p_clean = torch.softmax(model(x), 1)[:, 0]
        p_blur = torch.softmax(model(blurred), 1)[:, 0]
    torch.testing.assert_close(scores.clean, p_clean)
    torch.testing.assert_close(scores.preserved[:, 0], p_clean)  # keep everything
    torch.testing.assert_close(scores.preserved[:, 1], p_blur)  # keep nothing
    torch.testing.assert_close(scores.deleted[:, 0], p_blur)
    torch.testing.assert_close(scores.deleted[:, 1], p_clean)
    # this model only looks at the evidence: keeping it is as good as keeping everything
    torch.testing.assert_close(scores.preserved[:, 2], p_clean)
    torch.testing.assert_close(scores.deleted[:, 3], p_clean)
    assert bool((scores.deleted[:, 2] < p_clean - 0.1).all())
    torch.testing.assert_close(scores.area[:, 0], torch.ones(2))
    unbatched = mask_scores(model, x, masks, target=0, perturbation="blend")
    torch.testing.assert_close(unbatched.preserved, scores.preserved)


def test_mask_shape_error(region_setup: tuple[RegionModel, Tensor, Tensor]) -> None:
    model, x, gt = region_setup
    with pytest.raises(ValueError, match="masks"):
        mask_scores(model, x, gt.float()[:1], target=0)


@pytest.mark.parametrize(
    ("variant", "max_batch_size"), [("preserve", None), ("delete", 3), ("dual", 2)]
)
def test_preserved_and_deleted_scores_are_the_engines_numbers(
    variant: str, max_batch_size: int | None
) -> None:
    """mask_scores and the extremal engine mean the same thing by "preserved probability".

    The engine takes the probabilities of the clips its last iteration scored from that iteration
    (the masks returned are the ones it generated), and runs a forward for the others only.
    """
    from tests.helpers import clip, tiny_cnn3d
    from videoattr.methods.extremal import ExtremalPerturbation3D

    model = tiny_cnn3d()
    x = clip(b=2, t=8, h=32, w=32)
    result = ExtremalPerturbation3D(
        model,
        areas=[0.1, 0.3],
        max_iter=5,
        progress=False,
        variant=variant,
        max_batch_size=max_batch_size,
    ).optimize(x, target=[1, 2])
    scores = mask_scores(model, x, result.masks, target=[1, 2])
    torch.testing.assert_close(scores.preserved, result.preserved_probability, atol=1e-5, rtol=0)
    torch.testing.assert_close(scores.deleted, result.deleted_probability, atol=1e-5, rtol=0)
    blend = mask_scores(model, x, result.masks, target=[1, 2], perturbation="blend")
    assert not torch.allclose(blend.preserved, scores.preserved, atol=1e-5)
