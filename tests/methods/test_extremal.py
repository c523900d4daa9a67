"""Public behaviour of ExtremalPerturbation2D, ExtremalPerturbation3D and STEP (small clips, few iterations)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tests.helpers import clip, tiny_cnn3d
from videoattr.methods.extremal import (
    STEP,
    ExtremalPerturbation2D,
    ExtremalPerturbation3D,
    PerturbationSettings,
)
from videoattr.methods.extremal.attributors import ExtremalPerturbationBase

METHODS: list[type[ExtremalPerturbationBase]] = [
    ExtremalPerturbation2D,
    ExtremalPerturbation3D,
    STEP,
]


def small(
    method: type[ExtremalPerturbationBase], model: nn.Module | None = None, **kw: object
) -> ExtremalPerturbationBase:
    options: dict[str, object] = {"max_iter": 4, "progress": False}
    if method is STEP:
        # let the smoothness term act within a short run, at the stated iteration
        options["smoothness_start"] = 2
        options["schedule"] = "per_iteration"
    options.update(kw)
    return method(model if model is not None else tiny_cnn3d(), **options)  # type: ignore[arg-type]


class FrameDetector(nn.Module):
    """Class 0 scores the fine detail (high-pass energy) of frames ``0 .. informative-1`` only."""

    def __init__(self, informative: int = 4) -> None:
        super().__init__()
        self.informative = informative
        self.scale = nn.Parameter(torch.tensor(8.0))

    def forward(self, x: Tensor) -> Tensor:
        smooth = F.avg_pool3d(x, (1, 3, 3), stride=1, padding=(0, 1, 1), count_include_pad=False)
        energy = (x - smooth)[:, :, : self.informative].pow(2).mean(dim=(1, 2, 3, 4))
        return torch.stack([self.scale * (energy - 0.3), torch.zeros_like(energy)], dim=1)


@pytest.mark.parametrize("method", METHODS)
def test_masks_shape_range_device_and_no_graph(method: type[ExtremalPerturbationBase]) -> None:
    x = clip(b=2, t=8, h=32, w=32)
    masks = small(method).attribute(x, target=1, areas=[0.05, 0.1, 0.2])
    assert masks.shape == (2, 3, 8, 32, 32)
    assert masks.device == x.device and masks.dtype == torch.float32
    assert not masks.requires_grad
    assert masks.min() >= 0 and masks.max() <= 1
    single = small(method).attribute(x, target=1, areas=0.1)
    assert single.shape == (2, 1, 8, 32, 32)


@pytest.mark.parametrize(
    "target",
    [None, 2, [1, 3], torch.tensor([4, 0]), lambda logits: torch.log_softmax(logits, 1)[:, 2]],
)
def test_every_target_form(target: object) -> None:
    x = clip(b=2, t=8, h=32, w=32)
    result = small(ExtremalPerturbation3D).optimize(x, target=target, areas=[0.1, 0.2])  # type: ignore[arg-type]
    assert result.masks.shape == (2, 2, 8, 32, 32)
    assert torch.isfinite(result.history.energy).all()


def test_history_and_result_fields() -> None:
    x = clip(b=2, t=8, h=32, w=32)
    result = small(STEP, max_iter=5).optimize(x, target=1, areas=[0.1, 0.3])
    hist = result.history
    for field in (hist.reward, hist.area, hist.smoothness, hist.energy, hist.probability):
        assert field.shape == (2, 2, 5)
    torch.testing.assert_close(hist.energy, hist.reward + hist.area + hist.smoothness)
    assert ((hist.probability > 0) & (hist.probability <= 1)).all()
    # STEP: reward weight 1 -> reward = -log p of the perturbed clip
    torch.testing.assert_close(hist.reward, -hist.probability.log(), rtol=1e-4, atol=1e-5)
    # smoothness acts from smoothness_start = 2 on
    assert (hist.smoothness[..., :2] == 0).all() and (hist.smoothness[..., 2:] > 0).all()
    assert result.iterations == 5 and hist.num_iterations == 5
    assert result.areas == (0.1, 0.3)
    assert result.target is not None and result.target.tolist() == [1, 1]
    for field in (
        result.achieved_area,
        result.mask_area,
        result.preserved_probability,
        result.deleted_probability,
    ):
        assert field.shape == (2, 2)
    assert result.frame_area.shape == (2, 2, 8)
    torch.testing.assert_close(result.mask_area, result.masks.mean(dim=(2, 3, 4)))
    torch.testing.assert_close(result.final_energy, hist.energy[..., -1])


def test_step_area_weight_grows_by_the_schedule() -> None:
    x = clip(b=1, t=8, h=32, w=32)
    # Freeze the mask (lr tiny) so the raw area term is constant: the weighted term follows lambda_t.
    result = small(STEP, max_iter=4, lr=1e-12, smoothness_weight=0.0).optimize(
        x, target=1, areas=0.1
    )
    area = result.history.area[0, 0]
    ratios = area[1:] / area[:-1]
    torch.testing.assert_close(ratios, torch.full_like(ratios, 1.0008668), rtol=1e-5, atol=0)


@pytest.mark.parametrize("method", METHODS)
def test_batched_call_equals_separate_calls(method: type[ExtremalPerturbationBase]) -> None:
    """In float64 a clip x area's mask is the same alone or in a batch, bit for bit.

    In float32 other batch sizes pick other kernels, and the optimisation amplifies their rounding: the
    masks then agree only to about 1e-4 after a few iterations (more after many).
    """
    model = tiny_cnn3d().double()
    x = clip(b=2, t=8, h=32, w=32).double()
    areas = [0.1, 0.25]
    batched = small(method, model).attribute(x, target=[1, 3], areas=areas)
    for b, tgt in enumerate([1, 3]):
        for a, area in enumerate(areas):
            alone = small(method, model).attribute(x[b : b + 1], target=tgt, areas=area)
            assert torch.equal(batched[b, a], alone[0, 0])
    batched32 = small(method).attribute(x.float(), target=[1, 3], areas=areas)
    alone32 = small(method).attribute(x[:1].float(), target=1, areas=0.1)
    torch.testing.assert_close(batched32[0, 0], alone32[0, 0], atol=2e-3, rtol=0)


@pytest.mark.parametrize("variant", ["preserve", "dual"])
@pytest.mark.parametrize("max_batch_size", [1, 3])
def test_masks_do_not_depend_on_max_batch_size(variant: str, max_batch_size: int) -> None:
    """Float64: identical however the rows are split (float32: see test_batched_call_...)."""
    model = tiny_cnn3d().double()
    x = clip(b=2, t=8, h=32, w=32).double()
    full = small(STEP, model, variant=variant).optimize(x, target=1, areas=[0.1, 0.2])
    split = small(STEP, model, variant=variant, max_batch_size=max_batch_size).optimize(
        x, target=1, areas=[0.1, 0.2]
    )
    assert torch.equal(split.masks, full.masks)
    assert torch.equal(split.history.energy, full.history.energy)


def test_repeated_calls_are_deterministic_and_seeded_tie_break_too() -> None:
    x = clip(b=1, t=8, h=32, w=32)
    for tie_break in ("sort", "stable", "random"):
        method = small(ExtremalPerturbation3D, tie_break=tie_break, seed=3)
        first = method.attribute(x, target=1, areas=0.1)
        assert torch.equal(first, method.attribute(x, target=1, areas=0.1))


def test_achieved_area_approaches_the_requested_area_as_iterations_grow() -> None:
    x = clip(b=1, t=8, h=32, w=32)
    method = ExtremalPerturbation3D(tiny_cnn3d(), progress=False)
    errors = [
        (method.optimize(x, target=1, areas=0.2, max_iter=n).achieved_area - 0.2).abs().item()
        for n in (5, 30, 120)
    ]
    # From the all-ones start the area falls to the requested one and stays near it: the area term
    # balances the reward at a few hundredths from a (not monotonically: the float rounding of either
    # mask generator moves the last thousandths).
    assert errors[0] > 0.1
    assert max(errors[1:]) < 0.05


def test_2d_ep_keeps_the_area_in_every_frame_3d_ep_moves_it_to_informative_frames() -> None:
    x = clip(b=1, t=8, h=32, w=32, seed=1)
    model = FrameDetector(informative=4)
    kw: dict[str, object] = {"max_iter": 80, "progress": False}
    frame = ExtremalPerturbation2D(model, **kw).optimize(x, target=0, areas=0.15)  # type: ignore[arg-type]
    clip_wise = ExtremalPerturbation3D(model, **kw).optimize(x, target=0, areas=0.15)  # type: ignore[arg-type]
    per_frame_2d = frame.frame_area[0, 0]
    per_frame_3d = clip_wise.frame_area[0, 0]
    # 2D-EP: even the frames the model ignores keep (about) area a ...
    assert ((per_frame_2d[4:] - 0.15).abs() < 0.04).all(), per_frame_2d
    # ... 3D-EP moves the area out of them into the frames the model looks at.
    assert (per_frame_3d[4:] < 0.03).all(), per_frame_3d
    assert (per_frame_3d[:4] > 0.3).all(), per_frame_3d


def test_early_stop_ends_a_stalled_run() -> None:
    x = clip(b=1, t=8, h=32, w=32)
    result = small(ExtremalPerturbation3D, max_iter=50, lr=1e-9, early_stop=3).optimize(
        x, target=1, areas=0.1
    )
    assert result.iterations < 50
    assert result.history.energy.shape[-1] == result.iterations


def test_early_stop_none_runs_every_iteration() -> None:
    """``None`` is a value: it turns early stopping off, in the constructor and per call."""
    x = clip(b=1, t=8, h=32, w=32)
    stalled = PerturbationSettings(max_iter=30, lr=1e-9, early_stop=3, progress=False)
    method = ExtremalPerturbation3D(tiny_cnn3d(), settings=stalled)
    assert method.optimize(x, target=1).iterations < 30  # the settings' early stop acts
    for result in (
        ExtremalPerturbation3D(tiny_cnn3d(), settings=stalled, early_stop=None).optimize(x, 1),
        method.optimize(x, target=1, early_stop=None),
    ):
        assert result.iterations == 30 and not result.stopped_early
        assert result.history.energy.shape[-1] == 30
    assert method.settings.early_stop == 3  # the per-call value did not stay
    assert method.optimize(x, target=1).iterations < 30


def test_any_setting_can_be_given_per_call() -> None:
    """STEP(lr=0.1) per call: the issue's example, which failed with an unexpected keyword before."""
    x, model = clip(b=1, t=8, h=32, w=32), tiny_cnn3d()
    step = small(STEP, model)
    per_call = step.attribute(x, 1, lr=0.1, areas=[0.1, 0.2])
    built = small(STEP, model, lr=0.1, areas=[0.1, 0.2]).attribute(x, 1)
    torch.testing.assert_close(per_call, built, rtol=0, atol=0)
    assert step.settings.lr == 0.05 and step.areas == (0.1,)
    assert not torch.equal(step.attribute(x, 1, areas=[0.1, 0.2]), per_call)
    explanation = step.explain(x, 1, lr=0.1, preset="fast")
    assert explanation.config["lr"] == 0.1 and explanation.config["preset"] == "fast"
    assert (
        explanation.config["optimizer"] == "adam"
    )  # the fast preset, as the constructor applies it
    assert explanation.config["max_iter"] == 4  # given to the constructor: kept over the preset's
    with pytest.raises(TypeError, match=r"STEP has no option 'lrr' \(did you mean 'lr'\?\)"):
        step.attribute(x, 1, lrr=0.1)
    with pytest.raises(ValueError, match="lr must be a positive number"):
        step.attribute(x, 1, lr=-1.0)
    with pytest.raises(TypeError, match="takes from 2 to 3 positional arguments"):
        step.attribute(x, 1, 0.2)  # type: ignore[call-arg]  # areas are a keyword, like every option


