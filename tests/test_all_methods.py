"""Cross-cutting checks generated from one list of every attribution method."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor, nn

from tests.helpers import TinyAttentionTransformer, clip, tiny_cnn3d
from videoattr import Attributor, Saliency
from videoattr.core.base import Explanation
from videoattr.methods import (
    build_attributor,
    method_info,
    method_names,
    register_method,
    resolve_method,
    unregister_method,
)

FAST_EP = {"max_iter": 3, "progress": False}

#: Options that make each method quick on the tiny model. A registered method without an entry runs with
#: its defaults, so a new method is covered by every test below as soon as it is registered.
FAST: dict[str, dict[str, Any]] = {
    "input_x_gradient": {"polarity": "positive"},
    "integrated_gradients": {"steps": 3, "max_batch_size": 4},
    "smoothgrad": {"n": 3, "variant": "square"},
    "grad_cam": {"layer": "2"},
    "occlusion": {"window": (4, 12, 12), "progress": False},
    "temporal_occlusion": {"span": 2, "stride": 2, "progress": False},
    "rise": {"n": 8, "grid": (2, 3, 3), "progress": False},
    "grad_cam_pp": {"layer": "2"},
    "xgrad_cam": {"layer": "2"},
    "layer_cam": {"layer": "2"},
    "score_cam": {"layer": "2", "max_batch_size": 16},
    "ep2d": FAST_EP,
    "ep3d": FAST_EP,
    "step": FAST_EP,
}
METHODS: tuple[str, ...] = method_names()
PERTURBATION = set(method_names("perturbation"))
#: Layer methods: they hook layer "2" of the tiny model (absent from wrapped models) and read its output.
CAM = set(method_names("cam"))
#: Methods that read a transformer's attention: they run on a tiny transformer instead of the 3-D CNN.
ATTENTION = set(method_names("attention"))
B, T, H, W = 2, 8, 24, 24


def model_for(name: str) -> nn.Module:
    """The tiny model a method runs on: a two-block transformer for attention methods, else the 3-D CNN."""
    return TinyAttentionTransformer() if name in ATTENTION else tiny_cnn3d()


def head_of(model: nn.Module) -> nn.Module:
    """The module that outputs the logits."""
    return model.head if isinstance(model, TinyAttentionTransformer) else model[6]


def inner_of(model: nn.Module) -> nn.Module:
    """A module in the middle of the forward (the pooling of the CNN, the last norm of the transformer)."""
    return model.norm if isinstance(model, TinyAttentionTransformer) else model[4]


def wrapped_layout(net: nn.Module) -> Any:
    """The attention layout of ``net`` as seen from a wrapper that stores it as ``net``."""
    import dataclasses

    layout = getattr(net, "attention_layout", None)
    if layout is None:
        return None
    taps = tuple(dataclasses.replace(t, module=f"net.{t.module}") for t in layout.taps)
    return dataclasses.replace(layout, taps=taps)


def class_specific(name: str) -> bool:
    """Whether the method's maps depend on the target (attention rollout's do not)."""
    return bool(getattr(method_info(name).factory, "class_specific", True))


def build(name: str, model: nn.Module) -> Attributor:
    return build_attributor(name, model, **FAST.get(name, {}))


def run(name: str, model: nn.Module, x: Tensor, target: object) -> Tensor:
    attributor = build(name, model)
    if name in PERTURBATION:
        out: Tensor = attributor.attribute(x, target, areas=0.1)
        return out
    result: Tensor = attributor.attribute(x, target)
    return result


def test_the_list_is_the_registry() -> None:
    expected = {
        "saliency",
        "input_x_gradient",
        "integrated_gradients",
        "smoothgrad",
        "grad_cam",
        "ep2d",
        "ep3d",
        "step",
    }
    assert expected <= set(METHODS)
    assert set(FAST) <= set(METHODS)
    for name in METHODS:
        assert resolve_method(name) == name
        assert build(name, model_for(name)).method == name


def test_a_registered_method_appears_everywhere() -> None:
    class Doubled(Saliency):
        """Saliency times two (a throw-away method)."""

        method_name = "throwaway_doubled"

        def attribute(self, x: Tensor, target: object = None, **overrides: Any) -> Tensor:
            return 2 * super().attribute(x, target, **overrides)  # type: ignore[arg-type]

    register_method("throwaway_doubled", Doubled, aliases=("Throwaway-Doubled",), summary="test")
    try:
        assert method_names()[-1] == "throwaway_doubled"
        assert resolve_method("THROWAWAY_DOUBLED") == "throwaway_doubled"
        assert method_info("throwaway-doubled").kind == "gradient"
        model, x = tiny_cnn3d(), clip(b=B, t=T, h=H, w=W)
        out = run("throwaway_doubled", model, x, 1)
        torch.testing.assert_close(out, 2 * Saliency(model).attribute(x, 1))
        assert build("throwaway_doubled", model).config()["method"] == "throwaway_doubled"
    finally:
        unregister_method("throwaway_doubled")
    assert "throwaway_doubled" not in method_names()
    with pytest.raises(ValueError, match="not a registered method"):
        resolve_method("throwaway_doubled")


@pytest.fixture
def model(name: str) -> nn.Module:
    return model_for(name)


@pytest.fixture(scope="module")
def x() -> Tensor:
    return clip(b=B, t=T, h=H, w=W)


@pytest.mark.parametrize("name", list(METHODS))
def test_shape_device_and_no_graph(name: str, model: nn.Module, x: Tensor) -> None:
    out = run(name, model, x, 1)
    assert out.shape == (B, 1, T, H, W)
    assert out.device == x.device and out.dtype == x.dtype
    assert not out.requires_grad and out.grad_fn is None
    assert torch.isfinite(out).all()
    if name in PERTURBATION:
        assert float(out.min()) >= 0 and float(out.max()) <= 1


@pytest.mark.parametrize("name", list(METHODS))
def test_every_target_form_gives_the_same_answer(name: str, model: nn.Module, x: Tensor) -> None:
    with torch.no_grad():
        top = model(x).argmax(1)
    reference = run(name, model, x, top.tolist())
    forms: list[object] = [None, top, torch.tensor(top.tolist()), tuple(top.tolist())]
    for form in forms:
        torch.testing.assert_close(run(name, model, x, form), reference, msg=f"target={form!r}")
    same_class = run(name, model, x, 3)
    assert same_class.shape == reference.shape
    if class_specific(name):
        assert not torch.allclose(same_class, reference)  # class 3 is not every clip's top class
    else:
        torch.testing.assert_close(same_class, reference)

    # a callable target scores every row the method evaluates (clips, IG steps, noisy copies, masks):
    # selecting class 3's score must give exactly what target=3 gives
    if name in PERTURBATION:  # perturbation methods treat a callable's output as a log-score

        def score(logits: Tensor) -> Tensor:
            return torch.log_softmax(logits, dim=1)[:, 3]
    else:

        def score(logits: Tensor) -> Tensor:
            return logits[:, 3]

    torch.testing.assert_close(run(name, model, x, score), same_class, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", list(METHODS))
def test_explain_and_config(name: str, model: nn.Module, x: Tensor) -> None:
    import json

    attributor = build(name, model)
    record = attributor.config()
    assert record["method"] == name and record["version"]
    assert json.loads(json.dumps(record, allow_nan=False)) == record
    kwargs = {"areas": 0.1} if name in PERTURBATION else {}
    result = attributor.explain(x, [1, 2], **kwargs)
    assert isinstance(result, Explanation)  # every method, the extremal ones included
    with torch.no_grad():
        probs = model(x).softmax(1)
    torch.testing.assert_close(result.maps, run(name, model, x, [1, 2]))
    assert result.target is not None and result.target.tolist() == [1, 2]
    torch.testing.assert_close(result.probabilities, probs)
    torch.testing.assert_close(result.target_probability, probs[[0, 1], [1, 2]])
    assert result.prediction.tolist() == probs.argmax(1).tolist()
    assert result.method == name and result.config == record
    assert "tensor(" not in repr(result) and len(repr(result)) < 400


#: One option per method whose per-call value changes the maps. A method without an entry overrides
#: ``max_batch_size`` (every method has it), so a new method is covered as soon as it is registered.
PER_CALL: dict[str, tuple[str, object]] = {
    "saliency": ("polarity", "positive"),
    "input_x_gradient": ("polarity", "absolute"),
    "integrated_gradients": ("steps", 5),
    "smoothgrad": ("stdev_spread", 0.3),
    "grad_cam": ("normalize", True),
    "grad_cam_pp": ("normalize", True),
    "xgrad_cam": ("normalize", True),
    "layer_cam": ("normalize", True),
    "score_cam": ("normalize", True),
    "occlusion": ("window", (2, 6, 6)),
    "temporal_occlusion": ("span", 4),
    "rise": ("n", 6),
    "ep2d": ("lr", 0.1),
    "ep3d": ("lr", 0.1),
    "step": ("lr", 0.1),
    "attention_rollout": ("discard_ratio", 0.5),
    "attention_relevance": ("normalize", True),
}


@pytest.mark.parametrize("name", list(METHODS))
def test_any_option_can_be_given_per_call(name: str, model: nn.Module, x: Tensor) -> None:
    """One rule for every method: a constructor option given to attribute/explain, for that call only."""
    option, value = PER_CALL.get(name, ("max_batch_size", 1))
    attributor = build(name, model)
    record = attributor.config()
    per_call = attributor.attribute(x, [1, 2], **{option: value})
    built = build_attributor(name, model, **{**FAST.get(name, {}), option: value})
    torch.testing.assert_close(per_call, built.attribute(x, [1, 2]), rtol=0, atol=0)
    assert attributor.config() == record  # the attributor is unchanged ...
    again = attributor.attribute(x, [1, 2])  # ... and the next call uses the constructor's options
    torch.testing.assert_close(again, run(name, model, x, [1, 2]), rtol=0, atol=0)
    if name in PER_CALL:
        change = float((per_call - again).abs().max() / again.abs().max().clamp_min(1e-30))
        assert change > 1e-3, f"{option}={value!r} changed nothing"
    explained = attributor.explain(x, [1, 2], **{option: value})
    torch.testing.assert_close(explained.maps, per_call, rtol=0, atol=0)
    assert explained.config == built.config()  # the record holds what the call ran with
    with pytest.raises(TypeError, match=r"has no option 'no_such_option'; its options are \["):
        attributor.attribute(x, [1, 2], no_such_option=1)
    with pytest.raises(TypeError, match="has no option 'no_such_option'"):
        attributor.explain(x, [1, 2], no_such_option=1)


@pytest.mark.parametrize("name", list(METHODS))
def test_non_finite_logits_and_odd_clips_are_named(name: str, x: Tensor) -> None:
    def nan_for_second_row(_m: nn.Module, _i: object, out: Tensor) -> Tensor:
        mask = torch.zeros_like(out, dtype=torch.bool)
        mask[1:2] = True  # row 1: for clean clips, IG steps and noisy copies alike, clip 1
        return out.masked_fill(mask, float("nan"))

    broken = model_for(name)
    head_of(broken).register_forward_hook(nan_for_second_row)
    with pytest.raises(ValueError, match=r"non-finite logits \(NaN or inf\) for clip 1"):
        run(name, broken, x, None)
    with pytest.raises(ValueError, match="meta"):
        run(name, model_for(name), torch.empty(1, 3, T, H, W, device="meta"), 0)
    with pytest.raises(TypeError, match="float16"):
        run(name, model_for(name), x.half(), 0)


@pytest.mark.parametrize("name", list(METHODS))
def test_model_state_is_restored_after_success_and_failure(name: str, x: Tensor) -> None:
    model = model_for(name)
    model.train()
    next(iter(model.children())).eval()
    list(model.parameters())[2].requires_grad_(False)
    before_training = [m.training for m in model.modules()]
    before_grad = [p.requires_grad for p in model.parameters()]
    run(name, model, x, 0)

    def check() -> None:
        assert [m.training for m in model.modules()] == before_training
        assert [p.requires_grad for p in model.parameters()] == before_grad
        for m in model.modules():
            assert not m._forward_hooks and not m._backward_hooks and not m._forward_pre_hooks

    check()

    class Boom(RuntimeError):
        pass

    def explode(_m: nn.Module, _i: object, _o: object) -> None:
        raise Boom("forward failed")

    handle = inner_of(model).register_forward_hook(explode)
    with pytest.raises(Boom):
        run(name, model, x, 0)
    handle.remove()
    check()


@pytest.mark.parametrize("name", list(METHODS))
def test_deterministic_and_batch_independent(name: str, model: nn.Module, x: Tensor) -> None:
    both = run(name, model, x, [1, 2])
    again = run(name, model, x, [1, 2])
    torch.testing.assert_close(both, again)
    alone = run(name, model, x[1:], [2])
    torch.testing.assert_close(both[1:], alone, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", list(METHODS))
def test_bad_inputs_raise_clear_errors(name: str, model: nn.Module, x: Tensor) -> None:
    with pytest.raises(ValueError, match=r"x must have 5 dimensions .* got 4"):
        run(name, model, x[0], 0)
    bad = x.clone()
    bad[0, 0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        run(name, model, bad, 0)
    with pytest.raises(TypeError, match="floating-point"):
        run(name, model, (x * 10).to(torch.uint8), 0)
    with pytest.raises(ValueError, match=r"class indices in \[0, 4\]"):
        run(name, model, x, 5)
    with pytest.raises(ValueError, match="length 2"):
        run(name, model, x, [0, 1, 2])

    class Tupled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = model_for(name)
            self.attention_layout = wrapped_layout(self.net)

        def forward(self, inp: Tensor) -> tuple[Tensor, Tensor]:
            out = self.net(inp)
            return out, out

    if name not in CAM:
        with pytest.raises(TypeError, match=r"must return a \(B, K\) tensor"):
            run(name, Tupled(), x, 0)


@pytest.mark.parametrize(  # forward-only methods (and attention rollout) need no gradient
    "name",
    [
        n
        for n in METHODS
        if n not in CAM and method_info(n).kind != "black_box" and class_specific(n)
    ],
)
def test_non_differentiable_model_is_reported(name: str, x: Tensor) -> None:
    class Detached(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = model_for(name)
            self.attention_layout = wrapped_layout(self.net)

        def forward(self, inp: Tensor) -> Tensor:
            out: Tensor = self.net(inp.detach())
            return out

    with pytest.raises(RuntimeError, match="differentiabl"):
        run(name, Detached(), x, 0)


def test_refuses_inference_mode(x: Tensor) -> None:
    with torch.inference_mode(), pytest.raises(RuntimeError, match="inference_mode"):
        Saliency(tiny_cnn3d()).attribute(x, 0)


@pytest.mark.parametrize("name", list(METHODS))
def test_runs_under_autocast(name: str, model: nn.Module, x: Tensor) -> None:
    reference = run(name, model, x, [1, 2])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = run(name, model, x, [1, 2])
    assert out.shape == reference.shape and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    corr = torch.corrcoef(torch.stack([out.flatten(), reference.flatten()]))[0, 1]
    assert float(corr) > 0.9 or torch.allclose(out, reference, atol=1e-2)


@pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device (run on a GPU machine)"
)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", list(METHODS))
def test_runs_under_cuda_autocast(name: str, dtype: torch.dtype, x: Tensor) -> None:
    gpu_model = model_for(name).cuda()
    reference = run(name, gpu_model, x.cuda(), [1, 2])
    with torch.autocast("cuda", dtype=dtype):
        out = run(name, gpu_model, x.cuda(), [1, 2])
    assert out.device.type == "cuda" and out.shape == reference.shape
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    corr = torch.corrcoef(torch.stack([out.flatten(), reference.flatten()]))[0, 1]
    assert float(corr) > 0.9 or torch.allclose(out, reference, atol=1e-2)


@pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device (run on a GPU machine)"
)
@pytest.mark.parametrize("name", list(METHODS))
def test_cuda_matches_cpu(name: str, model: nn.Module, x: Tensor) -> None:
    reference = run(name, model, x, [1, 2])
    gpu_model = model_for(name).cuda()
    out = run(name, gpu_model, x.cuda(), [1, 2])
    assert out.device.type == "cuda" and out.shape == reference.shape
    corr = torch.corrcoef(torch.stack([out.cpu().flatten(), reference.flatten()]))[0, 1]
    assert float(corr) > 0.99 or torch.allclose(out.cpu(), reference, atol=1e-4)
