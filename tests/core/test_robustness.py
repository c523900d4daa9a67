"""Faults and careless input: non-finite models, odd devices and dtypes, train-mode models, threads,
wrapped models."""

from __future__ import annotations

import math
import threading

import pytest
import torch
from torch import Tensor, nn

from tests.helpers import clip, tiny_cnn3d
from videoattr.core.hooks import layer_name, resolve_layer, unwrap_model
from videoattr.core.state import model_session
from videoattr.methods import GradCAM3D, IntegratedGradients, Saliency, SmoothGrad


class NaNForClip(nn.Module):
    """The tiny CNN, with NaN logits for every row whose first value is above ``threshold``."""

    def __init__(self, threshold: float) -> None:
        super().__init__()
        self.net = tiny_cnn3d()
        self.threshold = threshold

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.net(x)
        bad = x[:, 0, 0, 0, 0] > self.threshold
        return torch.where(bad.unsqueeze(1), torch.full_like(out, float("nan")), out)


def test_check_logits_names_the_clip_of_each_row() -> None:
    from videoattr.core.model_checks import check_logits

    logits = torch.zeros(6, 3)
    logits[4, 1] = float("inf")
    with pytest.raises(ValueError, match=r"non-finite logits .* for clip 4;"):
        check_logits(logits, 6)
    # rows 0..5 are 3 steps x 2 clips (step-major): row 4 is clip 0
    with pytest.raises(ValueError, match=r"non-finite logits .* for clip 0;"):
        check_logits(logits, 6, clip_index=torch.tensor([0, 1, 0, 1, 0, 1]))


@pytest.mark.parametrize(
    "build",
    [
        lambda m: Saliency(m),
        lambda m: IntegratedGradients(m, steps=3, max_batch_size=4),
        lambda m: SmoothGrad(Saliency(m), n=2, stdev_spread=0.0),
        lambda m: GradCAM3D(m, "net.2"),
    ],
    ids=["saliency", "ig", "smoothgrad", "grad_cam"],
)
@pytest.mark.parametrize("target", [None, 1])
def test_non_finite_logits_are_named(build: object, target: int | None) -> None:
    x = clip(b=3, t=4, h=12, w=12)
    x[:, 0, 0, 0, 0] = torch.tensor([-5.0, 5.0, -5.0])  # only clip 1 crosses the threshold
    model = NaNForClip(threshold=1.0)
    attributor = build(model)  # type: ignore[operator]
    with pytest.raises(
        ValueError, match=r"the model produced non-finite logits \(NaN or inf\) for clip 1;"
    ):
        attributor.attribute(x, target)


def test_meta_clip_and_dtype_mismatch_are_named() -> None:
    model = tiny_cnn3d()
    with pytest.raises(ValueError, match=r"x is on the 'meta' device"):
        Saliency(model).attribute(torch.empty(1, 3, 4, 8, 8, device="meta"), 0)
    half = clip(b=1, t=4, h=8, w=8).half()
    for attributor in (Saliency(model), GradCAM3D(model, "2"), IntegratedGradients(model, steps=2)):
        with pytest.raises(
            TypeError,
            match=r"x has dtype torch.float16 but the model's parameters are torch.float32",
        ):
            attributor.attribute(half, 0)


def test_non_finite_options_are_rejected_by_name() -> None:
    model = tiny_cnn3d()
    for value in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="stdev_spread must be a finite float"):
            SmoothGrad(Saliency(model), stdev_spread=value)
        with pytest.raises(ValueError, match="baseline must be a finite float"):
            IntegratedGradients(model, baseline=value)
    with pytest.raises(ValueError, match="stdev_spread must be a float >= 0"):
        SmoothGrad(Saliency(model), stdev_spread=-0.1)
    baseline = torch.zeros(1, 3, 1, 1, 1)
    baseline[0, 1] = float("nan")
    with pytest.raises(ValueError, match="baseline contains 1 NaN or infinite values"):
        IntegratedGradients(model, baseline=baseline)
    x = clip(b=1, t=4, h=8, w=8)
    noise = torch.zeros(2, *x.shape)
    noise[1, 0, 0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="noise contains 1 NaN or infinite values"):
        SmoothGrad(Saliency(model), n=2).attribute(x, 0, noise=noise)