def test_the_signature_lists_every_setting_at_the_class_default() -> None:
    import dataclasses
    import inspect

    for method in METHODS:
        params = inspect.signature(method).parameters
        for field in dataclasses.fields(PerturbationSettings):
            assert params[field.name].default == getattr(method.defaults, field.name)
            assert params[field.name].kind is inspect.Parameter.KEYWORD_ONLY
    assert inspect.signature(STEP).parameters["reward_weight"].default == 1.0
    assert inspect.signature(ExtremalPerturbation2D).parameters["area_mode"].default == "frame"
    with pytest.raises(TypeError, match="has no option 'max_iters'"):
        STEP(tiny_cnn3d(), max_iters=3)


def test_adam_option_runs_and_lowers_the_energy() -> None:
    x = clip(b=1, t=8, h=32, w=32)
    result = small(ExtremalPerturbation3D, optimizer="adam", lr=0.05, max_iter=10).optimize(
        x, target=1, areas=0.1
    )
    assert result.history.energy[0, 0, -1] < result.history.energy[0, 0, 0]


def test_model_state_is_restored() -> None:
    model = tiny_cnn3d()
    model.train()
    flags = [p.requires_grad for p in model.parameters()]
    small(STEP, model).attribute(clip(b=1, t=8, h=32, w=32), target=1, areas=0.1)
    assert model.training
    assert [p.requires_grad for p in model.parameters()] == flags


