"""Cross-cutting checks generated from one list of every attribution method."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

from tests.helpers import clip, tiny_cnn3d
from videoattr import (
    STEP,
    Attributor,
    ExtremalPerturbation2D,
    ExtremalPerturbation3D,
    GradCAM3D,
    IntegratedGradients,
    Saliency,
    SmoothGrad,
)

FAST_EP = {"max_iter": 3, "progress": False}

METHODS: dict[str, Callable[[nn.Module], Attributor]] = {
    "saliency": lambda m: Saliency(m),
    "grad_x_input": lambda m: Saliency(m, multiply_by_inputs=True, polarity="positive"),
    "integrated_gradients": lambda m: IntegratedGradients(m, steps=3, max_batch_size=4),
    "smoothgrad": lambda m: SmoothGrad(Saliency(m), n=3, variant="square"),
    "grad_cam": lambda m: GradCAM3D(m, "2"),
    "ep2d": lambda m: ExtremalPerturbation2D(m, **FAST_EP),
    "ep3d": lambda m: ExtremalPerturbation3D(m, **FAST_EP),
    "step": lambda m: STEP(m, **FAST_EP),
}
PERTURBATION = {"ep2d", "ep3d", "step"}
B, T, H, W = 2, 8, 24, 24


def run(name: str, model: nn.Module, x: Tensor, target: object) -> Tensor:
    attributor = METHODS[name](model)
    if name in PERTURBATION:
        return attributor.attribute(x, target, areas=0.1)  # type: ignore[arg-type, call-arg]
    return attributor.attribute(x, target)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def model() -> nn.Module:
    return tiny_cnn3d()


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
    index = top.clone()

    def score(logits: Tensor) -> Tensor:
        rows = torch.arange(logits.shape[0]) % B  # rows are clips, steps or copies in clip order
        if logits.shape[0] % B == 0 and name not in {"integrated_gradients", "smoothgrad"}:
            return logits.gather(1, index[rows].unsqueeze(1)).squeeze(1)
        return logits[:, 0]

    out = run(name, model, x, score)
    assert out.shape == (B, 1, T, H, W) and torch.isfinite(out).all()
    same_class = run(name, model, x, 3)
    assert same_class.shape == reference.shape


@pytest.mark.parametrize("name", list(METHODS))
def test_model_state_is_restored_after_success_and_failure(name: str, x: Tensor) -> None:
    model = tiny_cnn3d()
    model.train()
    model[0].eval()
    model[2].weight.requires_grad_(False)
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

    handle = model[4].register_forward_hook(explode)
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
            self.net = tiny_cnn3d()

        def forward(self, inp: Tensor) -> tuple[Tensor, Tensor]:
            out = self.net(inp)
            return out, out

    if name != "grad_cam":
        with pytest.raises(TypeError, match=r"must return a \(B, K\) tensor"):
            run(name, Tupled(), x, 0)


@pytest.mark.parametrize("name", [n for n in METHODS if n != "grad_cam"])
def test_non_differentiable_model_is_reported(name: str, x: Tensor) -> None:
    class Detached(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = tiny_cnn3d()

        def forward(self, inp: Tensor) -> Tensor:
            out: Tensor = self.net(inp.detach())
            return out

    with pytest.raises(RuntimeError, match="differentiabl"):
        run(name, Detached(), x, 0)


def test_refuses_inference_mode(model: nn.Module, x: Tensor) -> None:
    with torch.inference_mode(), pytest.raises(RuntimeError, match="inference_mode"):
        Saliency(model).attribute(x, 0)


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
@pytest.mark.parametrize("name", list(METHODS))
def test_cuda_matches_cpu(name: str, model: nn.Module, x: Tensor) -> None:
    reference = run(name, model, x, [1, 2])
    gpu_model = tiny_cnn3d().cuda()
    out = run(name, gpu_model, x.cuda(), [1, 2])
    assert out.device.type == "cuda" and out.shape == reference.shape
    corr = torch.corrcoef(torch.stack([out.cpu().flatten(), reference.flatten()]))[0, 1]
    assert float(corr) > 0.99 or torch.allclose(out.cpu(), reference, atol=1e-4)