def test_train_mode_buffers_are_restored_with_eval_mode_false() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv3d(3, 4, 3, padding=1),
        nn.BatchNorm3d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    ).train()
    bn = model[1]
    assert isinstance(bn, nn.BatchNorm3d)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = clip(b=2, t=4, h=8, w=8)
    for attributor in (
        Saliency(model, eval_mode=False),
        IntegratedGradients(model, steps=3, eval_mode=False),
        GradCAM3D(model, "0", eval_mode=False),
    ):
        out = attributor.attribute(x, 1)
        assert torch.isfinite(out).all()
        assert model.training and bn.training
        for key, value in model.state_dict().items():
            torch.testing.assert_close(value, before[key], rtol=0, atol=0, msg=key)
    # the forwards did update the statistics inside the session (so the restore is what keeps them)
    with model_session(model, eval_mode=False):
        model(x)
        assert int(bn.num_batches_tracked) == int(before["1.num_batches_tracked"]) + 1
    assert int(bn.num_batches_tracked) == int(before["1.num_batches_tracked"])


def test_concurrent_calls_on_one_model_are_serialised() -> None:
    model = tiny_cnn3d()
    for p in model.parameters():
        p.requires_grad_(True)
    x = clip(b=2, t=4, h=12, w=12)
    expected = {
        "cam": GradCAM3D(model, "2").attribute(x, 1),
        "sal": Saliency(model).attribute(x, 1),
    }
    errors: list[BaseException] = []
    results: list[tuple[str, Tensor]] = []
    start = threading.Barrier(4)

    def work(kind: str) -> None:
        attributor = GradCAM3D(model, "2") if kind == "cam" else Saliency(model)
        start.wait()
        for _ in range(10):
            try:
                results.append((kind, attributor.attribute(x, 1)))
            except BaseException as err:  # collected and reported below
                errors.append(err)

    threads = [threading.Thread(target=work, args=(k,)) for k in ("cam", "cam", "sal", "sal")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert len(results) == 40
    for kind, out in results:
        torch.testing.assert_close(out, expected[kind])
    assert all(p.requires_grad for p in model.parameters())
    for m in model.modules():
        assert not m._forward_hooks


def test_layers_are_found_through_compile_and_data_parallel_wrappers() -> None:
    model = tiny_cnn3d()
    compiled = torch.compile(model)  # lazy: nothing is compiled until it is called
    assert unwrap_model(compiled) is model
    assert resolve_layer(compiled, "2") is model[2]
    assert resolve_layer(compiled, "_orig_mod.2") is model[2]
    assert layer_name(compiled, model[2]) == "2"
    assert GradCAM3D(compiled, "2").config()["layer"] == "2"

    parallel = nn.DataParallel(model)  # on CPU it calls the module directly
    assert resolve_layer(parallel, "2") is model[2]
    assert resolve_layer(parallel, "module.2") is model[2]
    nested = nn.DataParallel(nn.DataParallel(model))
    assert resolve_layer(nested, "2") is model[2]
    x = clip(b=2, t=4, h=12, w=12)
    torch.testing.assert_close(
        GradCAM3D(parallel, "2").attribute(x, 1), GradCAM3D(model, "2").attribute(x, 1)
    )
    with pytest.raises(ValueError, match=r"layer 'layer4' is not a sub-module"):
        resolve_layer(parallel, "layer4")


def test_config_fingerprints_tell_configurations_apart() -> None:
    import json

    model = tiny_cnn3d()
    plain = SmoothGrad(Saliency(model))
    ig50 = SmoothGrad(IntegratedGradients(model, steps=50))
    assert plain.config() != ig50.config()
    assert ig50.config()["attributor"]["method"] == "integrated_gradients"
    assert ig50.config()["attributor"]["steps"] == 50
    by_module = GradCAM3D(model, model[2]).config()
    assert by_module["layer"] == "2" and by_module == GradCAM3D(model, "2").config()
    base_a = IntegratedGradients(model, baseline=torch.zeros(1, 3, 1, 1, 1)).config()
    base_b = IntegratedGradients(model, baseline=torch.full((1, 3, 1, 1, 1), 0.5)).config()
    assert base_a != base_b
    for record in (plain.config(), ig50.config(), by_module, base_a):
        assert record["version"] and record["method"]
        assert json.loads(json.dumps(record, allow_nan=False)) == record
    assert not math.isnan(plain.config()["stdev_spread"])