def test_progress_bar_can_be_shown(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("videoattr.core.progress.DELAY_S", 0.0)  # bars wait 1 s by default
    small(ExtremalPerturbation2D, progress=True, max_iter=2).attribute(
        clip(b=1, t=2, h=16, w=16), target=0
    )
    assert "ExtremalPerturbation2D" in capsys.readouterr().err


def test_settings_object_and_overrides() -> None:
    settings = PerturbationSettings(area_mode="frame", max_iter=3, progress=False)
    method = ExtremalPerturbation3D(tiny_cnn3d(), settings=settings, lr=0.1)
    assert (
        method.settings.area_mode == "frame"
        and method.settings.lr == 0.1
        and method.settings.max_iter == 3
    )
    assert STEP.defaults.reward_weight == 1 and STEP.defaults.smoothness_weight == 300
    assert (
        ExtremalPerturbation2D.defaults.max_iter == 2000
        and ExtremalPerturbation2D.defaults.lr == 0.05
    )


# -- errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("areas", [0.0, 1.0, [0.1, 1.5], -0.2])
def test_areas_outside_the_open_unit_interval_are_rejected(areas: object) -> None:
    with pytest.raises(ValueError, match=r"areas must lie strictly inside \(0, 1\)"):
        small(STEP).attribute(clip(b=1, t=8, h=32, w=32), target=1, areas=areas)  # type: ignore[arg-type]


def test_clip_shorter_than_the_smoothness_kernel_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"T >= 7"):
        small(STEP).attribute(clip(b=1, t=4, h=32, w=32), target=1)
    # 3D-EP has no smoothness term: short clips are fine.
    assert (
        small(ExtremalPerturbation3D).attribute(clip(b=1, t=4, h=32, w=32), target=1).shape[2] == 4
    )


