from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from tests.metrics.conftest import RegionModel, devices
from videoattr.core.ops import gaussian_blur_frames
from videoattr.metrics import deletion, insertion
from videoattr.metrics.deletion_insertion import rank_voxels


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def test_hand_computed_deletion_and_insertion_curves() -> None:
    # four voxels, a model whose class-0 logit is their mean, deleted to a zero baseline
    x = torch.tensor([4.0, 3.0, 2.0, 1.0]).view(1, 1, 1, 1, 4)
    model = RegionModel(torch.ones(1, 1, 1, 1, 4), scale=1.0)
    attribution = torch.tensor([0.9, 0.5, 0.2, 0.1]).view(1, 1, 1, 1, 4)
    zero = torch.zeros(1)

    result = deletion(model, x, attribution, target=0, steps=4, baseline=zero)
    expected = [_sigmoid(v) for v in (10 / 4, 6 / 4, 3 / 4, 1 / 4, 0.0)]
    torch.testing.assert_close(result.scores[0], torch.tensor(expected))
    torch.testing.assert_close(result.fractions, torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]))
    auc = 0.25 * (sum(expected) - 0.5 * (expected[0] + expected[-1]))
    assert result.auc.item() == pytest.approx(auc, abs=1e-6)

    result = insertion(model, x, attribution, target=0, steps=4, baseline=zero)
    expected = [_sigmoid(v) for v in (0.0, 4 / 4, 7 / 4, 9 / 4, 10 / 4)]
    torch.testing.assert_close(result.scores[0], torch.tensor(expected))


def test_pointing_at_evidence_beats_inverse_and_random(
    region_setup: tuple[RegionModel, Tensor, Tensor],
) -> None:
    model, x, gt = region_setup
    perfect = gt.float()
    inverse = 1 - perfect
    random = torch.rand(perfect.shape, generator=torch.Generator().manual_seed(1))
    d_perfect, d_inverse, d_random = (
        deletion(model, x, m, target=0, steps=16).auc for m in (perfect, inverse, random)
    )
    i_perfect, i_inverse, i_random = (
        insertion(model, x, m, target=0, steps=16).auc for m in (perfect, inverse, random)
    )
    assert bool((d_perfect < d_random).all()) and bool((d_random < d_inverse).all())
    assert bool((i_perfect > i_random).all()) and bool((i_random > i_inverse).all())


def test_default_baseline_is_the_blurred_clip(
    region_setup: tuple[RegionModel, Tensor, Tensor],
) -> None:
    model, x, gt = region_setup
    result = deletion(model, x, gt.float(), target=0, steps=5)
    blurred = gaussian_blur_frames(x, 20.0 * 16 / 112)
    with torch.no_grad():
        p_clean = torch.softmax(model(x), 1)[:, 0]
        p_blur = torch.softmax(model(blurred), 1)[:, 0]
    torch.testing.assert_close(result.scores[:, 0], p_clean)
    torch.testing.assert_close(result.scores[:, -1], p_blur)
    ins = insertion(model, x, gt.float(), target=0, steps=5)
    torch.testing.assert_close(ins.scores[:, 0], p_blur)
    torch.testing.assert_close(ins.scores[:, -1], p_clean)


def test_batching_target_forms_and_area_channels(
    region_setup: tuple[RegionModel, Tensor, Tensor],
) -> None:
    model, x, _ = region_setup
    maps = torch.rand(2, 1, 8, 16, 16, generator=torch.Generator().manual_seed(3))
    full = deletion(model, x, maps, target=0, steps=6)
    chunked = deletion(model, x, maps, target=0, steps=6, max_batch_size=4)
    torch.testing.assert_close(full.scores, chunked.scores)
    # None resolves to the top class; this model predicts class 0 on these clips
    torch.testing.assert_close(deletion(model, x, maps, steps=6).scores, full.scores)
    # a callable target's score is used as is (here the class-0 logit)
    logit = deletion(model, x, maps, target=lambda z: z[:, 0], steps=6)
    torch.testing.assert_close(torch.sigmoid(logit.scores), full.scores)
    # masks at two areas are summed into one ranking
    two = torch.cat([maps, maps], dim=1)
    torch.testing.assert_close(deletion(model, x, two, target=0, steps=6).scores, full.scores)


def test_ties_are_ordered_by_a_seeded_permutation() -> None:
    flat = torch.zeros(2, 1, 2, 3, 4)
    flat[0, 0, 0, 0, 0] = 1.0
    r0, r1 = rank_voxels(flat, seed=0), rank_voxels(flat, seed=0)
    torch.testing.assert_close(r0, r1)
    assert r0[0, 0].item() == 0  # the unique maximum comes first
    assert sorted(r0[1].tolist()) == list(range(24))
    assert not torch.equal(rank_voxels(flat, seed=1)[1], r0[1])
    assert r0[1].tolist() != list(range(24))  # not raster order


@pytest.mark.parametrize("device", devices())
def test_runs_on_the_inputs_device(
    device: str, region_setup: tuple[RegionModel, Tensor, Tensor]
) -> None:
    model, x, gt = region_setup
    result = insertion(model.to(device), x.to(device), gt.float().to(device), target=0, steps=3)
    assert result.auc.device.type == device and result.scores.shape == (2, 4)


def test_shape_errors_name_the_argument(region_setup: tuple[RegionModel, Tensor, Tensor]) -> None:
    model, x, gt = region_setup
    with pytest.raises(ValueError, match="attribution"):
        deletion(model, x, gt.float()[:, :, :4], target=0)
    with pytest.raises(ValueError, match="attribution"):
        deletion(model, x, gt.float()[:, 0], target=0)
    with pytest.raises(ValueError, match="steps"):
        deletion(model, x, gt.float(), target=0, steps=0)
    with pytest.raises(ValueError, match="baseline"):
        deletion(model, x, gt.float(), target=0, baseline=torch.zeros(3, 3))
    with pytest.raises(TypeError, match="model"):
        deletion("not a model", x, gt.float())  # type: ignore[arg-type]
