"""The method registry: canonical names, aliases, building with checked options."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import tiny_cnn3d
from videoattr.methods import (
    GradCAM3D,
    IntegratedGradients,
    Saliency,
    SmoothGrad,
    build_attributor,
    method_info,
    method_names,
    register_method,
    resolve_method,
)
from videoattr.methods.registry import method_aliases

ALIASES = {
    # the reference implementation's command-line names
    "grad": "saliency",
    "grad*input": "input_x_gradient",
    "integrated_grad": "integrated_gradients",
    "smooth_grad": "smoothgrad",
    "grad_cam": "grad_cam",
    "2d_ep": "ep2d",
    "3d_ep": "ep3d",
    "step": "step",
    # the API's class names
    "Saliency": "saliency",
    "IntegratedGradients": "integrated_gradients",
    "SmoothGrad": "smoothgrad",
    "GradCAM3D": "grad_cam",
    "ExtremalPerturbation2D": "ep2d",
    "ExtremalPerturbation3D": "ep3d",
    "STEP": "step",
    # common names
    "gradcam": "grad_cam",
    "grad-cam": "grad_cam",
    "Grad-CAM": "grad_cam",
    "ig": "integrated_gradients",
    "integrated-gradients": "integrated_gradients",
    "input-x-gradient": "input_x_gradient",
    "gradient": "saliency",
    "smoothgrad": "smoothgrad",
    "ep2d": "ep2d",
}


@pytest.mark.parametrize("alias,canonical", list(ALIASES.items()))
def test_every_alias_resolves_to_its_canonical_name(alias: str, canonical: str) -> None:
    assert resolve_method(alias) == canonical
    assert method_aliases()[alias.lower().replace("-", "_")] == canonical


def test_canonical_names_in_registration_order() -> None:
    expected = (
        "saliency",
        "input_x_gradient",
        "integrated_gradients",
        "smoothgrad",
        "grad_cam",
        "grad_cam_pp",
        "xgrad_cam",
        "layer_cam",
        "score_cam",
        "occlusion",
        "temporal_occlusion",
        "rise",
        "ep2d",
        "ep3d",
        "step",
    )
    assert tuple(n for n in method_names() if n in expected) == expected
    assert method_names("cam") == ("grad_cam", "grad_cam_pp", "xgrad_cam", "layer_cam", "score_cam")
    assert method_names("black_box") == ("occlusion", "temporal_occlusion", "rise")
    assert set(method_names("perturbation")) >= {"ep2d", "ep3d", "step"}
    assert method_info("ig").kind == "gradient" and method_info("ig").summary
    # one polarity default for every gradient method, which the command line shows too
    for name in ("saliency", "input_x_gradient", "integrated_gradients"):
        assert method_info(name).defaults()["polarity"] == "signed"
    assert method_info("ig").defaults()["steps"] == 25
    assert "multiply_by_inputs" not in method_info("input_x_gradient").defaults()


def test_unknown_names_suggest_close_matches() -> None:
    with pytest.raises(ValueError, match=r"'gradcm' is not a registered method.*grad_cam"):
        resolve_method("gradcm")
    with pytest.raises(TypeError, match="method must be a name"):
        resolve_method(3)  # type: ignore[arg-type]


def test_build_attributor_checks_options() -> None:
    model = tiny_cnn3d()
    ig = build_attributor("ig", model, steps=7, max_batch_size=3)
    assert isinstance(ig, IntegratedGradients) and ig.steps == 7 and ig.max_batch_size == 3
    ixg = build_attributor("grad*input", model)
    assert type(ixg) is Saliency and ixg.multiply_by_inputs and ixg.method == "input_x_gradient"
    with pytest.raises(TypeError, match=r"does not take the option\(s\) \['stepz'\]"):
        build_attributor("ig", model, stepz=7)
    with pytest.raises(TypeError, match=r"'grad_cam' needs the option\(s\) \['layer'\]"):
        build_attributor("gradcam", model)
    with pytest.raises(TypeError, match=r"fixes the option\(s\) \['multiply_by_inputs'\]"):
        build_attributor("input_x_gradient", model, multiply_by_inputs=False)
    cam = build_attributor("Grad-CAM", model, layer="2", weights="global")
    assert isinstance(cam, GradCAM3D) and cam.weights == "global"


def test_smoothgrad_builds_over_any_gradient_method() -> None:
    model = tiny_cnn3d()
    sg = build_attributor("smooth_grad", model, attributor="ig", steps=4, n=3, polarity="positive")
    assert isinstance(sg, SmoothGrad) and isinstance(sg.inner, IntegratedGradients)
    assert sg.inner.steps == 4 and sg.inner.polarity == "positive" and sg.n == 3
    record = sg.config()
    assert record["attributor"]["method"] == "integrated_gradients"
    assert record != build_attributor("smoothgrad", model, n=3, polarity="positive").config()
    with pytest.raises(TypeError, match=r"does not take the option\(s\) \['bogus'\]"):
        build_attributor("smoothgrad", model, bogus=1)
    with pytest.raises(TypeError, match="must name a gradient method"):
        build_attributor("smoothgrad", model, attributor="grad_cam", layer="2")


def test_registration_refuses_clashes() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_method("saliency", Saliency)
    with pytest.raises(ValueError, match="'ig' is already registered for 'integrated_gradients'"):
        register_method("another", Saliency, aliases=("IG",))
    with pytest.raises(ValueError, match="lower case"):
        register_method("Not-Canonical", Saliency)
    assert "another" not in method_names()


def test_per_call_overrides_and_replace() -> None:
    model = tiny_cnn3d()
    x = torch.randn(1, 3, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    ig = IntegratedGradients(model, steps=3)
    torch.testing.assert_close(
        ig.attribute(x, 1, steps=5), IntegratedGradients(model, steps=5).attribute(x, 1)
    )
    assert ig.steps == 3  # the override was for that call only
    with pytest.raises(TypeError, match="stepz"):
        ig.attribute(x, 1, stepz=5)
    sg = SmoothGrad(Saliency(model), n=2)
    assert sg.replace(polarity="absolute").inner.polarity == "absolute"
    assert sg.inner.polarity == "signed"


def test_a_subclass_of_a_registered_method_registers_under_its_own_name() -> None:
    from videoattr.methods import unregister_method

    class Sharper(Saliency):
        """Saliency registered under a name of its own (its base already has one)."""

    register_method("throwaway_sharper", Sharper, summary="test")
    try:
        model = tiny_cnn3d()
        built = build_attributor("throwaway_sharper", model)
        assert type(built) is Sharper
        assert built.method == "throwaway_sharper"
        assert built.config()["method"] == "throwaway_sharper"
        x = torch.randn(1, 3, 8, 24, 24)
        assert built.explain(x, 0).method == "throwaway_sharper"
        assert Saliency(model).method == "saliency"  # the base keeps its own name
        assert Saliency(model, multiply_by_inputs=True).method == "input_x_gradient"
    finally:
        unregister_method("throwaway_sharper")