def test_fewer_than_two_pyramid_levels_are_rejected() -> None:
    with pytest.raises(ValueError, match="num_levels must be an int >= 2"):
        ExtremalPerturbation3D(tiny_cnn3d(), num_levels=1)


def test_unknown_setting_and_bad_choice_are_rejected() -> None:
    with pytest.raises(ValueError, match="variant"):
        ExtremalPerturbation3D(tiny_cnn3d(), variant="keep")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="optimizer"):
        ExtremalPerturbation3D(tiny_cnn3d(), optimizer="lbfgs")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ExtremalPerturbation3D(tiny_cnn3d()).attribute(
            clip(b=1, t=2, h=16, w=16), 0, 0.1, iterations=3
        )


class Detached(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = tiny_cnn3d()

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.inner(x.detach())
        return out


def test_model_not_differentiable_in_its_input_is_rejected() -> None:
    with pytest.raises(RuntimeError, match="does not depend differentiably"):
        small(ExtremalPerturbation3D, Detached()).attribute(clip(b=1, t=8, h=32, w=32), target=1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu() -> None:
    x = clip(b=2, t=8, h=32, w=32)
    model = tiny_cnn3d()
    cpu = small(STEP, model, tie_break="stable").attribute(x, target=1, areas=[0.1, 0.2])
    gpu = small(STEP, model.cuda(), tie_break="stable").attribute(
        x.cuda(), target=1, areas=[0.1, 0.2]
    )
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-4, rtol=0)


def test_fast_preset_runs_the_paper_schedule_in_fewer_adam_iterations() -> None:
    reference = STEP.defaults
    fast = reference.fast(400)
    assert fast.optimizer == "adam" and fast.max_iter == 400 and fast.schedule == "run"
    assert fast.effective_area_growth**400 == pytest.approx(
        reference.effective_area_growth**2000, rel=1e-9
    )
    assert fast.effective_smoothness_start == round(101 * 400 / 2000)
    # the one change to the energy: STEP's reward weight is raised to the preset's floor, 8
    assert (fast.reward_weight, fast.area_weight, fast.smoothness_weight) == (8.0, 300.0, 300.0)
    assert reference.fast(400, min_reward_weight=0).reward_weight == 1.0
    assert reference.fast(400, min_reward_weight=20).reward_weight == 20.0
    assert ExtremalPerturbation3D.defaults.fast().reward_weight == 100.0  # above the floor: kept
    assert STEP(tiny_cnn3d(), preset="fast", reward_weight=1.0).settings.reward_weight == 1.0
    with pytest.raises(ValueError, match="min_reward_weight"):
        reference.fast(min_reward_weight=-1.0)
    assert reference.optimizer == "sgd" and reference.max_iter == 2000  # the defaults are untouched
    assert reference.reward_weight == 1.0
    sgd = reference.fast(400, lr=0.05, optimizer="sgd")
    assert sgd.optimizer == "sgd" and sgd.momentum == 0.9 and sgd.lr == 0.05
    preset = STEP(tiny_cnn3d(), preset="fast").settings
    assert preset == reference.fast()
    assert STEP(tiny_cnn3d(), preset="fast", max_iter=50).settings.max_iter == 50
    with pytest.raises(ValueError, match="preset"):
        STEP(tiny_cnn3d(), preset="quick")  # type: ignore[arg-type]


def test_a_short_step_run_keeps_the_papers_schedule() -> None:
    """60 iterations: smoothness from iteration 3 (101/2000 of the run), lambda x5.66^(59/60) at the end."""
    x = clip(b=1, t=8, h=32, w=32)
    result = STEP(tiny_cnn3d(), max_iter=60, progress=False).optimize(x, target=1, areas=0.1)
    hist = result.history
    smooth = hist.smoothness_weight
    assert smooth.shape == (60,) and (smooth[:3] == 0).all() and (smooth[3:] == 300).all()
    assert (hist.smoothness[..., :3] == 0).all() and (hist.smoothness[..., 3:] > 0).all()
    ratio = float(hist.area_weight[-1] / hist.area_weight[0])
    assert ratio == pytest.approx(1.0008668 ** (2000 * 59 / 60), rel=1e-9)
    assert ratio == pytest.approx(5.66 ** (59 / 60), rel=2e-3)  # about x5.50
    # the recorded weights are the ones applied: weighted terms / weights are the raw terms
    raw = hist.area[0, 0] / hist.area_weight
    assert torch.isfinite(raw).all() and (raw >= 0).all()
    # at 2000 iterations the run schedule is the reference implementation's per-iteration schedule
    paper = STEP.defaults
    per_it = paper.replace(schedule="per_iteration")
    for a, b in zip(paper.weights(), per_it.weights(), strict=True):
        assert torch.equal(a, b)


def test_per_iteration_schedule_keeps_the_stated_constants() -> None:
    settings = STEP.defaults.replace(max_iter=150, schedule="per_iteration")
    area, smooth = settings.weights()
    assert int((smooth > 0).nonzero()[0]) == 101
    assert float(area[1] / area[0]) == pytest.approx(1.0008668, rel=1e-12)


def test_early_stop_of_a_changing_schedule_is_recorded_and_warned() -> None:
    x = clip(b=1, t=8, h=32, w=32)
    step = STEP(
        tiny_cnn3d(), max_iter=60, lr=1e-12, early_stop=2, early_stop_tol=10.0, progress=False
    )
    with pytest.warns(UserWarning, match="before its schedule had run its course"):
        result = step.optimize(x, target=1, areas=0.1)
    assert result.stopped_early and result.iterations < 60
    assert result.history.area_weight.shape == (result.iterations,)
    quiet = ExtremalPerturbation3D(
        tiny_cnn3d(), max_iter=50, lr=1e-9, early_stop=3, progress=False
    ).optimize(x, target=1, areas=0.1)
    assert quiet.stopped_early  # constant weights: stopping early cuts no schedule, so no warning


def test_several_targets_per_clip_give_one_mask_per_target() -> None:
    # float64: in float32 the model's kernels round a batch of 2 and a batch of 1 differently, and a
    # mask value that crosses a pyramid level can turn that 1e-7 into 1e-4 within a few iterations
    x = clip(b=2, t=8, h=32, w=32).double()
    method = small(ExtremalPerturbation3D, tiny_cnn3d().double())
    masks = method.attribute(x, target=torch.tensor([[1, 3], [0, 2]]), areas=[0.1, 0.2])
    assert masks.shape == (2, 2, 2, 8, 32, 32)
    for b in range(2):
        for k, cls in enumerate([[1, 3], [0, 2]][b]):
            alone = method.attribute(x[b : b + 1], target=cls, areas=[0.1, 0.2])
            torch.testing.assert_close(masks[b, k], alone[0], atol=1e-5, rtol=0)
    explanation = method.explain(x, target="top2", areas=0.1)
    assert explanation.maps.shape == (2, 2, 1, 8, 32, 32)
    assert explanation.target is not None and explanation.target.shape == (2, 2)
    assert explanation.extras["preserved_probability"].shape == (2, 2, 1)
    # the final probabilities are those of each target's own class on its own clip
    result = explanation.extras["result"]
    for b in range(2):
        for k in range(2):
            alone = method.optimize(x[b : b + 1], target=int(explanation.target[b, k]), areas=0.1)
            for name in ("preserved_probability", "deleted_probability"):
                torch.testing.assert_close(
                    getattr(result, name)[b, k], getattr(alone, name)[0], atol=1e-6, rtol=0
                )


def test_several_targets_per_clip_blur_each_clip_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import videoattr.core.pyramid as pyramid_module
    from videoattr.core.ops import gaussian_blur_levels

    blurred: list[int] = []

    def counting(x: Tensor, sigmas: list[float], out: Tensor | None = None) -> Tensor:
        blurred.append(1)
        return gaussian_blur_levels(x, sigmas, out=out)

    monkeypatch.setattr(pyramid_module, "gaussian_blur_levels", counting)
    small(ExtremalPerturbation3D).attribute(clip(b=2, t=8, h=32, w=32), target="top3", areas=0.1)
    assert len(blurred) == 2  # two clips: not one pyramid per target


def test_explain_reports_probabilities_and_the_optimisation() -> None:
    x = clip(b=2, t=8, h=32, w=32)
    model = tiny_cnn3d()
    explanation = small(STEP, model, areas=[0.1, 0.2]).explain(x, target=1)
    assert explanation.method == "step" and explanation.maps.shape == (2, 2, 8, 32, 32)
    probs = torch.softmax(model(x), dim=1)
    torch.testing.assert_close(explanation.probabilities, probs, atol=1e-5, rtol=0)
    torch.testing.assert_close(explanation.target_probability, probs[:, 1], atol=1e-5, rtol=0)
    assert explanation.extras["preserved_probability"].shape == (2, 2)
    assert explanation.config["method"] == "step" and explanation.config["areas"] == [0.1, 0.2]
    assert "Explanation(" in repr(explanation) and len(repr(explanation)) < 600


def test_areas_on_the_constructor_and_per_call() -> None:
    x = clip(b=1, t=8, h=32, w=32)
    method = small(ExtremalPerturbation3D, areas=[0.05, 0.2])
    assert method.attribute(x, target=1).shape == (1, 2, 8, 32, 32)
    assert method.attribute(x, target=1, areas=0.3).shape == (1, 1, 8, 32, 32)
    assert method.config()["areas"] == [0.05, 0.2]
    with pytest.raises(ValueError, match="area"):
        small(ExtremalPerturbation3D, areas=1.5)


class RowCounter(nn.Module):
    """``tiny_cnn3d`` that counts the rows of every forward, with and without a graph."""

    def __init__(self) -> None:
        super().__init__()
        self.net = tiny_cnn3d()
        self.rows = {"graph": 0, "no graph": 0}

    def forward(self, x: Tensor) -> Tensor:
        self.rows["graph" if torch.is_grad_enabled() else "no graph"] += x.shape[0]
        out: Tensor = self.net(x)
        return out


@pytest.mark.parametrize(("variant", "final_rows"), [("preserve", 4), ("delete", 4), ("dual", 0)])
def test_a_call_scores_the_final_masks_once(variant: str, final_rows: int) -> None:
    """The last iteration scored the returned masks: only the clip it did not see costs a forward."""
    model = RowCounter()
    x = clip(b=2, t=8, h=32, w=32)
    small(ExtremalPerturbation3D, model, variant=variant, max_iter=3, warm_start="none").optimize(
        x, target=1, areas=[0.1, 0.2]
    )
    rows_per_mask = 2 if variant == "dual" else 1
    assert model.rows == {"graph": 3 * 4 * rows_per_mask, "no graph": final_rows}
